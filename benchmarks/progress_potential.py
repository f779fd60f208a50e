"""Cost of shaping prm/Push-v0 with the learned progress potential, measured side by side.

Prints µs per env step for the bare env, PotentialShaping with a zero potential (the wrapper's
own cost), with the hand-written StagedPotential and with a LearnedProgressPotential (hidden
(64, 64)), the ratios to the bare env, and the cost of one potential call. Rounds interleave
the setups and the minimum of each is reported, so background load affects all alike.

    PYTHONPATH=. python benchmarks/progress_potential.py
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import prm_gym  # noqa: F401
from prm_gym.envs.manipulation import StagedPotential
from prm_gym.rewards.progress import LearnedProgressPotential
from prm_gym.wrappers import PotentialShaping

ENV_ID = "prm/Push-v0"
STEPS = 5_000
ROUNDS = 7


def us_per_step(env: gym.Env[Any, Any], action: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(STEPS):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return (time.perf_counter() - start) / STEPS * 1e6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``--help`` prints what the benchmark measures and exits without running it."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Takes no options; see the module docstring for the method.",
    )
    return parser.parse_args(argv)


def main() -> None:
    parse_args()
    learned = LearnedProgressPotential.from_experts(ENV_ID, seed=0, progress=False)
    staged = StagedPotential(ENV_ID)
    zero: Callable[[Any, Any], float] = lambda obs, info: 0.0  # noqa: E731
    setups: dict[str, gym.Env[Any, Any]] = {
        "bare env": gym.make(ENV_ID),
        "shaping, zero potential": PotentialShaping(gym.make(ENV_ID), zero, 0.95),
        "shaping, StagedPotential": PotentialShaping(gym.make(ENV_ID), staged, 0.95),
        "shaping, LearnedProgressPotential": PotentialShaping(gym.make(ENV_ID), learned, 0.95),
    }
    action = np.array([0.3, -0.2, 0.0, 0.5], dtype=np.float32)
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(ROUNDS):
        for name, env in setups.items():
            times[name].append(us_per_step(env, action))
    base = min(times["bare env"])
    print(f"{ENV_ID}: µs per env step (min of {ROUNDS} rounds of {STEPS} steps)")
    for name, values in times.items():
        best = min(values)
        print(f"  {name:<36} {best:7.1f} µs   x{best / base:.3f}")
    obs, info = gym.make(ENV_ID).reset(seed=0)
    for name, phi in (("StagedPotential", staged), ("LearnedProgressPotential", learned)):
        n = 20_000
        cost = min(timeit.repeat(lambda phi=phi: phi(obs, info), number=n, repeat=5)) / n * 1e6
        print(f"  one {name} call: {cost:.2f} µs")
    batch = {k: np.repeat(v[None], 64, axis=0) for k, v in obs.items()}
    n = 2_000
    cost = min(timeit.repeat(lambda: learned.batch(batch), number=n, repeat=5)) / n * 1e6
    print(f"  LearnedProgressPotential.batch of 64: {cost:.1f} µs ({cost / 64:.2f} µs per obs)")


if __name__ == "__main__":
    main()
