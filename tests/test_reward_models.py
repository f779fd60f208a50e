"""Learned and simulated step scorers against a hand computation of their papers' rules.

HF PRMs (Math-Shepherd token probabilities, Qwen2.5-Math-PRM reward heads) on tiny random
models, the implicit PRM from two tiny models' log-probabilities, Monte-Carlo progress on a toy
env whose values are known exactly and on procedural maths (corrupted steps rank below gold
ones), and the LLM judge's parsing, caching and failure handling.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401  (registers prm/Math-v0)
from prm_gym.core import StepContext
from prm_gym.envs.math.experts import corrupt_answer, corrupt_arithmetic
from prm_gym.llm import Generation, SamplingParams
from prm_gym.rewards import (
    ImplicitPRM,
    LLMJudge,
    MCProgress,
    RewardHeadPRM,
    TokenProbPRM,
    implicit_prm_loss,
    label_steps,
    parse_score,
    train_implicit_prm,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
torch.set_num_threads(1)

TAG = "<|end|>"  # a special token of the tiny tokenizer, so it is always one token
CONTEXTS = [
    StepContext("What is 2 + 3?", (), "2 + 3 = 5"),
    StepContext("Ana has 12 apples and buys 7 more.", ("12 + 7 = 19",), "\\boxed{19}"),
    StepContext("Solve 3x + 4 = 10.", ("3x = 6", "x = 2"), "Final answer: \\boxed{2}"),
]


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    from prm_gym.llm.tiny import tiny_causal_lm

    return tiny_causal_lm(seed=0)


def forward_logits(model: Any, ids: list[int]) -> Any:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


# --------------------------------------------------------------------------------------------
# HF PRMs


@pytest.mark.parametrize("side", ["left", "right"])
def test_token_prob_prm_is_restricted_softmax_at_the_tag(tiny: tuple[Any, Any], side: str) -> None:
    model, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side
    prm = TokenProbPRM(model, tokenizer, step_tag=TAG, good_token="+", bad_token="-")
    plus, minus = (tokenizer.convert_tokens_to_ids(t) for t in ("+", "-"))
    tag = tokenizer.convert_tokens_to_ids(TAG)
    scores = prm.score(CONTEXTS)
    assert scores.dtype == np.float32 and scores.shape == (3,)
    for ctx, got in zip(CONTEXTS, scores, strict=True):
        text = ctx.prompt + "".join(f" {s}{TAG}" for s in (*ctx.previous_steps, ctx.action))
        ids = tokenizer(text)["input_ids"]
        z = forward_logits(model, ids)[max(i for i, t in enumerate(ids) if t == tag)]
        expected = math.exp(z[plus]) / (math.exp(z[plus]) + math.exp(z[minus]))
        assert got == pytest.approx(expected, abs=1e-5)
    # Every step of one solution, in one pass: the last equals the context's score.
    last = CONTEXTS[2]
    steps = prm.score_steps(last.prompt, [*last.previous_steps, last.action])
    assert steps.shape == (3,) and steps[-1] == pytest.approx(scores[2], abs=1e-5)


def test_token_prob_prm_loads_a_checkpoint_path(tiny: tuple[Any, Any], tmp_path: Any) -> None:
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    built = TokenProbPRM(model, tokenizer, step_tag=TAG).score(CONTEXTS)
    loaded = TokenProbPRM(str(tmp_path), step_tag=TAG).score(CONTEXTS)
    np.testing.assert_allclose(loaded, built, atol=1e-5)
    with pytest.raises(ValueError, match="one token"):
        TokenProbPRM(model, tokenizer, step_tag="not one token")


@pytest.mark.parametrize("side", ["left", "right"])
def test_reward_head_prm_is_class_one_probability_at_separators(
    tiny: tuple[Any, Any], side: str
) -> None:
    from transformers import GPT2Config, GPT2ForTokenClassification

    _, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=1,
        n_head=2,
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    head = GPT2ForTokenClassification(config).eval()
    prm = RewardHeadPRM(head, tokenizer, separator=TAG, step_prefix="\n")
    sep = tokenizer.convert_tokens_to_ids(TAG)
    scores = prm.score(CONTEXTS)
    for ctx, got in zip(CONTEXTS, scores, strict=True):
        text = ctx.prompt + "".join(f"\n{s}{TAG}" for s in (*ctx.previous_steps, ctx.action))
        ids = tokenizer(text)["input_ids"]
        z = forward_logits(head, ids)[max(i for i, t in enumerate(ids) if t == sep)]
        assert got == pytest.approx(float(torch.softmax(z, -1)[1]), abs=1e-5)


def _episodes() -> list[tuple[str, list[str]]]:
    from prm_gym.rewards.prm_training import make_prm_dataset

    return [(s.prompt, list(s.steps)) for s in make_prm_dataset(n=5, seed=3)]


def _token_classifier(tokenizer: Any) -> Any:
    from transformers import GPT2Config, GPT2ForTokenClassification

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(1)
    return GPT2ForTokenClassification(config).eval()


@pytest.mark.parametrize("kind", ["token_prob", "reward_head"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_kv_cache_scores_episodes_like_a_full_recompute(
    tiny: tuple[Any, Any], side: str, kind: str
) -> None:
    """Scoring episodes step by step with the key/value cache gives the full-recompute scores,
    also when some transcripts were evicted (cache smaller than the batch), and a cached step
    really runs only its new tokens."""
    model, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side
    if kind == "reward_head":
        model = _token_classifier(tokenizer)

    def make(cache_size: int) -> Any:
        if kind == "token_prob":
            return TokenProbPRM(model, tokenizer, step_tag=TAG, cache_size=cache_size)
        return RewardHeadPRM(model, tokenizer, separator=TAG, cache_size=cache_size)

    full, small, big = make(0), make(3), make(16)
    widths: list[int] = []
    hook = model.register_forward_pre_hook(
        lambda _m, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    episodes = _episodes()
    try:
        for k in range(max(len(steps) for _, steps in episodes)):
            contexts = [
                StepContext(prompt, tuple(steps[:k]), steps[k])
                for prompt, steps in episodes
                if k < len(steps)
            ]
            expected = full.score(contexts)
            np.testing.assert_allclose(small.score(contexts), expected, atol=1e-5)
            assert len(small._cache) <= 3
            widths.clear()
            np.testing.assert_allclose(big.score(contexts), expected, atol=1e-5)
            if k >= 1:  # every prefix is cached: the forward pass sees only the new steps
                new = [f"{full.step_prefix}{c.action.strip()}{TAG}" for c in contexts]
                longest_new = max(
                    len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in new
                )
                texts = [full.format(c.prompt, [*c.previous_steps, c.action]) for c in contexts]
                shortest = min(len(tokenizer(t)["input_ids"]) for t in texts)
                assert widths == [longest_new] and longest_new < shortest
    finally:
        hook.remove()
    with pytest.raises(ValueError, match="cache_size"):
        make(-1)


@pytest.mark.parametrize("side", ["left", "right"])
def test_kv_cache_reused_batch_matches_the_general_path_and_a_full_recompute(
    tiny: tuple[Any, Any], side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Episodes of different lengths scored side by side, as a vector env does: when every row
    continues the same row of the previous batch the scorer reuses that batch's cache as is
    (no reassembly); restarts (an autoreset), reordered, partial and repeated batches take or
    stay on the general path. Every path scores like a full recompute."""
    from prm_gym.rewards import hf_prm

    model, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side
    assembled: list[int] = []
    assemble = hf_prm._assemble

    def counting(past: Any, n: int, device: Any) -> Any:
        assembled.append(n)
        return assemble(past, n, device)

    monkeypatch.setattr(hf_prm, "_assemble", counting)
    full = TokenProbPRM(model, tokenizer, step_tag=TAG)
    cached = TokenProbPRM(model, tokenizer, step_tag=TAG, cache_size=32)
    episodes = _episodes()
    # Mixed step lengths within every batch: the steps differ in length across episodes.
    assert len({len(tokenizer(s)["input_ids"]) for _, steps in episodes for s in steps}) > 3
    slots = episodes[:3]
    spare = episodes[3:]
    progress = [0, 0, 0]
    fast_steps = 0
    for t in range(10):
        for i, (_prompt, steps) in enumerate(slots):
            if progress[i] >= min(len(steps), 2 + i):  # slot i restarts, like an autoreset
                slots[i] = spare.pop(0) if spare else (f"Again: {slots[i][0]}", slots[i][1])
                progress[i] = 0
        contexts = [
            StepContext(prompt, tuple(steps[: progress[i]]), steps[progress[i]])
            for i, (prompt, steps) in enumerate(slots)
        ]
        before = len(assembled)
        expected = full.score(contexts)
        np.testing.assert_allclose(cached.score(contexts), expected, atol=1e-5)
        # Scoring the same batch again reuses the same cached batch a second time.
        np.testing.assert_allclose(cached.score(contexts), expected, atol=1e-5)
        if t and all(progress):  # every row continues the previous batch's row: no assembly
            assert len(assembled) == before
            fast_steps += 1
        elif t and any(progress):  # restarted rows mixed with continuing ones
            assert len(assembled) > before
        for i in range(len(slots)):
            progress[i] += 1
    assert fast_steps >= 2
    # A reordered batch and a sub-batch of the last one take the general path, same scores.
    for subset in ([2, 1, 0], [1]):
        contexts = [
            StepContext(prompt, tuple(steps[: progress[i]]), steps[progress[i]])
            for i in subset
            for prompt, steps in [slots[i]]
            if progress[i] < len(steps)
        ]
        if not contexts:
            continue
        before = len(assembled)
        np.testing.assert_allclose(cached.score(contexts), full.score(contexts), atol=1e-5)
        assert len(assembled) == before + 1


def test_kv_cache_squeezes_out_padding_that_outgrows_the_tokens(
    tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows whose step lengths alternate out of step leave padding gaps in a reused batch's
    cache; once the gaps outnumber the tokens they are removed, and the scores stay those of a
    full recompute."""
    from prm_gym.rewards import hf_prm

    model, tokenizer = tiny
    compacted: list[int] = []
    compact = hf_prm._compact

    def counting(layers: Any, mask: Any, width: int) -> Any:
        out = compact(layers, mask, width)
        compacted.append(int(out[1].shape[1]))
        assert out[1].shape[1] == width < mask.shape[1]
        return out

    monkeypatch.setattr(hf_prm, "_compact", counting)
    full = TokenProbPRM(model, tokenizer, step_tag=TAG)
    cached = TokenProbPRM(model, tokenizer, step_tag=TAG, cache_size=8)
    long = "so 12 * 7 = 84 and 84 + 19 = 103, then 103 - 8 = 95 apples in all the baskets"
    # Each of 3 rows writes the long step in turn: the batch grows by a long step every time,
    # each row by one in three.
    steps = [[long if k % 3 == i else "ok" for k in range(12)] for i in range(3)]
    prompts = ["Q1?", "A longer second question?", "Q3?"]
    for k in range(len(steps[0])):
        contexts = [StepContext(p, tuple(s[:k]), s[k]) for p, s in zip(prompts, steps, strict=True)]
        np.testing.assert_allclose(cached.score(contexts), full.score(contexts), atol=1e-5)
    assert compacted


def test_kv_cache_switches_off_when_the_tokenizer_does_not_split_at_the_marker(
    tiny: tuple[Any, Any],
) -> None:
    from tokenizers.processors import TemplateProcessing

    model, tokenizer = tiny
    tokenizer = copy.deepcopy(tokenizer)
    eos = tokenizer.eos_token
    # Appending EOS to every encoding makes "prefix + new step" differ from the whole text.
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"$A {eos}", special_tokens=[(eos, tokenizer.eos_token_id)]
    )
    full = TokenProbPRM(model, tokenizer, step_tag=TAG)
    cached = TokenProbPRM(model, tokenizer, step_tag=TAG, cache_size=8)
    prompt, steps = _episodes()[0]
    first = [StepContext(prompt, (), steps[0])]
    second = [StepContext(prompt, (steps[0],), steps[1])]
    np.testing.assert_allclose(cached.score(first), full.score(first), atol=1e-5)
    with pytest.warns(UserWarning, match="does not split text at the marker"):
        got = cached.score(second)
    np.testing.assert_allclose(got, full.score(second), atol=1e-5)
    assert cached.cache_size == 0


def test_vector_process_reward_with_a_cached_prm_matches_per_env_scoring() -> None:
    """16 steps of 3 Math envs (episodes end and autoreset): the batched, cached scorer gives
    each sub-env the process reward a per-env ProcessReward with an uncached scorer gives."""
    from prm_gym.rewards.prm_training import SEPARATOR, _build_tokenizer, make_prm_dataset
    from prm_gym.wrappers import ProcessReward
    from prm_gym.wrappers.vector import VectorProcessReward

    data = make_prm_dataset(n=40, seed=0)
    tokenizer = _build_tokenizer([s.prompt + "".join(s.steps) for s in data], 400)
    model = _token_classifier(tokenizer)
    n = 3
    vector = VectorProcessReward(
        gym.make_vec("prm/Math-v0", num_envs=n, vectorization_mode="sync"),
        RewardHeadPRM(model, tokenizer, separator=SEPARATOR, cache_size=2 * n),
    )
    singles = [
        ProcessReward(gym.make("prm/Math-v0"), RewardHeadPRM(model, tokenizer, separator=SEPARATOR))
        for _ in range(n)
    ]
    obs, _ = vector.reset(seed=0)
    for i, env in enumerate(singles):
        single_obs, _ = env.reset(seed=i)
        assert single_obs == obs[i]
    done = np.zeros(n, dtype=bool)
    for t in range(16):
        actions = [f"Step {t + 1}: {i + 2} * {t + 3} = {(i + 2) * (t + 3)}." for i in range(n)]
        _, _, term, trunc, info = vector.step(actions)
        for i, env in enumerate(singles):
            if done[i]:  # the vector env autoresets on this step (next-step mode)
                env.reset()
                assert info["reward_components"]["process"][i] == 0.0
                continue
            _, _, _, _, single_info = env.step(actions[i])
            assert info["reward_components"]["process"][i] == pytest.approx(
                single_info["reward_components"]["process"], abs=1e-5
            )
        done = np.logical_or(term, trunc)
    vector.close()


# --------------------------------------------------------------------------------------------
# Implicit PRM


def prefix_logprob(model: Any, tokenizer: Any, prompt: str, continuation: str) -> float:
    p = tokenizer(prompt)["input_ids"]
    c = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    logp = torch.log_softmax(forward_logits(model, p + c), -1)
    return float(sum(logp[len(p) + j - 1, t] for j, t in enumerate(c)))


def test_implicit_prm_single_and_accumulative_by_hand(tiny: tuple[Any, Any]) -> None:
    from prm_gym.llm import TransformersBackend
    from prm_gym.llm.tiny import tiny_causal_lm

    policy_model, tokenizer = tiny
    ref_model, ref_tokenizer = tiny_causal_lm(seed=1)
    assert ref_tokenizer.get_vocab() == tokenizer.get_vocab()
    policy = TransformersBackend(policy_model, tokenizer)
    reference = TransformersBackend(ref_model, tokenizer)
    beta = 0.05

    def q(ctx: StepContext, steps: Sequence[str]) -> float:
        if not steps:
            return 0.0
        text = "".join(f"{s}\n" for s in steps)
        return beta * (
            prefix_logprob(policy_model, tokenizer, ctx.prompt, text)
            - prefix_logprob(ref_model, tokenizer, ctx.prompt, text)
        )

    single = ImplicitPRM(policy, reference, beta=beta, mode="single").score(CONTEXTS)
    accumulative = ImplicitPRM(policy, reference, beta=beta, mode="accumulative").score(CONTEXTS)
    for ctx, s, a in zip(CONTEXTS, single, accumulative, strict=True):
        steps = [*ctx.previous_steps, ctx.action]
        assert a == pytest.approx(q(ctx, steps), abs=1e-4)
        assert s == pytest.approx(q(ctx, steps) - q(ctx, steps[:-1]), abs=1e-4)
    # The same model as policy and reference gives zero process reward.
    same = ImplicitPRM(policy, policy, beta=beta).score(CONTEXTS)
    np.testing.assert_allclose(same, 0.0, atol=1e-6)


def test_implicit_prm_cache_scores_each_prefix_once_until_cleared() -> None:
    class Counting:  # every character has log-probability ``lp``; counts scored continuations
        def __init__(self, lp: float) -> None:
            self.lp, self.scored = lp, 0

        def logprobs(self, prompts: Any, conts: Any) -> list[list[float]]:
            self.scored += len(conts)
            return [[self.lp] * len(c) for c in conts]

    episode = [StepContext("q", ("ab", "c")[:k], ("ab", "c", "de")[k]) for k in range(3)]
    plain_pol, plain_ref = Counting(-1.0), Counting(-2.0)
    plain = ImplicitPRM(plain_pol, plain_ref, beta=0.1)
    pol, ref = Counting(-1.0), Counting(-2.0)
    cached = ImplicitPRM(pol, ref, beta=0.1, cache=True)
    for ctx in episode:  # one step at a time, as a ProcessReward wrapper scores an episode
        assert cached.score([ctx]) == pytest.approx(plain.score([ctx]))
    assert plain_pol.scored == 5 and pol.scored == 3  # Q_{k-1} came from the cache
    pol.lp = -3.0  # the weights change: stale until cleared
    assert cached.score([episode[1]])[0] == pytest.approx(0.2)  # 0.1 * 2 chars * (-1 + 2)
    cached.clear_cache()
    assert cached.score([episode[1]])[0] == pytest.approx(-0.2)  # 0.1 * 2 * (-3 + 2)


def test_implicit_prm_loss_is_bce_of_summed_log_ratio() -> None:
    pol = torch.tensor([[-1.0, -2.0, -0.5], [-3.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.5, -1.0, -1.0], [-1.0, -1.0, -2.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    outcomes = torch.tensor([1.0, 0.0])
    loss = implicit_prm_loss(pol, ref, outcomes, beta=0.1, mask=mask)
    r1, r2 = 0.1 * (0.5 - 1.0), 0.1 * (-2.0 + 0.0 + 1.0)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -(math.log(sig(r1)) + math.log(1 - sig(r2))) / 2
    assert float(loss) == pytest.approx(expected, abs=1e-6)


def test_train_implicit_prm_separates_outcomes(tiny: tuple[Any, Any]) -> None:
    from prm_gym.llm import TransformersBackend

    reference, tokenizer = tiny
    model = copy.deepcopy(reference)
    prompts = ["What is 2 + 3?"] * 8
    responses = ["2 + 3 = 5\n\\boxed{5}", "2 + 3 = 6\n\\boxed{6}"] * 4
    outcomes = [1.0, 0.0] * 4
    torch.manual_seed(0)
    losses = train_implicit_prm(
        model,
        reference,
        tokenizer,
        prompts,
        responses,
        outcomes,
        beta=0.1,
        lr=3e-3,
        epochs=8,
        batch_size=4,
    )
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    prm = ImplicitPRM(
        TransformersBackend(model, tokenizer),
        TransformersBackend(reference, tokenizer),
        beta=0.1,
        step_separator="",
    )
    good, bad = prm.prefix_rewards(prompts[:2], responses[:2])
    assert good > 0 > bad


# --------------------------------------------------------------------------------------------
# Monte-Carlo progress


class Walk(gym.Env[str, str]):
    """Toy env: four moves "+"/"-" on a line from 0; success iff the final position is >= 2."""

    def __init__(self) -> None:
        self.pos, self.t = 0, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return "0", {}

    def step(self, action: str) -> Any:
        self.pos += 1 if action == "+" else -1
        self.t += 1
        done = self.t == 4
        info = {"outcome": float(self.pos >= 2)} if done else {}
        return str(self.pos), info.get("outcome", 0.0), done, False, info

    def get_state(self) -> dict[str, int]:
        return {"pos": self.pos, "t": self.t}

    def set_state(self, state: dict[str, int]) -> None:
        self.pos, self.t = state["pos"], state["t"]


def test_mc_labels_on_a_toy_env_with_known_values() -> None:
    always_up = lambda obs, env: "+"  # noqa: E731
    labels = label_steps(Walk(), ["-", "-", "-", "+"], always_up, n_rollouts=3)
    # V(s) = 1[pos + moves left >= 2]: (0,4)→1, (−1,3)→1, (−2,2)→0, (−3,1)→0, end −2→0.
    assert labels.values.tolist() == [1, 1, 0, 0, 0]
    assert labels.progress.tolist() == [0, -1, 0, 0]
    assert labels.hard.tolist() == [1, 0, 0, 0]
    assert labels.soft.tolist() == [1, 0, 0, 0]
    assert labels.vsrm.tolist() == pytest.approx([-0.7, -1.0, 0.0, 0.0])

    rng = np.random.default_rng(0)
    coin = lambda obs, env: "+" if rng.random() < 0.5 else "-"  # noqa: E731
    # From (−1, 3) every remaining move must be "+": V = 0.5³.
    noisy = label_steps(Walk(), ["-"], coin, n_rollouts=800)
    assert noisy.values[1] == pytest.approx(0.125, abs=0.04)
    assert noisy.values[0] == pytest.approx(5 / 16, abs=0.05)  # ≥ 3 of 4 moves "+"

    scorer = MCProgress(Walk, always_up, n_rollouts=2, mode="progress")
    ctxs = [StepContext("", (), "-", task="walk"), StepContext("", ("-",), "-", task="walk")]
    assert scorer.score(ctxs).tolist() == [0.0, -1.0]
    hard = MCProgress(Walk, always_up, n_rollouts=2, mode="hard").score(ctxs)
    assert hard.tolist() == [1.0, 0.0]


class GoldContinuation:
    """A maths prover that continues with the task's gold steps from where the episode is.

    A wrong earlier step is carried into the answer (corrupted with probability ``carry``);
    otherwise the answer slips with probability ``slip``, so values are fractional.
    """

    def __init__(self, seed: int, slip: float = 0.2, carry: float = 0.9) -> None:
        self.rng = np.random.default_rng(seed)
        self.slip, self.carry = slip, carry

    def __call__(self, observation: str, env: Any) -> str:
        gold = env.task.metadata["gold_steps"]
        taken = [turn.action for turn in env.transcript.turns]
        step = gold[min(len(taken), len(gold) - 1)]
        if "\\boxed" in step:
            wrong_before = any(a != g for a, g in zip(taken, gold, strict=False))
            if self.rng.random() < (self.carry if wrong_before else self.slip):
                step = corrupt_answer(step, self.rng) or "\\boxed{-987654}"
        return str(step)


def test_mc_progress_ranks_corrupted_maths_steps_below_gold() -> None:
    env = gym.make("prm/Math-v0")
    scorer = MCProgress(lambda: gym.make("prm/Math-v0"), GoldContinuation(0), n_rollouts=16)
    rng = np.random.default_rng(0)
    compared = 0
    for seed in range(12):
        env.reset(seed=seed)
        task = env.unwrapped.task
        gold = task.metadata["gold_steps"]
        bad = corrupt_arithmetic(gold[0], rng) if len(gold) > 1 else None
        if bad is None:
            continue
        good_ctx = StepContext(task.prompt, (), gold[0], task=task)
        bad_ctx = StepContext(task.prompt, (), bad, task=task)
        good, corrupted = scorer.score([good_ctx, bad_ctx])
        assert good > corrupted
        soft = MCProgress(lambda: gym.make("prm/Math-v0"), GoldContinuation(1), 16, mode="soft")
        value = float(soft.score([good_ctx])[0])
        assert 0.0 < value < 1.0  # fractional: the prover slips
        compared += 1
        if compared == 3:
            break
    assert compared == 3


# --------------------------------------------------------------------------------------------
# LLM judge


class CannedBackend:
    """Implements the backend protocol; replies with canned texts and counts calls."""

    def __init__(self, replies: dict[str, str] | None = None, default: str = "Score: 7/10") -> None:
        self.replies = replies or {}
        self.default = default
        self.calls: list[int] = []

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Generation]]:
        self.calls.append(len(prompts))
        out = []
        for prompt in prompts:
            text = prompt[0]["content"] if isinstance(prompt, list) else prompt
            reply = next((r for key, r in self.replies.items() if key in text), self.default)
            out.append([Generation(reply)])
        return out

    def logprobs(self, prompts: Sequence[Any], continuations: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Score: 7/10", 0.7),
        ("7", 0.7),
        ("[[7]]", 0.7),
        ('{"score": 7}', 0.7),
        ('Reasoning... {"score": 3, "why": "slip"}', 0.3),
        ("The step is right.\nRating: 9", 0.9),
        ("score = 4 / 5", 0.8),
        ("Score: 12/10", 1.0),
    ],
)
def test_parse_score_formats(reply: str, expected: float) -> None:
    assert parse_score(reply) == pytest.approx(expected)


def test_judge_batches_caches_and_flags_failures() -> None:
    backend = CannedBackend({"2 + 3 = 6": "I cannot decide.", "x = 2": "[[10]]"})
    judge = LLMJudge(backend)
    wrong = StepContext("What is 2 + 3?", (), "2 + 3 = 6")
    batch = [CONTEXTS[0], wrong, CONTEXTS[2], CONTEXTS[0]]
    scores = judge.score(batch)
    assert scores.tolist() == pytest.approx([0.7, 0.0, 1.0, 0.7])
    assert backend.calls == [3]  # one generate call, repeated context sent once
    assert judge.n_failures == 1 and list(judge.failures) == ["I cannot decide."]
    again = judge.score(batch)
    assert again.tolist() == scores.tolist() and backend.calls == [3]  # all cached
    custom = LLMJudge(CannedBackend(default="garbage"), failure_score=-1.0, cache_size=0)
    assert custom.score([CONTEXTS[0]]).tolist() == [-1.0]


def test_judge_runs_end_to_end_with_a_tiny_transformers_backend(tiny: tuple[Any, Any]) -> None:
    from prm_gym.llm import TransformersBackend

    backend = TransformersBackend(*tiny)
    judge = LLMJudge(backend, params=SamplingParams(max_tokens=6, temperature=0.0))
    scores = judge.score(CONTEXTS)
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    # A random model rarely writes a score: each unparseable reply is counted, not hidden.
    assert judge.n_failures == len(judge.failures) <= 3


def test_importing_rewards_does_not_import_torch() -> None:
    code = (
        "import sys, prm_gym, prm_gym.rewards, prm_gym.wrappers\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from prm_gym.rewards import LLMJudge, MCProgress\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
