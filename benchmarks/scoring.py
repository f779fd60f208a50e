"""One batched PRM call per vector step vs one call per env, measured side by side.

16 prm/Math-v0 envs are scored by the same tiny transformer PRM (a randomly initialised
1-layer, 32-wide GPT-2 token classifier read by ``RewardHeadPRM``, with a BPE tokenizer trained
on the env's problems) in two ways:

* ``VectorProcessReward`` over a sync vector env: one ``score`` call (one padded forward pass)
  for all 16 sub-envs per vector step;
* 16 single envs, each wrapped in ``ProcessReward``, stepped in a loop: 16 calls of batch 1.

Both sides use the *same scorer object* and every env writes the same scripted steps, so both do
the same scoring work. The comparison is run for two settings of that scorer:

* ``cache_size=0``: every call tokenises and runs each whole transcript (prompt and all earlier
  steps) again, so the cost of a step grows with the episode;
* ``cache_size=64`` (the recommended setting for step-by-step scoring): the scorer keeps each
  transcript's key/value cache and runs only the new step against it. Both sides get the cache
  (64 entries hold all 16 episodes of either side); what batching still saves is the per-call
  cost -- Python and kernel dispatch of every layer, building the mask and inputs -- paid once
  instead of 16 times. Both sides also take the same reuse path of that cache: each call's
  rows continue, in order, the rows of one earlier call (the 16 sub-envs' previous vector step
  on the vector side; the same env's previous call, a batch of 1, in the loop), so the scorer
  extends that call's cache as it is instead of copying per-transcript caches into a new
  padded batch. The tokenizer's own work per step text (pre-tokenising, BPE) is the same on
  both sides, as is the first step of each episode, which runs the whole prompt.

Two times are reported per vector step: the whole step (env stepping, wrapper and scoring) and
the time spent inside ``scorer.score`` alone (a timing proxy around the shared scorer). The env
stepping is the same work on both sides, so it narrows the end-to-end ratio. Rounds interleave
the two sides and the minimum of each is reported, so background load affects both alike.
torch runs on one thread. For a larger model the forward pass itself dominates and the gain of
batching on a CPU shrinks; on a GPU it grows, since a batch of 16 costs about what a batch of 1
does.

    PYTHONPATH=. python benchmarks/scoring.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
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
ROUNDS = 8


class TimedScorer:
    """Forwards ``score`` to a scorer and adds up the seconds spent in it."""

    def __init__(self, scorer: RewardHeadPRM) -> None:
        self.scorer = scorer
        self.seconds = 0.0

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self.scorer.score(contexts)
        finally:
            self.seconds += time.perf_counter() - start


def tiny_prm(cache_size: int) -> RewardHeadPRM:
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
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.num_labels = 2
    torch.manual_seed(0)
    model = GPT2ForTokenClassification(config)
    return RewardHeadPRM(model, tokenizer, separator=SEPARATOR, cache_size=cache_size)


def action(t: int) -> str:
    return f"Step {t + 1}: 12 * {t + 3} = {12 * (t + 3)} apples."


def vector_round(envs: Any, timer: TimedScorer) -> tuple[float, float]:
    envs.reset(seed=0)
    timer.seconds = 0.0
    start = time.perf_counter()
    for t in range(STEPS):
        envs.step([action(t % 16)] * NUM_ENVS)
    return (time.perf_counter() - start) / STEPS, timer.seconds / STEPS


def loop_round(envs: list[gym.Env[Any, Any]], timer: TimedScorer) -> tuple[float, float]:
    for i, env in enumerate(envs):
        env.reset(seed=i)
    timer.seconds = 0.0
    start = time.perf_counter()
    for t in range(STEPS):
        for env in envs:
            _, _, terminated, truncated, _ = env.step(action(t % 16))
            if terminated or truncated:
                env.reset()
    return (time.perf_counter() - start) / STEPS, timer.seconds / STEPS


def compare(cache_size: int) -> None:
    timer = TimedScorer(tiny_prm(cache_size))
    vector = VectorProcessReward(
        gym.make_vec(ENV_ID, num_envs=NUM_ENVS, vectorization_mode="sync"), timer, coef=0.1
    )
    singles: list[gym.Env[Any, Any]] = [
        ProcessReward(gym.make(ENV_ID), timer, coef=0.1) for _ in range(NUM_ENVS)
    ]
    times: dict[str, list[tuple[float, float]]] = {"vector (1 call)": [], "loop (16 calls)": []}
    for _ in range(ROUNDS):
        times["vector (1 call)"].append(vector_round(vector, timer))
        times["loop (16 calls)"].append(loop_round(singles, timer))
        timer.scorer.clear_cache()
    step = {name: min(t for t, _ in v) for name, v in times.items()}
    scoring = {name: min(s for _, s in v) for name, v in times.items()}
    print(f"cache_size={cache_size}:")
    for name in times:
        print(
            f"  {name:<18} {step[name] * 1e3:8.2f} ms per vector step, of which scoring "
            f"{scoring[name] * 1e3:7.2f} ms"
        )
    print(
        f"  speed-up of the batched call: x{step['loop (16 calls)'] / step['vector (1 call)']:.1f}"
        f" per vector step, x{scoring['loop (16 calls)'] / scoring['vector (1 call)']:.1f} "
        "in the scorer"
    )
    vector.close()
    for env in singles:
        env.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``--help`` prints what the benchmark measures and exits without running it."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Takes no options; see the module docstring for the method.",
    )
    return parser.parse_args(argv)


def main() -> None:
    parse_args()
    torch.set_num_threads(1)
    print(
        f"{ENV_ID} x {NUM_ENVS}, tiny GPT-2 RewardHeadPRM, min of {ROUNDS} rounds of {STEPS} steps"
    )
    for cache_size in (0, 4 * NUM_ENVS):
        compare(cache_size)


if __name__ == "__main__":
    main()
