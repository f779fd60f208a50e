"""Throughput of prm/Push-v0, measured side by side in one run with random actions.

(a) steps/s of ``gym.make("prm/Push-v0")`` against Gymnasium's ``gym.make("Pusher-v5")`` (both
    with their default wrappers, the same number of steps, uniform random actions in each
    env's action space, reset when an episode ends), with the ratio (target >= 1.0x);
(b) steps/s of ``PotentialShaping(env, StagedPotential("prm/Push-v0"), gamma=1.0)`` on the same
    actions as the bare env, with the overhead (target <= 10%) and the cost of Φ alone;
(c) :func:`extra_workloads`: PotentialShaping with a LearnedProgressPotential (overhead, target
    <= 25%), and an 8-env sync vector env of Push-v0 bare, with VectorPotentialShaping scoring
    Φ in one batched ``batch`` call per vector step, and with Φ called per sub-env.

Every workload is warmed up first, then timed with ``time.perf_counter`` in interleaved rounds
(so drifts in machine load hit all of them alike); the table reports the median round.

Usage::

    PYTHONPATH=. python benchmarks/manipulation_env.py [--steps 20000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
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
from prm_gym.rewards.progress import LearnedProgressPotential
from prm_gym.wrappers import PotentialShaping
from prm_gym.wrappers.vector import VectorPotentialShaping

TARGET_SPEED_RATIO = 1.0
TARGET_SHAPING_OVERHEAD = 0.10
TARGET_LEARNED_OVERHEAD = 0.25
ENV_ID = "prm/Push-v0"
N_VEC = 8
LEARNED_NAME = "PotentialShaping(Push, LearnedProgressPot.)"
VEC_BARE = f"{N_VEC} x Push-v0 sync vector env, no shaping"
VEC_BATCHED = "  + VectorPotentialShaping, learned, batched"
VEC_UNBATCHED = "  + VectorPotentialShaping, learned, per env"


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


def fit_learned_potential() -> LearnedProgressPotential:
    """A small LearnedProgressPotential for Push-v0 from a few expert demos (a few seconds).

    The data only changes the weights; the per-call cost depends on the network's shape alone
    (the default (64, 64) hidden layers), which is what this benchmark measures.
    """
    return LearnedProgressPotential.from_experts(
        ENV_ID, n_demos=10, random_starts=20, epochs=60, seed=0, progress=False
    )


class _Unbatched:
    """Hides a potential's ``batch`` so VectorPotentialShaping calls Φ once per sub-env."""

    def __init__(self, potential: LearnedProgressPotential) -> None:
        self.potential = potential

    def __call__(self, observation: Any, info: Any = None, /) -> float:
        return self.potential(observation, info)


def vector_stepper(envs: gym.vector.VectorEnv[Any, Any, Any], seed: int) -> Callable[[int], int]:
    """A job that steps a vector env with random actions; ``run(n)`` counts n *env* steps."""
    space = envs.action_space
    assert isinstance(space, gym.spaces.Box)
    rng = np.random.default_rng(seed)
    actions = rng.uniform(space.low, space.high, size=(256, *space.shape)).astype(space.dtype)
    envs.reset(seed=0)
    n_envs = envs.num_envs

    def run(n: int) -> int:
        vector_steps = max(1, n // n_envs)
        for i in range(vector_steps):
            envs.step(actions[i % len(actions)])  # autoreset: no manual resets
        return vector_steps * n_envs

    return run


def extra_workloads(steps: int, push_actions: np.ndarray) -> list[Workload]:
    """The learned-potential workloads (issue 3), timed in the same rounds as the rest.

    - ``PotentialShaping(Push-v0, LearnedProgressPotential)`` on the same actions as the bare
      env (its overhead is reported against ``TARGET_LEARNED_OVERHEAD``);
    - ``gym.make_vec("prm/Push-v0", num_envs=8, vectorization_mode="sync")`` bare, wrapped in
      ``VectorPotentialShaping`` with the learned potential evaluated by one ``batch`` call per
      vector step, and wrapped with the same potential called once per sub-env (unbatched).

    The learned model is the small one :func:`fit_learned_potential` fits; its network has the
    default (64, 64) hidden layers, so the per-call cost is that of the default model.
    """
    del steps
    learned = fit_learned_potential()
    shaped = PotentialShaping(gym.make(ENV_ID), learned, gamma=1.0, name="shaping")

    def vec() -> gym.vector.VectorEnv[Any, Any, Any]:
        return gym.make_vec(ENV_ID, num_envs=N_VEC, vectorization_mode="sync")

    return [
        Workload(LEARNED_NAME, "steps/s", stepper(shaped, push_actions)),
        Workload(VEC_BARE, "env steps/s", vector_stepper(vec(), seed=2)),
        Workload(
            VEC_BATCHED,
            "env steps/s",
            vector_stepper(VectorPotentialShaping(vec(), learned, gamma=1.0), seed=2),
        ),
        Workload(
            VEC_UNBATCHED,
            "env steps/s",
            vector_stepper(VectorPotentialShaping(vec(), _Unbatched(learned), gamma=1.0), seed=2),
        ),
    ]


def measure(workloads: list[Workload], steps: int, warmup: int, rounds: int) -> None:
    for w in workloads:
        w.run(warmup)
    for _ in range(rounds):
        for w in workloads:
            start = time.perf_counter()
            done = w.run(steps)
            w.rates.append(done / (time.perf_counter() - start))


def make_pusher() -> gym.Env[Any, Any]:
    """Gymnasium's ``Pusher-v5``, or exit with what to install (it needs ``imageio``)."""
    if importlib.util.find_spec("imageio") is None:
        raise SystemExit(
            "manipulation_env.py: error: the comparison with Gymnasium's Pusher-v5 needs the "
            "imageio package, which Gymnasium's MuJoCo envs import: pip install 'prm-gym[bench]' "
            "(or pip install imageio)"
        )
    return gym.make("Pusher-v5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20000, help="steps per workload and round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="3000 steps, 1 round")
    args = parser.parse_args()
    steps, rounds = (3000, 1) if args.quick else (args.steps, args.rounds)
    warmup = min(1000, steps)

    pusher = make_pusher()
    push = gym.make(ENV_ID)
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
    extra = extra_workloads(steps, push_actions)
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
    by_name = {w.name: w for w in extra}
    w_learned = by_name.get(LEARNED_NAME)
    if w_learned is not None:
        row(w_learned)
        overhead = w_push.rate / w_learned.rate - 1.0
        verdict = "met" if overhead <= TARGET_LEARNED_OVERHEAD else "NOT met"
        line(
            "  overhead PotentialShaping+Learned",
            f"{100 * overhead:>11.1f}%  target <= {100 * TARGET_LEARNED_OVERHEAD:g}%: {verdict}",
        )
        line(
            "  per-step cost: wrapper + Φ",
            f"{1e6 * (1 / w_learned.rate - 1 / w_push.rate):>11.1f} µs",
        )
    w_bare, w_batched, w_unbatched = (
        by_name.get(n) for n in (VEC_BARE, VEC_BATCHED, VEC_UNBATCHED)
    )
    if w_bare is not None and w_batched is not None and w_unbatched is not None:
        row(w_bare)
        row(w_batched)
        row(w_unbatched)
        line(
            "  batched vs no shaping",
            f"{w_batched.rate / w_bare.rate:>11.2f}x  "
            f"(overhead {100 * (w_bare.rate / w_batched.rate - 1):.1f}%)",
        )
        line("  batched vs per-env Φ", f"{w_batched.rate / w_unbatched.rate:>11.2f}x")
        line(
            "  Φ cost per vector step: batched",
            f"{1e6 * N_VEC * (1 / w_batched.rate - 1 / w_bare.rate):>11.1f} µs",
        )
        line(
            "  Φ cost per vector step: per env",
            f"{1e6 * N_VEC * (1 / w_unbatched.rate - 1 / w_bare.rate):>11.1f} µs",
        )
    known = {LEARNED_NAME, VEC_BARE, VEC_BATCHED, VEC_UNBATCHED}
    for w in extra:
        if w.name not in known:
            row(w)


if __name__ == "__main__":
    main()
