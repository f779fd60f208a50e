"""Throughput of prm/Math-v0, measured side by side in one run on the same answers.

(a) single-turn episodes/s (reset + one step with a whole solution + answer check) against bare
    ``math_verify.parse`` + ``math_verify.verify`` calls/s on the same (gold, predicted) answer
    strings, with the ratio env / math-verify (target >= 3x);
(b) multi-step steps/s with a scripted agent that plays the gold steps;
(c) steps/s of the bare env against ``ProcessReward(env, RuleVerifier())`` (and with
    ``GatedAccumulation`` on top) and the recommended dense stack ``prm_gym.make_dense``
    (``ProgressReward(env, MathProgress())``), with the overhead ratios.

Predicted answers mix equal plain numbers, ``a/b`` fractions, ``\\frac{a}{b}``, decimals and wrong
numbers. Every workload is warmed up first, then timed with ``time.perf_counter`` in interleaved
rounds; the table reports the median round.

Usage::

    PYTHONPATH=. python benchmarks/math_env.py [--episodes 2000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import gymnasium as gym

import prm_gym
from prm_gym.envs.math import MathConfig, generate
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import GatedAccumulation, ProcessReward

FORMS = ("equal", "slash", "latex_frac", "decimal", "wrong")
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Case:
    """One task and one predicted final answer for it."""

    task_seed: int
    gold: str
    predicted: str
    form: str
    expected: bool
    solution: str
    gold_steps: tuple[str, ...]


def _decimal(value: Fraction) -> str | None:
    """``value`` as a terminating decimal with a trailing zero (``12.0``, ``0.750``), if any."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return None
    text = f"{float(value):.6f}".rstrip("0")
    return text + "0"


def predicted_answer(gold: str, form: str) -> tuple[str, bool]:
    """A predicted answer of the given form and whether it equals ``gold``."""
    value = Fraction(gold)
    num, den = value.numerator, value.denominator
    if form == "equal":
        return gold, True
    if form == "slash":
        return (f"{2 * num}/2" if den == 1 else f"{num}/{den}"), True
    if form == "latex_frac":
        n, d = (2 * num, 2) if den == 1 else (num, den)
        sign = "-" if n < 0 else ""
        return f"{sign}\\frac{{{abs(n)}}}{{{d}}}", True
    if form == "decimal":
        text = _decimal(value)
        if text is not None:
            return text, True
        return f"\\frac{{{num}}}{{{den}}}", True
    wrong = value + 1
    return (str(wrong.numerator) if wrong.denominator == 1 else f"{wrong}"), False


def build_cases(n: int) -> list[Case]:
    config = MathConfig()
    cases = []
    for i in range(n):
        seed = 10_000 + i
        task = generate(config, seed)
        gold = str(task.answer)
        form = FORMS[i % len(FORMS)]
        predicted, expected = predicted_answer(gold, form)
        steps = tuple(task.metadata["gold_steps"])
        final = f"Step {len(steps)}: The answer is \\boxed{{{predicted}}}."
        solution = "\n".join([*steps[:-1], final])
        cases.append(Case(seed, gold, predicted, form, expected, solution, steps))
    return cases


# --------------------------------------------------------------------------------------------
# Workloads: each runs over all cases and returns (units done, results for checking)


def run_single_turn(env: gym.Env[Any, Any], cases: list[Case]) -> tuple[int, list[bool]]:
    outcomes = []
    for case in cases:
        env.reset(options={"task_seed": case.task_seed})
        _, reward, _, _, _ = env.step(case.solution)
        outcomes.append(float(reward) == 1.0)
    return len(cases), outcomes


def run_math_verify(cases: list[Case]) -> tuple[int, list[bool]]:
    from math_verify import parse, verify

    results = []
    for case in cases:
        # Wrapped as LaTeX like the env's fallback; default timeouts (we are on the main thread).
        gold = parse(f"${case.gold}$")
        pred = parse(f"${case.predicted}$")
        results.append(bool(verify(gold, pred)))
    return len(cases), results


def run_multi_step(env: gym.Env[Any, Any], cases: list[Case]) -> tuple[int, list[bool]]:
    steps = 0
    outcomes = []
    for case in cases:
        env.reset(options={"task_seed": case.task_seed})
        reward: Any = 0.0
        for action in case.gold_steps:
            _, reward, terminated, truncated, _ = env.step(action)
            steps += 1
            if terminated or truncated:
                break
        outcomes.append(float(reward) >= 1.0)
    return steps, outcomes


@dataclass
class Measurement:
    name: str
    unit: str
    fn: Callable[[list[Case]], tuple[int, list[bool]]]
    rates: list[float]
    results: list[bool] | None = None

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def measure(measurements: list[Measurement], cases: list[Case], warmup: int, rounds: int) -> None:
    for m in measurements:
        m.fn(cases[:warmup])
    for _ in range(rounds):
        for m in measurements:  # interleaved, so drift affects every workload alike
            start = time.perf_counter()
            units, results = m.fn(cases)
            elapsed = time.perf_counter() - start
            m.rates.append(units / elapsed)
            m.results = results


def agreement(results: list[bool] | None, cases: list[Case]) -> str:
    assert results is not None
    ok = sum(r == c.expected for r, c in zip(results, cases, strict=True))
    return f"{100.0 * ok / len(cases):.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=2000, help="episodes per workload")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="300 episodes, 1 round")
    args = parser.parse_args()
    n, rounds = (300, 1) if args.quick else (args.episodes, args.rounds)
    warmup = min(100, n)

    cases = build_cases(n)
    single = gym.make("prm/Math-v0", single_turn=True)
    bare = gym.make("prm/Math-v0")
    process = ProcessReward(gym.make("prm/Math-v0"), RuleVerifier())
    gated = GatedAccumulation(ProcessReward(gym.make("prm/Math-v0"), RuleVerifier()))
    dense = prm_gym.make_dense("prm/Math-v0")

    st = Measurement("Math-v0 single-turn (reset+step+check)", "episodes/s",
                     lambda c: run_single_turn(single, c), [])  # fmt: skip
    mv = Measurement("math-verify parse+parse+verify", "calls/s", run_math_verify, [])
    ms = Measurement("Math-v0 multi-step, bare env", "steps/s",
                     lambda c: run_multi_step(bare, c), [])  # fmt: skip
    pr = Measurement("ProcessReward(env, RuleVerifier())", "steps/s",
                     lambda c: run_multi_step(process, c), [])  # fmt: skip
    ga = Measurement("GatedAccumulation(ProcessReward(...))", "steps/s",
                     lambda c: run_multi_step(gated, c), [])  # fmt: skip
    md = Measurement("make_dense (ProgressReward, MathProgress)", "steps/s",
                     lambda c: run_multi_step(dense, c), [])  # fmt: skip
    measure([st, mv, ms, pr, ga, md], cases, warmup, rounds)

    mix = Counter(c.form for c in cases)
    print(f"prm/Math-v0 benchmark — prm_gym {prm_gym.__version__}, Python "
          f"{platform.python_version()}, {platform.machine()}")  # fmt: skip
    print(f"{n} episodes per workload, {warmup} warm-up, {rounds} timed round(s), median shown")
    print("answer forms: " + ", ".join(f"{k} {v}" for k, v in mix.items()))
    steps_per_episode = sum(len(c.gold_steps) for c in cases) / n
    print(f"gold steps per episode: {steps_per_episode:.2f}\n")

    width = 44
    print(f"{'workload':<{width}} {'rate':>12}  unit")
    print("-" * (width + 26))

    def row(m: Measurement) -> None:
        print(f"{m.name:<{width}} {m.rate:>12,.0f}  {m.unit}")

    def ratio(label: str, value: float, note: str = "") -> None:
        print(f"{label:<{width}} {value:>11.2f}x  {note}".rstrip())

    print("(a) single-turn answer checking")
    row(st)
    row(mv)
    verdict = "met" if st.rate / mv.rate >= TARGET_RATIO else "NOT met"
    ratio("  ratio env / math-verify", st.rate / mv.rate, f"target >= {TARGET_RATIO:g}x: {verdict}")
    print(f"  agrees with expected verdict: env {agreement(st.results, cases)}, "
          f"math-verify {agreement(mv.results, cases)}")  # fmt: skip
    print("\n(b) multi-step, scripted gold agent")
    row(ms)
    print(f"  {'= episodes/s':<{width - 2}} {ms.rate / steps_per_episode:>12,.0f}")
    print("\n(c) wrapper overhead (same scripted agent, same tasks)")
    row(pr)
    row(ga)
    row(md)
    ratio("  slowdown ProcessReward vs bare", ms.rate / pr.rate)
    ratio("  slowdown Gated(ProcessReward) vs bare", ms.rate / ga.rate)
    ratio("  slowdown make_dense vs bare", ms.rate / md.rate)
    print(f"  per-step overhead of ProcessReward: {1e6 * (1 / pr.rate - 1 / ms.rate):.0f} µs")
    for m in (ms, pr, ga, md):
        assert m.results is not None and all(m.results), f"{m.name}: a gold episode failed"


if __name__ == "__main__":
    main()
