"""Throughput of prm/Push-v0, measured side by side in one run with random actions.

(a) steps/s of ``gym.make("prm/Push-v0")`` against Gymnasium's ``gym.make("Pusher-v5")`` (both
    with their default wrappers, the same number of steps, uniform random actions in each
    env's action space, reset when an episode ends), with the ratio (target >= 1.0x);
(b) steps/s of ``PotentialShaping(env, StagedPotential("prm/Push-v0"), gamma=1.0)`` on the same
    actions as the bare env, with the overhead (target <= 10%) and the cost of Φ alone;
(c) a hook, :func:`extra_workloads`, where the learned-potential overhead and an 8-env vector
    batched forward pass are added (not measured yet).

Every workload is warmed up first, then timed with ``time.perf_counter`` in interleaved rounds
(so drifts in machine load hit all of them alike); the table reports the median round.

Usage::

    PYTHONPATH=. python benchmarks/manipulation_env.py [--steps 20000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

import prm_gym
from prm_gym.envs.manipulation import StagedPotential
from prm_gym.wrappers import PotentialShaping

TARGET_SPEED_RATIO = 1.0
TARGET_SHAPING_OVERHEAD = 0.10


@dataclass
class Workload:
    """A named timed job: ``run(n)`` performs n env steps (or calls) and returns n."""

    name: str
    unit: str
    run: Callable[[int], int]
    rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def random_actions(env: gym.Env[Any, Any], n: int, seed: int) -> np.ndarray:
    """``n`` uniform random actions from the env's Box action space (fixed seed)."""
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    rng = np.random.default_rng(seed)
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(space.dtype)


def stepper(env: gym.Env[Any, Any], actions: np.ndarray) -> Callable[[int], int]:
    """A job that steps ``env`` through ``actions`` (cycled), resetting at episode ends."""
    env.reset(seed=0)

    def run(n: int) -> int:
        for i in range(n):
            _, _, terminated, truncated, _ = env.step(actions[i % len(actions)])
            if terminated or truncated:
                env.reset()
        return n

    return run


def potential_calls(potential: StagedPotential, observations: list[Any]) -> Callable[[int], int]:
    """A job that evaluates Φ on recorded observations (the potential's own cost)."""

    def run(n: int) -> int:
        for i in range(n):
            potential(observations[i % len(observations)], {})
        return n

    return run


def extra_workloads(steps: int) -> list[Workload]:
    """HOOK for the learned-potential benchmarks (owned by the progress-model work, issue 3).

    Add here, measured in the same interleaved rounds as the rest:

    - ``PotentialShaping(gym.make("prm/Push-v0"), <learned progress potential>, gamma=1.0)``
      steps/s, to report its overhead beside the staged potential's;
    - an 8-env vector env (``gym.make_vec("prm/Push-v0", num_envs=8)``) whose potential is
      scored with one batched forward pass per vector step, in env-steps/s.

    Return them as :class:`Workload` objects; :func:`main` times and prints whatever is here.
    """
    del steps
    return []


def measure(workloads: list[Workload], steps: int, warmup: int, rounds: int) -> None:
    for w in workloads:
        w.run(warmup)
    for _ in range(rounds):
        for w in workloads:
            start = time.perf_counter()
            done = w.run(steps)
            w.rates.append(done / (time.perf_counter() - start))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20000, help="steps per workload and round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="3000 steps, 1 round")
    args = parser.parse_args()
    steps, rounds = (3000, 1) if args.quick else (args.steps, args.rounds)
    warmup = min(1000, steps)

    pusher = gym.make("Pusher-v5")
    push = gym.make("prm/Push-v0")
    shaped = PotentialShaping(
        gym.make("prm/Push-v0"), StagedPotential("prm/Push-v0"), gamma=1.0, name="shaping"
    )
    push_actions = random_actions(push, steps, seed=1)

    recorder = gym.make("prm/Push-v0")
    obs, _ = recorder.reset(seed=0)
    recorded = [obs]
    for action in push_actions[:1000]:
        obs, *_ = recorder.step(action)
        recorded.append(obs)

    w_pusher = Workload("Pusher-v5 (Gymnasium)", "steps/s",
                        stepper(pusher, random_actions(pusher, steps, seed=1)))  # fmt: skip
    w_push = Workload("prm/Push-v0", "steps/s", stepper(push, push_actions))
    w_shaped = Workload("PotentialShaping(Push, StagedPotential)", "steps/s",
                        stepper(shaped, push_actions))  # fmt: skip
    w_phi = Workload("StagedPotential alone, Φ(obs)", "calls/s",
                     potential_calls(StagedPotential("prm/Push-v0"), recorded))  # fmt: skip
    extra = extra_workloads(steps)
    measure([w_pusher, w_push, w_shaped, w_phi, *extra], steps, warmup, rounds)

    print(f"prm/Push-v0 benchmark — prm_gym {prm_gym.__version__}, MuJoCo {mujoco.__version__}, "
          f"Gymnasium {gym.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}")  # fmt: skip
    print(f"{steps} steps per workload, {warmup} warm-up, {rounds} timed round(s), median shown")
    print("random actions, single env, default gym.make wrappers\n")
    width = 44
    print(f"{'workload':<{width}} {'rate':>12}  unit")
    print("-" * (width + 26))

    def row(w: Workload) -> None:
        print(f"{w.name:<{width}} {w.rate:>12,.0f}  {w.unit}")

    def line(label: str, value: str) -> None:
        print(f"{label:<{width}} {value}")

    print("(a) env speed")
    row(w_pusher)
    row(w_push)
    speed = w_push.rate / w_pusher.rate
    verdict = "met" if speed >= TARGET_SPEED_RATIO else "NOT met"
    line("  ratio Push-v0 / Pusher-v5", f"{speed:>11.2f}x  target >= {TARGET_SPEED_RATIO:g}x: "
         f"{verdict}")  # fmt: skip
    print("\n(b) shaping overhead (same actions)")
    row(w_shaped)
    row(w_phi)
    overhead = w_push.rate / w_shaped.rate - 1.0
    verdict = "met" if overhead <= TARGET_SHAPING_OVERHEAD else "NOT met"
    line("  overhead PotentialShaping+StagedPotential",
         f"{100 * overhead:>11.1f}%  target <= {100 * TARGET_SHAPING_OVERHEAD:g}%: "
         f"{verdict}")  # fmt: skip
    line("  per-step cost: wrapper + Φ", f"{1e6 * (1 / w_shaped.rate - 1 / w_push.rate):>11.1f} µs")
    line("  per-step cost: Φ alone", f"{1e6 / w_phi.rate:>11.1f} µs")
    print("\n(c) learned potentials (hook: extra_workloads)")
    if not extra:
        print("  not measured yet")
    for w in extra:
        row(w)


if __name__ == "__main__":
    main()
