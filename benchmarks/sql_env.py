"""Throughput of prm/SQL-v0, measured side by side in one run on the same queries.

(a) oracle-agent episodes/s: reset on a pre-generated task + one ``<solution>gold</solution>``
    step (the gold result cached after the first episode of a task, as in training where a task
    is replayed many times), and the same with the task generated at reset (``task_seed``);
(b) the env's time per solution check (``env.step`` with ``<solution>predicted</solution>``:
    tag extraction, guarded execution of the predicted query, cached gold result, Spider-style
    comparison) next to raw ``sqlite3`` executing the same two queries (gold + predicted) and
    comparing their rows as multisets, with the ratio env / raw (target <= 2x).

Predicted queries are the gold query (right) for half of the cases and the gold query of another
task on the same database (almost always wrong) for the other half. Every workload is warmed up
first, then timed with ``time.perf_counter`` in interleaved rounds; the table reports the median
round. Databases are built into a temporary cache directory.

Usage::

    PYTHONPATH=. python benchmarks/sql_env.py [--tasks 300] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import prm_gym
from prm_gym.core import Task
from prm_gym.envs.sql import SQLConfig, SQLEnv, generate

TARGET_RATIO = 2.0


@dataclass(frozen=True)
class Case:
    """One task and one predicted query for it."""

    task: Task
    predicted: str


def build_cases(config: SQLConfig, n: int) -> list[Case]:
    tasks = [generate(config, 50_000 + i) for i in range(n)]
    by_db: dict[str, list[Task]] = defaultdict(list)
    for t in tasks:
        by_db[t.metadata["db_path"]].append(t)
    cases = []
    for i, t in enumerate(tasks):
        if i % 2 == 0:
            cases.append(Case(t, t.answer))
        else:
            same_db = by_db[t.metadata["db_path"]]
            other = same_db[(same_db.index(t) + 1) % len(same_db)]
            cases.append(Case(t, other.answer))
    return cases


def oracle_episodes(env: SQLEnv, cases: list[Case]) -> tuple[float, list[bool]]:
    outcomes = []
    start = time.perf_counter()
    for case in cases:
        env.reset(options={"task": case.task})
        _, reward, _, _, _ = env.step(f"<solution>{case.task.answer}</solution>")
        outcomes.append(float(reward) == 1.0)
    return time.perf_counter() - start, outcomes


def oracle_generated(env: SQLEnv, seeds: list[int]) -> tuple[float, list[bool]]:
    outcomes = []
    start = time.perf_counter()
    for seed in seeds:
        env.reset(options={"task_seed": seed})
        answer = env.task.answer  # type: ignore[union-attr]
        _, reward, _, _, _ = env.step(f"<solution>{answer}</solution>")
        outcomes.append(float(reward) == 1.0)
    return time.perf_counter() - start, outcomes


def env_checks(env: SQLEnv, cases: list[Case]) -> tuple[float, list[bool]]:
    """Time spent in ``env.step`` on the solution only (resets not timed)."""
    elapsed = 0.0
    outcomes = []
    for case in cases:
        env.reset(options={"task": case.task})
        action = f"<solution>{case.predicted}</solution>"
        start = time.perf_counter()
        _, reward, _, _, _ = env.step(action)
        elapsed += time.perf_counter() - start
        outcomes.append(float(reward) == 1.0)
    return elapsed, outcomes


def env_checks_uncached(env: SQLEnv, cases: list[Case]) -> tuple[float, list[bool]]:
    """As :func:`env_checks`, with the gold cache emptied before every check."""
    elapsed = 0.0
    outcomes = []
    for case in cases:
        env.reset(options={"task": case.task})
        env.checker.clear_gold_cache()
        action = f"<solution>{case.predicted}</solution>"
        start = time.perf_counter()
        _, reward, _, _, _ = env.step(action)
        elapsed += time.perf_counter() - start
        outcomes.append(float(reward) == 1.0)
    return elapsed, outcomes


def raw_checks(conns: dict[str, sqlite3.Connection], cases: list[Case]) -> tuple[float, list[bool]]:
    """Plain sqlite3: execute gold and predicted, compare rows as multisets."""
    outcomes = []
    start = time.perf_counter()
    for case in cases:
        conn = conns[case.task.metadata["db_path"]]
        gold = conn.execute(case.task.answer).fetchall()
        pred = conn.execute(case.predicted).fetchall()
        outcomes.append(Counter(gold) == Counter(pred))
    return time.perf_counter() - start, outcomes


@dataclass
class Measurement:
    name: str
    fn: Callable[[], tuple[float, list[bool]]]
    units: int
    times: list[float]
    results: list[bool] | None = None

    @property
    def per_unit_us(self) -> float:
        return 1e6 * statistics.median(self.times) / self.units

    @property
    def rate(self) -> float:
        return self.units / statistics.median(self.times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=300, help="tasks (and checks) per workload")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="100 tasks, 1 round")
    args = parser.parse_args()
    n, rounds = (100, 1) if args.quick else (args.tasks, args.rounds)

    with tempfile.TemporaryDirectory() as cache:
        config = SQLConfig(cache_dir=cache)
        start = time.perf_counter()
        cases = build_cases(config, n)
        gen_rate = n / (time.perf_counter() - start)
        env = SQLEnv(cache_dir=cache)
        conns = {
            path: sqlite3.connect(path) for path in {c.task.metadata["db_path"] for c in cases}
        }
        seeds = [90_000 + i for i in range(n)]
        workloads = [
            Measurement("oracle episodes, pre-generated tasks", lambda: oracle_episodes(env, cases),
                        n, []),
            Measurement("oracle episodes, task generated at reset",
                        lambda: oracle_generated(env, seeds), n, []),
            Measurement("env solution check (step)", lambda: env_checks(env, cases), n, []),
            Measurement("env solution check, gold not cached",
                        lambda: env_checks_uncached(env, cases), n, []),
            Measurement("raw sqlite3 gold + predicted", lambda: raw_checks(conns, cases), n, []),
        ]  # fmt: skip
        for m in workloads:  # warm-up: connections, gold cache, sqlglot caches
            m.fn()
        for _ in range(rounds):
            for m in workloads:  # interleaved, so drift affects every workload alike
                elapsed, results = m.fn()
                m.times.append(elapsed)
                m.results = results
        env.close()
        for conn in conns.values():
            conn.close()

    episodes, generated, check, uncached, raw = workloads
    print(f"prm/SQL-v0 benchmark — prm_gym {prm_gym.__version__}, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{platform.machine()}")  # fmt: skip
    patterns = Counter(c.task.metadata["pattern"] for c in cases)
    print(f"{n} tasks over {len(conns)} databases and {len(patterns)} patterns, "
          f"{rounds} timed round(s), median shown")  # fmt: skip
    print(f"task generation: {gen_rate:,.0f} tasks/s\n")
    width = 44
    print("(a) oracle agent")
    for m in (episodes, generated):
        print(f"{m.name:<{width}} {m.rate:>10,.0f} episodes/s")
    print("\n(b) solution check, same (gold, predicted) pairs")
    for m in (check, uncached, raw):
        print(f"{m.name:<{width}} {m.per_unit_us:>10,.0f} µs/check")
    for label, m in (("cached gold", check), ("gold not cached", uncached)):
        ratio = m.per_unit_us / raw.per_unit_us
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"{'  ratio env / raw sqlite3, ' + label:<{width}} {ratio:>10.2f}x  "
              f"target <= {TARGET_RATIO:g}x: {verdict}")  # fmt: skip
    assert episodes.results and all(episodes.results), "an oracle episode failed"
    assert generated.results and all(generated.results), "an oracle episode failed"
    agree = sum(a == b for a, b in zip(check.results or [], raw.results or [], strict=True))
    print(
        f"  env and raw multiset comparison agree on {agree}/{n} verdicts "
        "(differences: ORDER BY or column-permutation cases)"
    )


if __name__ == "__main__":
    main()
