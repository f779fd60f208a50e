"""Do process rewards make an LLM policy learn faster? GRPO on prm/Math-v0, outcome vs dense.

**Base policy.** A GPT-2-architecture causal LM (4 layers x 160, 1.34M parameters; ``--n-layer``,
``--n-embd``) and its own BPE tokenizer (:func:`prm_gym.llm.tiny.tiny_causal_lm`, trained on the
benchmark's own text), trained from scratch by supervised learning on noisy scripted solutions
(:func:`prm_gym.envs.math.experts.noisy_solutions`) in exactly the chat format the
:class:`~prm_gym.agents.LLMAgent` renders during RL (one assistant message per env step, ending at a
newline; the env's fixed instruction paragraph is dropped from the prompt by :class:`ProblemOnly`,
reward wrappers still see it). It is cached under ``--out`` (``base_policy_*``, keyed by its
settings) and every variant and seed starts from the same weights. ``--regime`` picks the problems
and the noise (:data:`REGIMES`):

* ``procedure`` (default): two-step word problems (``families=("arithmetic",)``, level 1: "Jun has
  12 pencils. Then Jun gets 7 more pencils. Then Jun gives 3 pencils away. ...") whose solutions
  do a ``+`` as ``-`` with probability 0.25 and a ``-`` as ``+`` with probability 0.6, computed
  right and carried on to a wrong answer (``NoiseLevel(0, 0, 0.25, 0.6)``). The arithmetic in
  the data is all right; the mistakes are procedural, a behaviour RL can change. The base policy
  solves 13% of the held-out problems greedily (it takes the wrong operation on every "gives
  away" step), 15% per sample, 41% pass@4.
* ``chain``: the ``procedure`` problems' small numbers and mistakes in four-operation problems
  (``MathConfig(arithmetic_ops=4)``, level 1, ``+`` and ``-`` only), episodes of at most 6 steps:
  an answer is right only when all four operations are, so the outcome is sparse (the base
  policy: greedy 0.008, sampled 0.037, pass@4 0.141; 30 of its first 32 greedy failures start
  with a wrong operation, 2 with a wrong sum). Measured (outcome and progress, 5 seeds x 60
  updates, 2026-12-03): progress reaches outcome-only's final sampled accuracy (0.073) at update
  30 (ratio 0.50, the target) and its final greedy (0.327) at update 10 (0.17); it ends at 0.149
  +- 0.005 sampled, 0.658 greedy, with no rise in the hacking signal (5.01 steps, idle 0.001).
  The raw RuleVerifier sum (3 seeds) is no faster than outcome-only (0.079 sampled, ratio 1.00):
  a wrong-operation step is arithmetically right, so the sum pays the mistake.
* ``long``: the same mistakes in three-operation problems (level 2, with ``*`` and ``/`` steps
  that are never flipped), episodes of at most 6 steps: a regime where the outcome is sparser.
  Measured (outcome and progress, 2 seeds x 100 updates, 2026-12-03): neither learns (sampled
  0.084 -> 0.085 and 0.076), because 8 of the base policy's 11 greedy failures on 16 problems
  start with an arithmetic fact ("37 + 13 = 45"), as in ``slips``; see the README.
* ``slips``: the first design, linear and fraction problems with arithmetic slips and wrong
  answers (``NoiseLevel(0.2, 0.2)``); its base policy's failures are arithmetic facts, which no
  variant fixed (see the README).

**RL.** :class:`prm_gym.agents.PGTrainer` with GRPO group-normalised advantages (PRIME for the PRIME
variant), ``K`` samples per prompt, multi-step episodes (one step per generation, at most
:data:`MAX_STEPS`), the same updates, prompts, sampling settings, learning rate and ``process_coef``
for every variant. Variants:

* ``outcome``      the env's outcome only;
* ``raw_sum``      + the raw per-step RuleVerifier sum (``ProcessReward(env, RuleVerifier())``);
* ``progress``     + ``prm_gym.make_dense`` (progress form: each step earns the rise of the
                   share of gold values established by correct steps);
* ``gated``        + the raw sum under G-RA gating (``PGConfig(gate=True)``: process rewards
                   count only in trajectories whose outcome is right; "Stabilizing Long-term
                   Multi-turn Reinforcement Learning with Gated Rewards", 2025);
* ``pav``          + PAV progress under a prover policy (:class:`ProverProgress`: ``V(s_{h+1})
                   - V(s_h)``, ``V`` the success share of 4 rollouts of the frozen base policy
                   from each prefix; "Rewarding Progress", Setlur et al., 2024);
* ``pav_bo4``      + PAV progress under the Best-of-4 policy of the frozen base policy (the
                   paper's complementary prover; value ``1 - (1 - V)**4``, estimated from the
                   same 4 rollouts as the share of their 4-subsets that hold a win);
* ``pure``         + RuleVerifier under PURE min-form credit (``PGConfig(credit="min_form")``;
                   "Stop Summation: Min-Form Credit Assignment Is All Process Reward Model
                   Needs for Reasoning", 2025);
* ``prime``        + an implicit PRM ("Free Process Rewards without Process Labels", 2024;
                   "Process Reinforcement through Implicit Rewards", 2025 -- PRIME) initialised
                   from the base policy, read against the frozen base policy and trained online
                   on each update's rollouts from their outcomes only (``advantage="prime"``);
* ``trained_prm``  + a PRM trained with ``train_prm(..., format="step_features")`` (the cheap
                   numpy MLP over parsed arithmetic features, fitted on noisy-solver step labels)
                   used as the step scorer, centred as ``2 P(correct) - 1``.

**Measured.** Held-out accuracy (greedy, and pass@K over ``K`` samples at temperature 1) on
problems disjoint from the SFT data, against updates and against generated training tokens,
mean and min/max over seeds; mean steps per episode and the share of idle steps (an exact repeat
of an earlier step, or a step the rule checker finds correct but idle: repeated results,
identities, arithmetic on constants alone), the hacking signal, on the sampled held-out
episodes; wall time per update split into generation, env + reward (the scorers included) and
optimisation (the implicit PRM's own training included).

Writes ``llm_learning.md`` (the table), ``llm_learning.png`` (accuracy vs updates and vs tokens,
bands over seeds) and ``llm_learning.json`` (every curve) to ``--out``.

Measured with the defaults (``--regime procedure``, 1.34M parameters, 100 updates, 3 seeds; 6
for outcome and progress; 2026-12-03; the README has the table and figure): every variant learns.
Greedy accuracy jumps from 0.13 to about 0.6 in 20-30 updates, and sampled accuracy climbs
steadily (outcome-only 0.148 -> 0.340 +- 0.022). Progress reaches outcome-only's final greedy
accuracy at update 20 (ratio 0.20), but greedy plateaus for every variant by update 40, so that
ratio is weak evidence. On sampled accuracy progress leads from update 20 on and reaches
outcome-only's final at update 70 (ratio 0.70, about 1.4x faster; 0.385 +- 0.022 at 100). The
raw sum (0.380), gated raw sum (0.390), PURE (0.360), PAV with the base policy as prover (0.353)
and PAV under its Best-of-4 (0.347 +- 0.056) also end at or above outcome-only. No variant shows
a hacking signal (3.00-3.01 steps per episode, no idle steps).

With ``--regime chain`` (four operations, so the outcome is sparse: 77% of outcome-only's groups
hold four equal outcomes; 60 updates; 2026-12-03/04, README), progress reaches outcome-only's
final greedy accuracy at update 10 (ratio 0.17, two runs) and its final sampled accuracy at update
30 or 40 (ratio 0.50 over 5 seeds, 0.67 over 3: the same trained weights under other evaluation
draws, so at the bound within the sampled evaluation's noise), and ends about twice as high
(sampled 0.15 vs 0.08). The raw sum, PURE, PRIME and PAV are no faster than outcome-only there
(the RuleVerifier pays a wrong operation done right; PRIME's implicit PRM learns from the same
sparse outcomes; the base-policy prover almost never wins, so PAV's values are almost all 0);
gating and the trained PRM end above it on sampled accuracy but reach its final no sooner.
A third run (2026-12-04) built another base policy from the same settings (greedy 0.023,
sampled 0.062; library versions differ): over 5 seeds progress reached outcome-only's final
greedy accuracy at update 20 (ratio 0.33) and its final sampled accuracy at update 30 (ratio
0.50, by a margin of 0.001) and ended at 0.338 sampled against 0.148. On one H200
(``--device cuda --gen-batch 1024 --eval-tasks 512 --jobs 21``, every variant but PAV, 3 seeds,
517 s in all) progress reached outcome-only's final sampled accuracy at update 30 with a margin
(0.167 against 0.152; ratio 0.50) and its final greedy accuracy at 20 (0.33), and ended at 0.369
against 0.152; the raw sum, gating and PURE reached it at 50 (0.83), the trained PRM at 60,
PRIME never. A fourth CPU run (the issue's six variants and gating, 3 seeds, after step packing;
77 min on 2 cores with the base policy's SFT) gave progress ratios 0.33 greedy and 0.67 sampled
(0.142 at update 30 against 0.148) and a final 0.312 against 0.148.

The first design (``--regime slips``, 0.4M parameters, 30 updates) measured no learning: every
variant, outcome-only included, lost held-out greedy accuracy (0.48 -> 0.35), and the summed
scorers lengthened episodes in some seeds, which then collapsed. The cause was the base policy's
errors: arithmetic facts ("x = 25 - 21 = 3"). A fixed pool of 32 training problems was only
memorised (pool greedy up, held-out down), and a 1.34M-parameter policy behaved the same.
The trainer's mechanics check out: sampling and training log-probs agree to 2e-6, and there is
no entropy collapse.

Usage::

    PYTHONPATH=. python benchmarks/llm_learning.py --quick            # smoke, <= 5 min, 2 cores
    PYTHONPATH=. python benchmarks/llm_learning.py --regime chain --updates 60 --jobs 2 \\
        --variants outcome raw_sum gated progress pure prime trained_prm  # full table, 77 min
    PYTHONPATH=. python benchmarks/llm_learning.py --jobs 2           # every variant (hours)
    PYTHONPATH=. python benchmarks/llm_learning.py --from-json a/llm_learning.json \\
        b/llm_learning.json --out merged                              # one table from two runs
    PYTHONPATH=. python benchmarks/llm_learning.py --variants outcome --updates 1 --seeds 1 \\
        --sft-steps 20 --eval-tasks 4                                 # one variant, seconds
    PYTHONPATH=. python benchmarks/llm_learning.py --regime chain --updates 60 --device cuda \\
        --gen-batch 1024 --eval-tasks 512 --jobs 21 --variants outcome raw_sum gated \\
        progress pure prime trained_prm                               # on a GPU, 9 min (README)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import functools
import json
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import prm_gym
from prm_gym.core.task import Task
from prm_gym.envs.math.experts import NoiseLevel, noisy_solutions
from prm_gym.envs.math.generator import MathConfig, generate

MAX_STEPS = 4
VARIANTS = (
    "outcome",
    "raw_sum",
    "gated",
    "progress",
    "pav",
    "pav_bo4",
    "pure",
    "prime",
    "trained_prm",
)
#: ``--regime``: the problems and the SFT solver's noise (:class:`NoiseLevel` fields ``p, q,
#: flip_add, flip_sub``). ``procedure``: two-step word problems whose base-policy errors are
#: procedural (``+``/``-`` chosen wrong, carried on to the answer): behaviours RL can change.
#: ``slips``: the first design, whose errors turned out to be arithmetic facts.
#: ``long``: the same mistakes in three-operation problems (level 2, ``*`` and ``/`` too), so one
#: wrong step among several decides the outcome; episodes of at most 6 steps. Its base policy
#: (1.37M parameters) mostly fails on arithmetic facts again, and nothing learned there.
REGIMES: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[float, ...]]] = {
    "procedure": (("arithmetic",), (1,), (0.0, 0.0, 0.25, 0.6)),
    "long": (("arithmetic",), (2,), (0.0, 0.0, 0.25, 0.6)),
    "slips": (("linear", "fraction"), (1,), (0.2, 0.2)),
    "chain": (("arithmetic",), (1,), (0.0, 0.0, 0.25, 0.6)),
}
#: Episode step limit per regime (default :data:`MAX_STEPS`).
REGIME_MAX_STEPS = {"long": 6, "chain": 6}
#: Operations per word problem per regime (``MathConfig.arithmetic_ops``; default level + 1).
#: ``chain``: the ``procedure`` problems' small numbers and mistakes, four operations instead of
#: two, so that an outcome is right only when every one of four steps is: a sparser outcome.
REGIME_OPS = {"chain": 4}
#: Held-out task seeds start here (the SFT solutions use seeds 0 .. sft_solutions - 1).
EVAL_SEED = 10_000_000
#: Task seeds of the trained PRM's labelled solutions.
PRM_SEED = 20_000_000
#: Task seeds of the fixed training pool (``--train-tasks``).
POOL_SEED = 30_000_000


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on (the same for every variant)."""

    sft_solutions: int = 6000
    sft_steps: int = 2000
    sft_lr: float = 3e-3
    sft_batch: int = 32
    n_layer: int = 4
    n_embd: int = 160
    n_head: int = 4
    vocab_size: int = 600
    updates: int = 100
    prompts: int = 8
    group_size: int = 4
    lr: float = 1e-4
    beta: float = 0.02
    process_coef: float = 0.5
    max_new_tokens: int = 40
    eval_every: int = 10
    eval_tasks: int = 128
    prm_solutions: int = 1500
    #: 0: every update draws fresh procedural problems; N > 0: updates draw from a fixed pool
    #: of N problems (disjoint from SFT and held-out), and accuracy on the pool is measured too.
    train_tasks: int = 0
    #: A key of :data:`REGIMES`: the problems and the SFT data's noise.
    regime: str = "procedure"
    #: Step sequences per forward/backward pass of the PG update (length-sorted micro-batches:
    #: the same gradient as one batch, with less padding and memory).
    micro_batch: int = 32
    #: Rows per ``generate`` call (the backend's ``max_batch_size``): smaller batches pad less
    #: and keep the KV cache in CPU cache.
    gen_batch: int = 64

    @property
    def families(self) -> tuple[str, ...]:
        return REGIMES[self.regime][0]

    @property
    def levels(self) -> tuple[int, ...]:
        return REGIMES[self.regime][1]

    @property
    def noise(self) -> tuple[float, ...]:
        return REGIMES[self.regime][2]

    @property
    def max_steps(self) -> int:
        return REGIME_MAX_STEPS.get(self.regime, MAX_STEPS)

    @property
    def arithmetic_ops(self) -> int | None:
        return REGIME_OPS.get(self.regime)

    def base_key(self) -> str:
        regime = "" if self.regime == "slips" else f"_{self.regime}"
        return (
            f"base_policy_L{self.n_layer}x{self.n_embd}_v{self.vocab_size}"
            f"_n{self.sft_solutions}_s{self.sft_steps}_b{self.sft_batch}{regime}"
        )


QUICK = Settings(
    sft_solutions=600,
    sft_steps=60,
    n_layer=2,
    n_embd=64,
    n_head=2,
    vocab_size=400,
    updates=2,
    prompts=2,
    group_size=2,
    eval_every=1,
    eval_tasks=4,
    max_new_tokens=24,
    prm_solutions=100,
)


#: The MLP activation the benchmark's GPT-2 policies run with: PyTorch's fused tanh-approximate
#: GELU, the same function as GPT-2's ``gelu_new`` (log-probs agree to ~1e-5) at a fraction of
#: its CPU time. Also applied when loading a base policy cached with ``gelu_new``.
ACTIVATION = "gelu_pytorch_tanh"


def load_policy(path: str | Path, s: Settings, device: str | None = None) -> Any:
    """A :class:`~prm_gym.llm.TransformersBackend` on the (cached) policy at ``path``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prm_gym.llm import TransformersBackend

    model = AutoModelForCausalLM.from_pretrained(path, activation_function=ACTIVATION).float()
    tok = AutoTokenizer.from_pretrained(path)
    return TransformersBackend(model, tok, device=device, max_batch_size=s.gen_batch)


def _env_kwargs(s: Settings) -> dict[str, Any]:
    return {
        "families": s.families,
        "levels": s.levels,
        "arithmetic_ops": s.arithmetic_ops,
        "max_steps": s.max_steps,
    }


_INSTRUCTIONS = "\n\nSolve the problem step by step"


class ProblemOnly(gym.ObservationWrapper[Any, Any, Any]):
    """Shows the policy the problem without the env's fixed instruction paragraph.

    The instructions are the same in every episode, so a model trained from scratch learns
    nothing from them; dropping them halves the prompt and the CPU time per token. Reward
    wrappers inside still see the full observation.
    """

    def observation(self, observation: Any) -> Any:
        return str(observation).split(_INSTRUCTIONS, 1)[0]


def math_env(inner: Callable[[], gym.Env[Any, Any]]) -> gym.Env[Any, Any]:
    """The benchmark's env: ``inner()`` shown through :class:`ProblemOnly`."""
    return ProblemOnly(inner())


def task_env(task: Task, max_steps: int) -> gym.Env[Any, Any]:
    """The benchmark's env on the one problem ``task``, episodes of at most ``max_steps``."""
    return math_env(lambda: gym.make("prm/Math-v0", tasks=[task], max_steps=max_steps))


# ---------------------------------------------------------------------------------------------
# base policy (supervised, cached)
# ---------------------------------------------------------------------------------------------
def _sft_examples(s: Settings) -> list[tuple[list[dict[str, str]], str]]:
    """``(chat history before the step, step)`` pairs of ``s.sft_solutions`` noisy scripted
    solutions, with the env's own observations, as :class:`~prm_gym.agents.LLMAgent` will
    render them."""
    env = math_env(lambda: gym.make("prm/Math-v0", **_env_kwargs(s)))
    out: list[tuple[list[dict[str, str]], str]] = []
    solutions = noisy_solutions(
        s.sft_solutions,
        0,
        noise=NoiseLevel(*s.noise),
        levels=s.levels,
        families=s.families,
        arithmetic_ops=s.arithmetic_ops,
    )
    for sol in solutions:
        obs, _ = env.reset(options={"task": sol.task})
        history = [{"role": "user", "content": str(obs)}]
        for action in sol.actions:
            out.append((list(history), action))
            obs, _, terminated, truncated, _ = env.step(action)
            history += [
                {"role": "assistant", "content": action},
                {"role": "user", "content": str(obs)},
            ]
            if terminated or truncated:
                break
    env.close()
    return out


def build_base(
    out: Path, s: Settings, log: Callable[[str], None] | None = None, device: str = "cpu"
) -> Path:
    """Train (or load from ``out``) the base policy on ``device``; returns its directory."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from prm_gym.llm.tiny import tiny_causal_lm

    log = log or (lambda line: print(line, flush=True))
    path = out / s.base_key()
    if (path / "sft.json").exists():
        return path
    t0 = time.perf_counter()
    examples = _sft_examples(s)
    corpus = [h[0]["content"] for h, _ in examples[:2000]] + [a for _, a in examples[:4000]]
    _, tok = tiny_causal_lm(vocab_size=s.vocab_size, corpus=corpus, n_layer=1, n_embd=8)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        activation_function=ACTIVATION,
        n_embd=s.n_embd,
        n_layer=s.n_layer,
        n_head=s.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).to(device)
    rows: list[tuple[list[int], int]] = []
    for history, action in examples:
        prompt = tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        t_ids = tok(action + "\n", add_special_tokens=False)["input_ids"]
        rows.append((p_ids + t_ids, len(p_ids)))
    opt = torch.optim.AdamW(model.parameters(), lr=s.sft_lr, weight_decay=0.01)
    # 5% warm-up, at least two steps of it: OneCycleLR divides by zero when its warm-up ends on
    # step 0 (fewer than 40 SFT steps with pct_start=0.05).
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=s.sft_lr, total_steps=s.sft_steps, pct_start=max(0.05, 2 / s.sft_steps)
    )
    rng = np.random.default_rng(0)
    model.train()
    loss_value = float("nan")
    for step in range(s.sft_steps):
        batch = [rows[i] for i in rng.integers(0, len(rows), size=s.sft_batch)]
        width = max(len(r) for r, _ in batch)
        ids = torch.full((len(batch), width), int(tok.pad_token_id))
        labels = torch.full((len(batch), width), -100)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (row, n_prompt) in enumerate(batch):
            ids[i, : len(row)] = torch.tensor(row)
            labels[i, n_prompt : len(row)] = torch.tensor(row[n_prompt:])
            attn[i, : len(row)] = 1
        loss = model(
            input_ids=ids.to(device), attention_mask=attn.to(device), labels=labels.to(device)
        ).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
        if step % 50 == 0 or step == s.sft_steps - 1:
            elapsed = time.perf_counter() - t0
            log(f"  sft step {step}/{s.sft_steps} loss {loss_value:.3f} ({elapsed:.0f} s)")
    model.eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    from prm_gym.llm import TransformersBackend

    backend = TransformersBackend(model, tok, device=device, max_batch_size=s.gen_batch)
    stats = evaluate(backend, eval_tasks(s, s.eval_tasks), s)
    meta = {
        "params": sum(p.numel() for p in model.parameters()),
        "sft_loss": loss_value,
        "sft_seconds": time.perf_counter() - t0,
        **stats,
    }
    (path / "sft.json").write_text(json.dumps(meta, indent=1))
    (path / _eval_file(s, device)).write_text(json.dumps(stats, indent=1))  # see base_eval
    log(f"base policy: {json.dumps(meta)}")
    return path


# ---------------------------------------------------------------------------------------------
# evaluation and the hacking signal
# ---------------------------------------------------------------------------------------------
def eval_tasks(s: Settings, n: int, first_seed: int = EVAL_SEED) -> list[Task]:
    """``n`` procedural problems of the regime's families and levels, seeds from
    ``first_seed`` (default: the held-out ones; :data:`POOL_SEED`: the training pool)."""
    config = MathConfig(families=s.families, levels=s.levels, arithmetic_ops=s.arithmetic_ops)
    return [generate(config, first_seed + i) for i in range(n)]


def idle_steps(task: Task, actions: Sequence[str]) -> int:
    """Steps that repeat an earlier step exactly or that the rule checker finds idle."""
    from prm_gym.envs.math.verifier import StepChecker

    checker = StepChecker(task.prompt, task)
    seen: set[str] = set()
    idle = 0
    for action in actions:
        key = " ".join(action.split())
        verdict = checker.check(action)
        if key in seen or verdict.redundant:
            idle += 1
        seen.add(key)
    return idle


def evaluate(backend: Any, tasks: Sequence[Task], s: Settings) -> dict[str, float]:
    """Greedy accuracy, pass@K (``K = group_size`` samples at temperature 1), steps per
    sampled episode and the idle-step share, on ``tasks``."""
    from prm_gym.agents import LLMAgent, rollout
    from prm_gym.llm import SamplingParams

    def play(temperature: float, copies: int) -> list[Any]:
        envs = [(lambda t=t: task_env(t, s.max_steps)) for t in tasks for _ in range(copies)]
        vec = gym.vector.SyncVectorEnv(envs, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
        params = SamplingParams(max_tokens=s.max_new_tokens, temperature=temperature, seed=0)
        agent = LLMAgent(backend, params, env_id="prm/Math-v0")
        try:
            return rollout(vec, agent, len(envs), progress=False)
        finally:
            vec.close()

    greedy = play(0.0, 1)
    sampled = play(1.0, s.group_size)
    k = s.group_size
    solved = np.array([float(t.outcome or 0.0) >= 1.0 for t in sampled]).reshape(-1, k)
    n_steps = sum(len(t.actions) for t in sampled)
    idle = sum(idle_steps(tasks[i // k], t.actions) for i, t in enumerate(sampled))
    return {
        "greedy": float(np.mean([float(t.outcome or 0.0) >= 1.0 for t in greedy])),
        "pass_at_k": float(solved.any(axis=1).mean()),
        "sample_acc": float(solved.mean()),
        "steps": n_steps / max(len(sampled), 1),
        "idle_share": idle / max(n_steps, 1),
    }


# ---------------------------------------------------------------------------------------------
# variants
# ---------------------------------------------------------------------------------------------
class SharedScorer:
    """A step scorer shared by every env copy, ``scale * score + shift``.

    Deep copies (Gymnasium copies wrapper arguments into ``env.spec``) return the object itself,
    so scorers holding models (the implicit PRM's backends) are neither copied nor pickled.
    """

    def __init__(self, scorer: Any, scale: float = 1.0, shift: float = 0.0) -> None:
        self.scorer, self.scale, self.shift = scorer, scale, shift

    def score(self, contexts: Sequence[Any]) -> np.ndarray:
        values = np.asarray(self.scorer.score(contexts), dtype=np.float64)
        return self.scale * values + self.shift

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedScorer:
        return self


def train_step_prm(n: int, s: Settings) -> Any:
    """The ``train-prm`` step scorer (``format="step_features"``) on noisy-solver labels."""
    from prm_gym.rewards.prm_training import make_prm_dataset, train_prm

    data = make_prm_dataset("prm/Math-v0", n=n, seed=PRM_SEED, levels=s.levels)
    model, _ = train_prm(data, format="step_features", progress=False)
    return model


class TaskLog(gym.Wrapper[Any, Any, Any, Any]):
    """Records each episode's task in ``tasks`` (by id), for scorers that branch rollouts."""

    def __init__(self, env: gym.Env[Any, Any], tasks: dict[str, Task]) -> None:
        super().__init__(env)
        self.tasks = tasks

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        task = self.env.unwrapped.task  # type: ignore[attr-defined]
        self.tasks[task.id] = task
        return obs, info


class ProverProgress:
    """PAV process rewards for a batch of trajectories: the progress of step ``h`` under a
    prover policy mu, ``V(s_{h+1}) - V(s_h)``, where ``V(s)`` is the share of ``n_rollouts``
    rollouts of mu from state ``s`` that end with the right answer ("Rewarding Progress:
    Scaling Automated Process Verifiers for LLM Reasoning", Setlur et al., 2024). ``V`` after
    the last step is the episode's outcome, so the steps' progress sums to ``outcome - V(s_0)``.

    The prover is ``backend`` (here the frozen base policy), sampled at temperature 1; the
    rollouts of every distinct prefix of a batch run in lock-step, one ``generate`` call per
    step for all of them. Each trajectory step's ``reward_components[key]`` gets its progress.

    ``best_of=k > 1`` measures progress under the Best-of-k policy of ``backend`` instead (the
    paper's complementary prover: it succeeds when any of k independent samples does), whose
    value is ``1 - (1 - V(s))**k``. From ``w`` wins in ``n >= k`` rollouts it is estimated without
    bias as ``1 - C(n - w, k) / C(n, k)``, the share of the rollouts' k-subsets that hold a win;
    for ``k = n`` that is 1 when any rollout wins. A terminal state's value is its outcome either
    way.
    """

    def __init__(
        self,
        backend: Any,
        tasks: dict[str, Task],
        max_new_tokens: int,
        n_rollouts: int = 4,
        key: str = "pav",
        max_steps: int = MAX_STEPS,
        best_of: int = 1,
    ) -> None:
        from prm_gym.llm import SamplingParams

        if not 1 <= best_of <= n_rollouts:
            raise ValueError(f"best_of must be in 1..n_rollouts={n_rollouts}, got {best_of}")
        self.backend, self.tasks, self.n, self.key = backend, tasks, n_rollouts, key
        self.max_steps, self.best_of = max_steps, best_of
        self.params = SamplingParams(max_tokens=max_new_tokens, temperature=1.0, stop=("\n",))

    def values(self, starts: Sequence[tuple[Task, tuple[str, ...]]]) -> np.ndarray:
        """``V(s)`` of each ``(task, prefix of actions)``. A rollout whose conversation outgrows
        the model's context ends there without a win."""
        from prm_gym.agents.llm_agent import generate_within_context

        copies: list[tuple[int, gym.Env[Any, Any], list[dict[str, str]]]] = []
        for j, (task, prefix) in enumerate(starts):
            for _ in range(self.n):
                env = task_env(task, self.max_steps)
                obs, _ = env.reset()
                history = [{"role": "user", "content": str(obs)}]
                for action in prefix:
                    obs, *_ = env.step(action)
                    history += [
                        {"role": "assistant", "content": action},
                        {"role": "user", "content": str(obs)},
                    ]
                copies.append((j, env, history))
        wins = np.zeros(len(starts))
        active = list(range(len(copies)))
        while active:
            histories = [copies[i][2] for i in active]
            generations = generate_within_context(self.backend, histories, self.params)
            still: list[int] = []
            for i, gens in zip(active, generations, strict=True):
                j, env, history = copies[i]
                if gens is None:  # no longer fits the context: unsolved, as the policy's own
                    env.close()  # episodes end (truncated, no outcome)
                    continue
                action = gens[0].text.strip()
                obs, reward, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    wins[j] += float(info.get("outcome", reward)) >= 1.0
                    env.close()
                else:
                    history += [
                        {"role": "assistant", "content": action},
                        {"role": "user", "content": str(obs)},
                    ]
                    still.append(i)
            active = still
        if self.best_of == 1:
            return wins / self.n
        no_win = [math.comb(self.n - int(w), self.best_of) for w in wins]
        return 1.0 - np.asarray(no_win, dtype=float) / math.comb(self.n, self.best_of)

    def label(self, trajectories: Sequence[Any]) -> None:
        """Write each step's progress into its ``reward_components``."""
        index: dict[tuple[str, tuple[str, ...]], int] = {}
        starts: list[tuple[Task, tuple[str, ...]]] = []
        rows: list[list[int]] = []  # per trajectory, the start of each of its prefixes
        for traj in trajectories:
            rows.append([])
            for h in range(len(traj.actions)):
                key = (traj.task_id, tuple(traj.actions[:h]))
                if key not in index:
                    index[key] = len(starts)
                    starts.append((self.tasks[traj.task_id], key[1]))
                rows[-1].append(index[key])
        values = self.values(starts)
        for traj, row in zip(trajectories, rows, strict=True):
            v = [*values[row], float(float(traj.outcome or 0.0) >= 1.0)]
            for h, info in enumerate(traj.infos):
                info.setdefault("reward_components", {})[self.key] = v[h + 1] - v[h]


def _chat_prompt(tok: Any) -> Callable[[str], str]:
    def render(prompt: str) -> str:
        messages = [{"role": "user", "content": prompt.split(_INSTRUCTIONS, 1)[0]}]
        return str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    return render


def run_one(
    variant: str,
    seed: int,
    base: str,
    s: Settings,
    device: str,
    threads: int = 1,
    start: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Train one variant from the base policy; returns its curve and timings. ``start``: the
    base policy's held-out evaluation (:func:`base_eval`), the curve's point at update 0, which
    is then not evaluated again (evaluation is seeded, so it would be the same numbers)."""
    import torch

    from prm_gym.agents import PGConfig, PGTrainer
    from prm_gym.llm import TransformersBackend
    from prm_gym.rewards import RuleVerifier
    from prm_gym.rewards.implicit_prm import ImplicitPRM, train_implicit_prm
    from prm_gym.wrappers import ProcessReward

    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    backend = load_policy(base, s, device)
    tok = backend.tokenizer
    cfg = PGConfig(
        group_size=s.group_size,
        prompts_per_iteration=s.prompts,
        lr=s.lr,
        beta=s.beta,
        max_new_tokens=s.max_new_tokens,
        process_coef=s.process_coef,
        micro_batch_size=s.micro_batch,
        seed=seed,
    )
    kw: dict[str, Any] = _env_kwargs(s)
    pool = eval_tasks(s, s.train_tasks, POOL_SEED) if s.train_tasks else []
    if pool:
        kw = {"tasks": pool, "max_steps": s.max_steps}
    #: PRIME: the implicit PRM's model, its frozen reference, and the scorer reading both.
    prime: tuple[Any, Any, ImplicitPRM] | None = None
    prover: ProverProgress | None = None
    env_fn: Callable[[], gym.Env[Any, Any]]
    if variant == "outcome":

        def env_fn() -> gym.Env[Any, Any]:
            return ProblemOnly(gym.make("prm/Math-v0", **kw))
    elif variant in ("raw_sum", "gated", "pure"):

        def env_fn() -> gym.Env[Any, Any]:
            return ProblemOnly(
                ProcessReward(gym.make("prm/Math-v0", **kw), RuleVerifier(), coef=1.0)
            )

        if variant == "pure":
            cfg = replace(cfg, credit="min_form")
        if variant == "gated":
            cfg = replace(cfg, gate=True)
    elif variant == "progress":

        def env_fn() -> gym.Env[Any, Any]:
            return ProblemOnly(prm_gym.make_dense("prm/Math-v0", coef=0.5, **kw))

        cfg = replace(cfg, process_key="progress")
    elif variant in ("pav", "pav_bo4"):
        seen: dict[str, Task] = {}
        prover = ProverProgress(
            load_policy(base, s, device),
            seen,
            s.max_new_tokens,
            max_steps=s.max_steps,
            best_of=4 if variant == "pav_bo4" else 1,
        )

        def env_fn() -> gym.Env[Any, Any]:
            return TaskLog(ProblemOnly(gym.make("prm/Math-v0", **kw)), seen)

        cfg = replace(cfg, process_key="pav")
    elif variant == "trained_prm":
        scorer = SharedScorer(train_step_prm(s.prm_solutions, s), 2.0, -1.0)  # 2 P - 1

        def env_fn() -> gym.Env[Any, Any]:
            return ProblemOnly(ProcessReward(gym.make("prm/Math-v0", **kw), scorer, coef=1.0))
    elif variant == "prime":
        prm_model = copy.deepcopy(backend.model)
        ref_model = copy.deepcopy(backend.model).requires_grad_(False)
        implicit_prm = ImplicitPRM(
            TransformersBackend(prm_model, tok),
            TransformersBackend(ref_model, tok),
            beta=0.05,
            prompt_fn=_chat_prompt(tok),
            cache=True,  # cleared after each update's training of the implicit PRM
        )
        prime = (prm_model, ref_model, implicit_prm)
        implicit = SharedScorer(implicit_prm)

        def env_fn() -> gym.Env[Any, Any]:
            return ProblemOnly(ProcessReward(gym.make("prm/Math-v0", **kw), implicit, coef=1.0))

        cfg = replace(cfg, advantage="prime")
    else:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")

    trainer = PGTrainer(backend, env_fn, cfg)
    if prover is not None:
        plain_collect = trainer.collect

        def collect_with_progress() -> Any:
            trajectories = plain_collect()
            prover.label(trajectories)
            return trajectories

        trainer.collect = collect_with_progress  # type: ignore[method-assign]
    timer = {"gen": 0.0, "train_gen": 0.0, "collect": 0.0, "opt": 0.0}
    last: list[Any] = []
    generate, collect, update = backend.generate, trainer.collect, trainer.update

    def timed_generate(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return generate(*a, **k)
        finally:
            timer["gen"] += time.perf_counter() - t

    def timed_collect() -> Any:
        t, gen_before = time.perf_counter(), timer["gen"]
        trajectories = collect()
        timer["collect"] += time.perf_counter() - t
        timer["train_gen"] += timer["gen"] - gen_before
        last[:] = trajectories
        return trajectories

    def timed_update(samples: Any) -> Any:
        t = time.perf_counter()
        try:
            return update(samples)
        finally:
            timer["opt"] += time.perf_counter() - t

    backend.generate = timed_generate
    trainer.collect = timed_collect  # type: ignore[method-assign]
    trainer.update = timed_update  # type: ignore[method-assign]

    tasks = eval_tasks(s, s.eval_tasks)
    render = _chat_prompt(tok)
    curve: list[dict[str, float]] = []
    train_log: list[dict[str, float]] = []
    tokens = 0.0

    def point(u: int) -> None:
        t = time.perf_counter()
        stats = dict(start) if u == 0 and start is not None else evaluate(backend, tasks, s)
        if pool:
            in_pool = evaluate(backend, pool[: s.eval_tasks], s)
            stats.update({f"pool_{k}": v for k, v in in_pool.items()})
        curve.append({"update": float(u), "tokens": tokens, **stats})
        print(
            f"  {variant} seed {seed} update {u}: greedy {stats['greedy']:.3f} sampled "
            f"{stats['sample_acc']:.3f} pass@K {stats['pass_at_k']:.3f} steps "
            f"{stats['steps']:.2f} ({time.perf_counter() - t_start:.0f} s)",
            flush=True,
        )
        timer.setdefault("eval", 0.0)
        timer["eval"] += time.perf_counter() - t

    point(0)
    for u in range(1, s.updates + 1):
        record = trainer.step()
        tokens += record.get("tokens", 0.0)
        if prime is not None:
            t = time.perf_counter()
            train_implicit_prm(
                prime[0],
                prime[1],
                tok,
                [render(tr.prompt) for tr in last],
                ["".join(f"{a}\n" for a in tr.actions) or "\n" for tr in last],
                [float(tr.outcome or 0.0) for tr in last],
                beta=0.05,
                lr=1e-4,
                batch_size=16,
                seed=seed + u,
            )
            prime[2].clear_cache()  # its rewards were the old weights'
            timer["opt"] += time.perf_counter() - t
        train_log.append({k: float(v) for k, v in record.items()})
        if u % s.eval_every == 0 or u == s.updates:
            point(u)
    trainer.close()
    n = max(s.updates, 1)
    return {
        "variant": variant,
        "seed": seed,
        "curve": curve,
        "train": train_log,
        "gen_s": timer["train_gen"] / n,
        "env_s": (timer["collect"] - timer["train_gen"]) / n,
        "opt_s": timer["opt"] / n,
        "eval_s": timer.get("eval", 0.0),
        "seconds": time.perf_counter() - t_start,
    }


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _curves(runs: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([p["update"] for p in runs[0]["curve"]])
    y = np.array([[p[key] for p in r["curve"]] for r in runs])
    return x, y


def by_variant(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        out.setdefault(r["variant"], []).append(r)
    return out


_LABELS = {
    "greedy": "greedy",
    "pass_at_k": "pass@K",
    "sample_acc": "sampled",
    "pool_greedy": "pool greedy",
}


def table(results: Sequence[dict[str, Any]], s: Settings) -> str:
    """The markdown table: final accuracies, speed-up against outcome-only, hacking, timings."""
    groups = by_variant(results)
    pool = s.train_tasks > 0
    keys = ("greedy", "pass_at_k", "sample_acc", *(("pool_greedy",) if pool else ()))
    targets: dict[str, float] = {}
    caveat = ""
    if "outcome" in groups:
        for key in keys:
            _, y = _curves(groups["outcome"], key)
            targets[key] = float(y.mean(axis=0)[-1])
            if targets[key] <= float(y.mean(axis=0)[0]):
                caveat += (
                    f" Outcome-only did not improve its {_LABELS[key]} accuracy on the"
                    " base policy, so that ratio column measures no speed-up (every curve"
                    " 'reaches' it at update 0)."
                )
    pool_head = (
        " pool greedy (final) | updates to outcome's final pool greedy (ratio) |" if pool else ""
    )
    head = (
        "| variant | seeds | greedy acc (final) | pass@K (final) | updates to outcome's final "
        "greedy (ratio) | updates to outcome's final pass@K (ratio) | sampled acc (final) "
        "| updates to outcome's final sampled (ratio) |"
        f"{pool_head} steps/episode | idle share | zero-var groups | gen s/upd "
        "| env+reward s/upd | opt s/upd |\n|---" + "|---" * (13 + 2 * pool) + "|"
    )
    lines = [head]
    for name in [v for v in VARIANTS if v in groups]:
        runs = groups[name]
        x, g = _curves(runs, "greedy")
        _, p = _curves(runs, "pass_at_k")
        _, sa = _curves(runs, "sample_acc")
        _, st = _curves(runs, "steps")
        _, idle = _curves(runs, "idle_share")

        def reach(key: str, x: np.ndarray = x, runs: list[dict[str, Any]] = runs) -> str:
            if key not in targets:
                return "–"
            mean = _curves(runs, key)[1].mean(axis=0)
            hit = np.nonzero(mean >= targets[key] - 1e-9)[0]
            if len(hit):
                u = float(x[hit[0]])
                return f"{u:g} ({u / s.updates:.2f})"
            return f"> {s.updates} (not reached)"

        def ms(a: np.ndarray, fmt: str = ".3f") -> str:
            return f"{a.mean():{fmt}} ± {a.std():{fmt}}"

        pool_cells = ""
        if pool:
            _, pg = _curves(runs, "pool_greedy")
            pool_cells = f" {ms(pg[:, -1])} (from {pg[:, 0].mean():.3f}) | {reach('pool_greedy')} |"
        zero_var = [t.get("zero_var_groups", np.nan) for r in runs for t in r["train"]]
        lines.append(
            f"| {name} | {len(runs)} | {ms(g[:, -1])} (from {g[:, 0].mean():.3f}) "
            f"| {ms(p[:, -1])} | {reach('greedy')} | {reach('pass_at_k')} "
            f"| {ms(sa[:, -1])} (from {sa[:, 0].mean():.3f}) "
            f"| {reach('sample_acc')} |{pool_cells} {ms(st[:, -1], '.2f')} "
            f"| {ms(idle[:, -1])} (from {idle[:, 0].mean():.3f}) "
            f"| {np.mean(zero_var) if zero_var else float('nan'):.2f} "
            f"| {np.mean([r['gen_s'] for r in runs]):.2f} "
            f"| {np.mean([r['env_s'] for r in runs]):.2f} "
            f"| {np.mean([r['opt_s'] for r in runs]):.2f} |"
        )
    note = (
        f"\nmean ± std over seeds; held-out: {s.eval_tasks} problems, K = {s.group_size}; "
        f"{s.updates} updates of {s.prompts} prompts x {s.group_size} samples; ratio = updates "
        "for the variant's mean greedy (pass@K, sampled) curve to reach outcome-only's final "
        "mean greedy (pass@K, sampled) accuracy, over the budget (evaluated every "
        f"{s.eval_every} updates); idle share on sampled held-out episodes; zero-var groups = "
        "mean share of an update's groups whose K outcomes are all equal (no outcome signal)."
        + (
            f" Training prompts drawn from a fixed pool of {s.train_tasks} problems; pool greedy"
            f" on the first {min(s.train_tasks, s.eval_tasks)} of them."
            if pool
            else ""
        )
        + f"{caveat}\n"
    )
    return "\n".join(lines) + note


def plot(results: Sequence[dict[str, Any]], path: Path, s: Settings) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = by_variant(results)
    panels: tuple[tuple[str, str], ...] = (
        ("greedy", "update"),
        ("sample_acc", "update"),
        ("pass_at_k", "update"),
        ("sample_acc", "tokens"),
    )
    if all("pool_greedy" in p for r in results for p in r["curve"]):
        panels += (("pool_greedy", "update"),)
    labels = {
        "greedy": "held-out greedy accuracy",
        "pass_at_k": "held-out pass@K",
        "sample_acc": "held-out sampled accuracy (T = 1)",
        "pool_greedy": "training-pool greedy accuracy",
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(4.7 * len(panels), 4))
    for ax, (key, xkey) in zip(axes, panels, strict=True):
        for name in [v for v in VARIANTS if v in groups]:
            runs = groups[name]
            y = np.array([[p[key] for p in r["curve"]] for r in runs])
            x = np.array([[p[xkey] for p in r["curve"]] for r in runs]).mean(axis=0)
            (line,) = ax.plot(x, y.mean(axis=0), label=name)
            ax.fill_between(
                x, y.min(axis=0), y.max(axis=0), color=line.get_color(), alpha=0.15, linewidth=0
            )
        ax.set_xlabel("updates" if xkey == "update" else "generated training tokens (thousands)")
        if xkey == "tokens":
            ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1000:g}")
        ax.set_ylabel(labels[key])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    levels = ",".join(map(str, s.levels))
    fig.suptitle(
        f"GRPO on prm/Math-v0 ({'+'.join(s.families)}, level {levels}; regime {s.regime}): "
        "mean, min/max over seeds"
    )
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)
    return path


def _run(
    args: tuple[str, int, str, Settings, str, int, dict[str, float] | None],
) -> dict[str, Any]:
    return run_one(*args)


def base_eval(base: Path, s: Settings, device: str) -> dict[str, float] | None:
    """The base policy's held-out evaluation, the point at update 0 of every run, computed once
    and cached in ``base`` (keyed by the settings it depends on); ``None`` when runs also
    evaluate on the training pool (``train_tasks``)."""
    if s.train_tasks:
        return None
    cached = base / _eval_file(s, device)
    if cached.exists():
        return {k: float(v) for k, v in json.loads(cached.read_text()).items()}
    stats = evaluate(load_policy(base, s, device), eval_tasks(s, s.eval_tasks), s)
    cached.write_text(json.dumps(stats, indent=1))
    return stats


def _eval_file(s: Settings, device: str = "cpu") -> str:
    # Sampling draws differ between devices (CPU and CUDA generators), so the device is in
    # the key (plain for the CPU, as before).
    where = "" if device == "cpu" else f"_{device.replace(':', '')}"
    return (
        f"eval_t{s.eval_tasks}_k{s.group_size}_m{s.max_new_tokens}_x{s.max_steps}"
        f"_g{s.gen_batch}_{ACTIVATION}{where}.json"
    )


#: Variants that take longer than the others (the implicit PRM's updates, the prover's
#: rollouts): started first, so the runs left at the end are short ones.
SLOW_VARIANTS = ("pav_bo4", "pav", "prime")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke settings, 1 seed, <= 5 min")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per variant (3)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds run are FIRST_SEED .. FIRST_SEED + SEEDS - 1 (add seeds to an earlier run, "
        "then merge with --from-json)",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--updates", type=int, default=None, help="updates per run")
    parser.add_argument("--sft-steps", type=int, default=None, help="base-policy SFT steps")
    parser.add_argument("--sft-solutions", type=int, default=None, help="SFT solutions")
    parser.add_argument("--n-layer", type=int, default=None, help="policy layers (4)")
    parser.add_argument("--n-embd", type=int, default=None, help="policy width (160)")
    parser.add_argument("--eval-tasks", type=int, default=None, help="held-out problems")
    parser.add_argument("--eval-every", type=int, default=None, help="updates between evals")
    parser.add_argument("--lr", type=float, default=None, help="RL learning rate")
    parser.add_argument("--prompts", type=int, default=None, help="prompts per update")
    parser.add_argument("--group-size", type=int, default=None, help="K samples per prompt")
    parser.add_argument("--process-coef", type=float, default=None, help="PGConfig.process_coef")
    parser.add_argument(
        "--train-tasks",
        type=int,
        default=None,
        help="draw training prompts from a fixed pool of N problems and measure accuracy on it "
        "too (default 0: fresh problems every update)",
    )
    parser.add_argument(
        "--regime",
        choices=sorted(REGIMES),
        default=None,
        help="problems and SFT noise: 'procedure' (default; arithmetic word problems, + and - "
        "chosen wrong), 'chain' (the same small numbers, four operations), 'long' (the same "
        "mistakes, three operations over larger numbers with * and /) or 'slips' (the first "
        "design: linear and fraction, arithmetic slips)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        default=None,
        help="rebuild the table and PNG from these llm_learning.json files (runs of the same "
        "settings, e.g. variants run in separate invocations) instead of training",
    )
    parser.add_argument(
        "--gen-batch",
        type=int,
        default=None,
        help="rows per generate call (64; on a GPU, larger batches, e.g. 1024, run faster)",
    )
    parser.add_argument(
        "--micro-batch", type=int, default=None, help="step sequences per PG forward pass (32)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", type=Path, default=Path("llm_learning_out"))
    args = parser.parse_args(argv)

    s = QUICK if args.quick else Settings()
    overrides = {
        "updates": args.updates,
        "sft_steps": args.sft_steps,
        "sft_solutions": args.sft_solutions,
        "n_layer": args.n_layer,
        "n_embd": args.n_embd,
        "eval_tasks": args.eval_tasks,
        "eval_every": args.eval_every,
        "lr": args.lr,
        "prompts": args.prompts,
        "group_size": args.group_size,
        "process_coef": args.process_coef,
        "train_tasks": args.train_tasks,
        "regime": args.regime,
        "gen_batch": args.gen_batch,
        "micro_batch": args.micro_batch,
    }
    s = replace(s, **{k: v for k, v in overrides.items() if v is not None})
    if s.sft_steps < 3:
        parser.error(f"--sft-steps must be at least 3, got {s.sft_steps}")
    positive = ("updates", "eval_every", "eval_tasks", "prompts", "group_size")
    for name in (*positive, "gen_batch", "micro_batch"):
        if getattr(s, name) < 1:  # a table of update 0 alone, or empty batches, says nothing
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(s, name)}")
    if args.from_json:
        merged = merge_runs(args.from_json)
        args.out.mkdir(parents=True, exist_ok=True)
        report(*merged, args.out)
        return
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(max(1, args.jobs))
    t0 = time.perf_counter()
    base = build_base(args.out, s, device=args.device)
    print(
        f"base policy {base} ({time.perf_counter() - t0:.0f} s): {(base / 'sft.json').read_text()}"
    )
    start = base_eval(base, s, args.device)
    jobs = [
        (v, seed, str(base), s, args.device, 1, start)
        for seed in range(args.first_seed, args.first_seed + seeds)
        for v in args.variants
    ]
    slow = {v: i for i, v in enumerate(SLOW_VARIANTS)}
    jobs.sort(key=lambda job: slow.get(job[0], len(slow)))  # stable: seed order otherwise
    results: list[dict[str, Any]] = []
    failed: list[str] = []

    def finished(job: tuple[Any, ...], run: Callable[[], dict[str, Any]]) -> None:
        # A run that fails is reported with its traceback; the others still make the table.
        try:
            r = run()
        except Exception:
            failed.append(f"{job[0]} seed {job[1]}")
            print(f"{job[0]} seed {job[1]} FAILED:\n{traceback.format_exc()}", flush=True)
            return
        results.append(r)
        print(f"{r['variant']} seed {r['seed']}: {r['curve'][-1]} ({r['seconds']:.0f} s)")
        # The runs so far, so that an invocation stopped early still leaves them for
        # --from-json (the table and PNG are written at the end).
        write_runs(s, str(base), results, args.out)

    if args.jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_run, job): job for job in jobs}
            for future in concurrent.futures.as_completed(futures):
                finished(futures[future], future.result)
    else:
        threads = max(1, torch.get_num_threads())
        for job in jobs:
            finished(job, functools.partial(_run, (*job[:5], threads, start)))
    results.sort(key=lambda r: (args.variants.index(r["variant"]), r["seed"]))
    if results:
        report(s, str(base), results, args.out)
    print(f"({time.perf_counter() - t0:.0f} s total)")
    if failed:
        raise SystemExit(f"{len(failed)} of {len(jobs)} runs failed: {', '.join(failed)}")


def report(s: Settings, base: str, results: Sequence[dict[str, Any]], out: Path) -> None:
    """Write ``llm_learning.md``, ``.json`` and ``.png`` of ``results`` to ``out``."""
    md = table(results, s)
    (out / "llm_learning.md").write_text(md)
    write_runs(s, base, results, out)
    png = plot(results, out / "llm_learning.png", s)
    print(md)
    print(f"wrote {out / 'llm_learning.md'}, {png}")


def write_runs(s: Settings, base: str, results: Sequence[dict[str, Any]], out: Path) -> None:
    """Write ``llm_learning.json`` (the settings, base policy and every run) to ``out``."""
    data = {"settings": asdict(s), "base": base, "runs": list(results)}
    (out / "llm_learning.json").write_text(json.dumps(data, indent=1))


def merge_runs(paths: Sequence[Path]) -> tuple[Settings, str, list[dict[str, Any]]]:
    """The settings, base policy and runs of several ``llm_learning.json`` files.

    Raises ``ValueError`` when they differ in anything but the variants and seeds run, or
    when two hold the same (variant, seed).
    """
    loaded = [json.loads(Path(p).read_text()) for p in paths]
    settings, base = loaded[0]["settings"], loaded[0]["base"]
    runs: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for path, data in zip(paths, loaded, strict=True):
        if data["settings"] != settings or Path(data["base"]).name != Path(base).name:
            raise ValueError(f"{path}: other settings or base policy than {paths[0]}")
        for run in data["runs"]:
            key = (run["variant"], run["seed"])
            if key in seen:
                raise ValueError(f"{path}: {key[0]} seed {key[1]} is in two of the files")
            seen.add(key)
            runs.append(run)
    return Settings(**settings), base, runs


if __name__ == "__main__":
    main()
