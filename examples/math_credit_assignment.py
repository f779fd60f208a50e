"""From Math-v0 episodes to trainer-ready advantages: outcome, process, gated, PURE, PRIME.

Samples a group of K noisy solutions per task (each gold step is corrupted with probability
``--noise``), scores every step with the RuleVerifier through ``ProcessReward``, and turns the
group into the advantages a GRPO / RLOO / PRIME trainer would use. Run:

    python examples/math_credit_assignment.py --tasks 4 --group 4
"""

from __future__ import annotations

import argparse
import re

import gymnasium as gym
import numpy as np

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.credit import (
    group_normalized_advantages,
    min_form_rewards,
    prime_advantages,
    rloo_advantages,
)
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import GatedAccumulation, ProcessReward


def noisy_solution(gold: list[str], noise: float, rng: np.random.Generator) -> list[str]:
    """The gold steps, each with its last number bumped by one with probability ``noise``."""
    out = []
    for step in gold:
        if rng.random() < noise:
            step = re.sub(r"(\d+)(?!.*\d)", lambda m: str(int(m[1]) + 1), step)
        out.append(step)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--group", type=int, default=4, help="samples per task (K)")
    parser.add_argument("--noise", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    env = GatedAccumulation(ProcessReward(gym.make("prm/Math-v0"), RuleVerifier(), coef=1.0))
    for task_index in range(args.tasks):
        process, outcomes, gated_returns = [], [], []
        for _ in range(args.group):
            env.reset(seed=args.seed, options={"task_seed": args.seed + task_index})
            gold = list(env.unwrapped.task.metadata["gold_steps"])
            scores = []
            for step in noisy_solution(gold, args.noise, rng):
                *_, terminated, truncated, info = env.step(step)
                scores.append(info["reward_components"]["process"])
                if terminated or truncated:
                    break
            process.append(scores)
            outcomes.append(info["outcome"])
            gated_returns.append(sum(info["step_rewards"]))
        steps = max(len(p) for p in process)
        mask = np.array([[t < len(p) for t in range(steps)] for p in process])
        pr = np.array([p + [0.0] * (steps - len(p)) for p in process])
        print(f"\ntask {env.unwrapped.task.id}: {env.unwrapped.task.prompt[:70]}…")
        print("  outcomes               ", outcomes)
        print("  min step score (PURE ≈)", min_form_rewards(pr, mask=mask).sum(-1).round(2))
        print("  gated returns (G-RA)   ", np.round(gated_returns, 2))
        print("  RLOO on outcome        ", rloo_advantages(np.array(outcomes)).round(2))
        print("  GRPO on outcome        ", group_normalized_advantages(np.array(outcomes)).round(2))
        adv, _ = prime_advantages(pr, np.array(outcomes), mask, group_size=args.group)
        print("  PRIME first-step adv.  ", adv[:, 0].round(2))


if __name__ == "__main__":
    main()
