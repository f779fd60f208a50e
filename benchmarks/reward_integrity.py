"""Reward-integrity table: every hack policy's mean return next to the gold policy's, for every
registered env, under the family's raw per-step sum (where it has one) and under ``make_dense``.

    python benchmarks/reward_integrity.py                      # all envs, 30 tasks, coefs 0.1 and 1
    python benchmarks/reward_integrity.py --envs prm/Math-v0 --episodes 10

Prints one Markdown table (the README's "Reward integrity" table) and a verdict per env: the
``make_dense`` rows must stay below the gold; the raw rows show how a per-step sum is farmed.
"""

from __future__ import annotations

import argparse
import sys
import time

import prm_gym
from prm_gym.core.assets import family_assets
from prm_gym.testing import check_reward_integrity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=sorted(prm_gym.ENV_IDS))
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--coefs", nargs="*", type=float, default=[0.1, 1.0])
    args = parser.parse_args(argv)
    lines: list[str] = []
    verdicts: list[str] = []
    for env_id in args.envs:
        start = time.perf_counter()
        raw = family_assets(env_id).make_raw is not None
        report = check_reward_integrity(
            env_id, episodes=args.episodes, coefs=tuple(args.coefs), raw=raw
        )
        table = report.to_markdown().splitlines()
        lines.extend(table if not lines else table[2:])
        failed = sorted({r.policy for r in report.failures})
        verdict = "OK" if report.ok else f"FAILED {failed}"
        verdicts.append(f"{env_id}: {verdict} ({time.perf_counter() - start:.1f} s)")
    print("\n".join(lines))
    print()
    print("\n".join(verdicts))
    return 0 if all(v.split(": ")[1].startswith("OK") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
