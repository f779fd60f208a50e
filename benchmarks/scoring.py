"""One batched PRM call per vector step vs one call per env, measured side by side.

16 prm/Math-v0 envs are scored by the same tiny transformer PRM (a randomly initialised
1-layer, 32-wide GPT-2 token classifier read by ``RewardHeadPRM``, with a BPE tokenizer trained
on the env's problems) in two ways:

* ``VectorProcessReward`` over a sync vector env: one ``score`` call (one padded forward pass)
  for all 16 sub-envs per vector step;
* 16 single envs, each wrapped in ``ProcessReward``, stepped in a loop: 16 calls of batch 1.

Every env writes the same scripted steps, so both do the same scoring work. Rounds interleave
the two setups and the minimum of each is reported, so background load affects both alike.
torch runs on one thread. On a CPU the gain is the per-call overhead (tokenizer call, Python
and kernel dispatch) saved by batching; for a larger model the forward pass itself dominates and
the gain shrinks (on a GPU it grows, since a batch of 16 costs about what a batch of 1 does).

    PYTHONPATH=. python benchmarks/scoring.py
"""

from __future__ import annotations

import time
import timeit
from typing import Any

import gymnasium as gym
import torch

import prm_gym  # noqa: F401
from prm_gym.core.scorer import StepContext
from prm_gym.rewards import RewardHeadPRM
from prm_gym.rewards.prm_training import SEPARATOR, _build_tokenizer, make_prm_dataset
from prm_gym.wrappers import ProcessReward
from prm_gym.wrappers.vector import VectorProcessReward

ENV_ID = "prm/Math-v0"
NUM_ENVS = 16
STEPS = 24  # vector steps per round (episodes truncate after 16 steps and reset)
ROUNDS = 5


def tiny_prm() -> RewardHeadPRM:
    from transformers import GPT2Config, GPT2ForTokenClassification

    texts = [s.prompt + "".join(s.steps) for s in make_prm_dataset(ENV_ID, 200, seed=0)]
    tokenizer = _build_tokenizer(texts, 1000)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=32,
        n_layer=1,
        n_head=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    config.num_labels = 2
    torch.manual_seed(0)
    model = GPT2ForTokenClassification(config)
    return RewardHeadPRM(model, tokenizer, separator=SEPARATOR)


def action(t: int) -> str:
    return f"Step {t + 1}: 12 * {t + 3} = {12 * (t + 3)} apples."


def vector_round(envs: Any) -> float:
    envs.reset(seed=0)
    start = time.perf_counter()
    for t in range(STEPS):
        envs.step([action(t % 16)] * NUM_ENVS)
    return (time.perf_counter() - start) / STEPS


def loop_round(envs: list[gym.Env[Any, Any]]) -> float:
    for i, env in enumerate(envs):
        env.reset(seed=i)
    start = time.perf_counter()
    for t in range(STEPS):
        for env in envs:
            _, _, terminated, truncated, _ = env.step(action(t % 16))
            if terminated or truncated:
                env.reset()
    return (time.perf_counter() - start) / STEPS


def scorer_only(scorer: RewardHeadPRM) -> tuple[float, float]:
    """Seconds for 16 real solution prefixes scored in one call, and one at a time."""
    contexts = [
        StepContext(prompt=s.prompt, previous_steps=s.steps[:-1], action=s.steps[-1])
        for s in make_prm_dataset(ENV_ID, NUM_ENVS, seed=1000)
    ]
    batched = min(timeit.repeat(lambda: scorer.score(contexts), number=5, repeat=ROUNDS)) / 5
    single = min(
        timeit.repeat(lambda: [scorer.score([c]) for c in contexts], number=5, repeat=ROUNDS)
    )
    return batched, single / 5


def main() -> None:
    torch.set_num_threads(1)
    scorer = tiny_prm()
    vector = VectorProcessReward(
        gym.make_vec(ENV_ID, num_envs=NUM_ENVS, vectorization_mode="sync"), scorer, coef=0.1
    )
    singles: list[gym.Env[Any, Any]] = [
        ProcessReward(gym.make(ENV_ID), scorer, coef=0.1) for _ in range(NUM_ENVS)
    ]
    times: dict[str, list[float]] = {"vector (1 call)": [], "loop (16 calls)": []}
    for _ in range(ROUNDS):
        times["vector (1 call)"].append(vector_round(vector))
        times["loop (16 calls)"].append(loop_round(singles))
    best = {name: min(v) for name, v in times.items()}
    print(
        f"{ENV_ID} x {NUM_ENVS}, tiny GPT-2 RewardHeadPRM, min of {ROUNDS} rounds of {STEPS} steps"
    )
    for name, value in best.items():
        print(f"  {name:<18} {value * 1e3:8.2f} ms per vector step")
    ratio = best["loop (16 calls)"] / best["vector (1 call)"]
    print(f"  speed-up of the batched call per vector step: x{ratio:.1f}")
    batched, single = scorer_only(scorer)
    print(
        f"  scorer alone, 16 whole solutions: 1 call {batched * 1e3:.2f} ms, 16 calls "
        f"{single * 1e3:.2f} ms, x{single / batched:.1f}"
    )


if __name__ == "__main__":
    main()
