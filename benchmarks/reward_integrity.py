"""Reward-integrity table: every hack policy's mean return next to the gold policy's, for every
registered env, under the family's raw per-step sum (where it has one) and under ``make_dense``.

    python benchmarks/reward_integrity.py                      # all envs, 30 tasks, coefs 0.1 and 1
    python benchmarks/reward_integrity.py --envs prm/Math-v0 --episodes 10

Prints a summary table (the README's "Reward integrity" table: per env, stack and coefficient,
the gold's mean return next to the best hack's), then every row, then a verdict per env: the
``make_dense`` rows must stay below the gold; the raw rows show how a per-step sum is farmed.
"""

from __future__ import annotations

import argparse
import sys
import time

import prm_gym
from prm_gym.core.assets import family_assets
from prm_gym.testing import IntegrityReport, check_reward_integrity


def summary_rows(report: IntegrityReport) -> list[str]:
    """Per (stack, coef): the gold's mean return and the best hack's, as Markdown rows."""
    rows = []
    keys = dict.fromkeys((r.stack, r.coef) for r in report.rows)
    for stack, coef in keys:
        group = [r for r in report.rows if r.stack == stack and r.coef == coef]
        gold = next(r for r in group if r.is_gold)
        best = max((r for r in group if not r.is_gold), key=lambda r: r.mean_return)
        name = "make_dense" if stack == "dense" else stack
        verdict = "**hack ≥ gold**" if best.mean_return >= gold.mean_return - 1e-9 else "gold"
        rows.append(
            f"| {report.env_id} | {name} | {coef:g} | {gold.mean_return:.3f} | {best.policy} "
            f"| {best.mean_return:.3f} | {verdict} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=sorted(prm_gym.ENV_IDS))
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--coefs", nargs="*", type=float, default=[0.1, 1.0])
    args = parser.parse_args(argv)
    lines: list[str] = []
    summary = [
        "| env | stack | coef | gold | best hack | its return | pays more |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts: list[str] = []
    for env_id in args.envs:
        start = time.perf_counter()
        raw = family_assets(env_id).make_raw is not None
        report = check_reward_integrity(
            env_id, episodes=args.episodes, coefs=tuple(args.coefs), raw=raw
        )
        summary.extend(summary_rows(report))
        table = report.to_markdown().splitlines()
        lines.extend(table if not lines else table[2:])
        failed = sorted({r.policy for r in report.failures})
        verdict = "OK" if report.ok else f"FAILED {failed}"
        verdicts.append(f"{env_id}: {verdict} ({time.perf_counter() - start:.1f} s)")
    print("\n".join(summary))
    print()
    print("\n".join(lines))
    print()
    print("\n".join(verdicts))
    return 0 if all(v.split(": ")[1].startswith("OK") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
