"""Sample efficiency of SAC on prm/Push-v0: sparse reward, + HER, + staged or learned potential.

Four variants by default, ``--seeds`` seeds each (default 3), every run with the same SAC
settings (:data:`SHARED`: n_envs, train_freq, gradient_steps, learning_starts, network, learning
rate, batch size, γ, and one fixed input normalisation from noisy scripted-expert episodes)
and the same env-step budget:

(a) sparse        the env's own reward (−1 per step away from the goal), no shaping;
(b) sparse+HER    the same with hindsight experience replay (future strategy, 4 goals);
(c) staged+HER    + PotentialShaping with the hand-written StagedPotential (scale 10), HER
                  through ShapedHerReplayBuffer (relabelled goals get their own shaping term);
(d) learned+HER   the same with a LearnedProgressPotential (scale 10) fitted per seed on
                  scripted-expert demos (:meth:`LearnedProgressPotential.from_experts`).

``--variants`` also offers the shaped variants without HER (``staged``, ``learned``). Shaping
is compared on top of HER because HER is the standard learner for these goal-conditioned
tasks; ``ShapedHerReplayBuffer`` keeps the shaping exact for relabelled goals.

Without ``--steps`` the per-run budget is computed: one short calibration run (learned+HER, the
slowest variant: goal relabelling plus the progress model's forward pass) measures training
env-steps/s, one untrained evaluation measures the cost of an evaluation point, one potential
fit measures its cost, and the budget is the largest that fits ``--minutes`` (default 60) for
all runs. It is printed.

Prints, per variant, the env steps to reach 80% success (mean over seeds; seeds that never
reach it count as the budget and the mean is shown as a lower bound "≥") and the ratio to
sparse+HER; writes one CSV per run and a PNG of success rate against env steps (mean ± min/max
band over seeds) to ``--out``.

Usage::

    PYTHONPATH=. python benchmarks/sample_efficiency.py                 # ≈ 1 hour on 2 cores
    PYTHONPATH=. python benchmarks/sample_efficiency.py --quick         # 1 seed, ≈ 3 minutes
    PYTHONPATH=. python benchmarks/sample_efficiency.py --steps 2000 --seeds 1   # smoke run
    PYTHONPATH=. python benchmarks/sample_efficiency.py --env prm/Reach-v0 --steps 8000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

import prm_gym
from prm_gym.agents.curves import LearningCurve
from prm_gym.agents.sb3 import EVAL_SEED_OFFSET, evaluate, train
from prm_gym.rewards.progress import LearnedProgressPotential

ENV_ID = "prm/Push-v0"
THRESHOLD = 0.8
SHAPING_SCALE = 10.0
#: Evaluation points per run (plus the one at step 0).
EVAL_POINTS = 20
EVAL_EPISODES = 20
#: SAC settings shared by every variant and seed.
SHARED: dict[str, Any] = {
    "algo": "sac",
    "n_envs": 4,
    "train_freq": 1,
    "gradient_steps": 2,
    "learning_starts": 1_000,
    "gamma": 0.95,
    "obs_norm": "experts",
    "algo_kwargs": {
        "policy_kwargs": {"net_arch": [128, 128]},
        "learning_rate": 1e-3,
        "batch_size": 256,
    },
}
#: label -> (shaping, her): every variant ``--variants`` accepts.
ALL_VARIANTS: dict[str, tuple[str, bool]] = {
    "sparse": ("none", False),
    "sparse+HER": ("none", True),
    "staged+HER": ("potential", True),
    "learned+HER": ("learned", True),
    "staged": ("potential", False),
    "learned": ("learned", False),
}
#: The default variants (the headline table).
VARIANTS: tuple[str, ...] = ("sparse", "sparse+HER", "staged+HER", "learned+HER")
BASELINE = "sparse+HER"


@dataclass
class Calibration:
    train_steps_per_s: float
    eval_s: float
    fit_s: float
    budget: int


@dataclass
class VariantResult:
    label: str
    curves: list[LearningCurve] = field(default_factory=list)

    def steps_to(self, budget: int) -> tuple[float, int]:
        """(mean steps to THRESHOLD with unreached seeds counted as ``budget``, seeds reached)."""
        hits = [c.steps_to(THRESHOLD) for c in self.curves]
        reached = sum(h is not None for h in hits)
        return float(np.mean([budget if h is None else h for h in hits])), reached


def fit_learned(seed: int, env_id: str = ENV_ID) -> LearnedProgressPotential:
    return LearnedProgressPotential.from_experts(
        env_id, seed=seed, scale=SHAPING_SCALE, progress=False
    )


def run_one(
    label: str,
    seed: int,
    budget: int,
    out: Path,
    potentials: dict[int, LearnedProgressPotential],
    progress: bool,
    eval_episodes: int = EVAL_EPISODES,
    env_id: str = ENV_ID,
    eval_every: int | None = None,
    stop_at: float | None = None,
) -> LearningCurve:
    """Train one variant/seed; evaluate every ``eval_every`` steps (default: budget / 20).

    With ``stop_at`` the run ends at the first evaluation with success ≥ ``stop_at``.
    """
    shaping, her = ALL_VARIANTS[label]
    potential = None
    if shaping == "learned":
        if seed not in potentials:
            potentials[seed] = fit_learned(seed, env_id)
        potential = potentials[seed]
    if eval_every is None:
        eval_every = default_eval_every(budget)
    return train(
        env_id,
        shaping=shaping,
        her=her,
        potential=potential,
        shaping_scale=SHAPING_SCALE,
        total_timesteps=budget,
        seed=seed,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        progress_bar=progress,
        log_path=_csv_path(out, label, seed),
        torch_threads=1,
        stop_at=stop_at,
        **SHARED,
    )


def default_eval_every(budget: int) -> int:
    """Env steps between evaluations when ``--eval-every`` is not given: budget / EVAL_POINTS."""
    return max(int(SHARED["n_envs"]), budget // EVAL_POINTS)


def calibrate(
    minutes: float,
    n_runs: int,
    n_seeds: int,
    calib_steps: int,
    potentials: dict[int, LearnedProgressPotential],
    jobs: int = 1,
    env_id: str = ENV_ID,
) -> Calibration:
    """Measure training speed, evaluation and fit cost; return the budget that fits ``minutes``.

    The runs are spread over ``jobs`` processes (one torch thread each), so the wall-clock time
    available to each run is ``jobs`` times the per-run share of ``minutes``. The calibration
    itself runs in one process while the others idle, so on a machine with fewer free cores than
    ``jobs`` the budget is too large and the benchmark overruns ``minutes``.
    """
    t0 = time.perf_counter()
    potentials[0] = fit_learned(0, env_id)
    fit_s = time.perf_counter() - t0

    from stable_baselines3 import SAC

    env = gym.make(env_id)
    model = SAC("MultiInputPolicy", env, policy_kwargs=SHARED["algo_kwargs"]["policy_kwargs"])
    start = time.perf_counter()
    evaluate(model, env, EVAL_EPISODES, seed=EVAL_SEED_OFFSET)
    eval_s = time.perf_counter() - start  # an untrained policy runs full-length episodes: upper
    env.close()  # bound

    # Learning from the start of the calibration run, so its speed is the training speed. The
    # slowest variant: HER relabelling plus the progress model's forward pass per replayed batch.
    settings = {**SHARED, "learning_starts": min(200, calib_steps // 4)}
    curve = train(
        env_id,
        shaping="learned",
        potential=potentials[0],
        her=True,
        total_timesteps=calib_steps,
        seed=0,
        eval_every=calib_steps,
        eval_episodes=1,
        progress_bar=False,
        torch_threads=1,
        **settings,
    )
    wall = float(curve.config["wall_time_s"])
    sps = calib_steps / max(wall, 1e-6)

    # per run: budget / sps + (EVAL_POINTS + 1) evaluations; learned potential: one fit per seed
    # (seed 0's fit is done already).
    available = 60.0 * minutes - (time.perf_counter() - t0)
    available -= (fit_s * (n_seeds - 1) + n_runs * (EVAL_POINTS + 2) * eval_s) / jobs
    unit = int(SHARED["n_envs"]) * EVAL_POINTS
    budget = max(unit, int(available * jobs / n_runs * sps) // unit * unit)
    return Calibration(sps, eval_s, fit_s, budget)


def mean_band(
    curves: Sequence[LearningCurve],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, mean, min, max) of the success rate over seeds, on the longest curve's steps.

    A shorter curve (a run ended by ``--stop-at``) counts at its last evaluated success rate
    after its end.
    """
    steps = np.asarray(max(curves, key=lambda c: len(c.steps)).steps, dtype=float)
    rates = np.stack([np.interp(steps, c.steps, c.success_rate) for c in curves])
    return steps, rates.mean(axis=0), rates.min(axis=0), rates.max(axis=0)


def plot(results: Sequence[VariantResult], path: Path, title: str) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in results:
        steps, mean, lo, hi = mean_band(r.curves)
        (line,) = ax.plot(steps, mean, marker="o", markersize=3, label=r.label)
        if len(r.curves) > 1:
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(THRESHOLD, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def report(results: Sequence[VariantResult], budget: int) -> list[str]:
    """The summary table: steps to THRESHOLD per variant and the ratio to sparse+HER."""
    stats = {r.label: r.steps_to(budget) for r in results}
    n = {r.label: len(r.curves) for r in results}
    base_mean, base_reached = stats[BASELINE]
    base_censored = base_reached < n[BASELINE]
    pct = f"{THRESHOLD:.0%}"
    header = (
        f"{'variant':<20} {'steps to ' + pct:>16} {'seeds reached':>14} "
        f"{'ratio to ' + BASELINE:>20} {'final success':>14}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        mean, reached = stats[r.label]
        censored = reached < n[r.label]
        steps_txt = f"{'≥ ' if censored else ''}{mean:,.0f}" if reached else "not reached"
        ratio = mean / base_mean if base_mean > 0 else math.nan
        if r.label == BASELINE:
            ratio_txt = "1.00"
        elif censored and base_censored:
            ratio_txt = "n/a (both censored)"
        elif censored:
            ratio_txt = f"≥ {ratio:.2f}"
        elif base_censored:
            ratio_txt = f"≤ {ratio:.2f}"
        else:
            ratio_txt = f"{ratio:.2f}"
        final = np.mean([c.success_rate[-1] for c in r.curves])
        lines.append(
            f"{r.label:<20} {steps_txt:>16} {f'{reached}/{n[r.label]}':>14} "
            f"{ratio_txt:>20} {final:>14.2f}"
        )
    lines.append(
        f"steps to {pct}: first evaluation with success ≥ {pct}, mean over seeds; a seed that "
        f"never reaches it counts as the budget ({budget:,}), making the mean a lower bound (≥). "
        f"ratio < 1: fewer env steps than {BASELINE}."
    )
    return lines


def _timed_run(
    label: str,
    seed: int,
    budget: int,
    out: Path,
    progress: bool,
    env_id: str = ENV_ID,
    eval_every: int | None = None,
    stop_at: float | None = None,
) -> tuple[LearningCurve, float]:
    """One run in this process (a worker process with ``--jobs`` > 1): (curve, wall seconds)."""
    th.set_num_threads(1)
    start = time.perf_counter()
    curve = run_one(
        label,
        seed,
        budget,
        out,
        _POTENTIALS,
        progress,
        env_id=env_id,
        eval_every=eval_every,
        stop_at=stop_at,
    )
    return curve, time.perf_counter() - start


_POTENTIALS: dict[int, LearnedProgressPotential] = {}
"""Learned potentials fitted in this process, per seed (each worker process fits its own)."""


def _print_run(label: str, seed: int, curve: LearningCurve, seconds: float) -> None:
    hit = curve.steps_to(THRESHOLD)
    print(
        f"  {label:<18} seed {seed}: final success {curve.success_rate[-1]:.2f}, "
        f"{THRESHOLD:.0%} at {'—' if hit is None else f'{hit:,}'}, {seconds:.0f} s",
        flush=True,
    )


def _csv_path(out: Path, label: str, seed: int) -> Path:
    return out / f"{label.replace('+', '_').replace(' ', '_')}_seed{seed}.csv"


def from_csv(
    out: Path,
    variants: Sequence[str],
    n_seeds: int,
    budget: int,
    stop_at: float | None,
    env_id: str = ENV_ID,
) -> list[str]:
    """Print (and return) the table and write the PNG from the per-run CSVs in ``out``.

    Seeds without a CSV are skipped; a run whose CSV ends before ``budget`` without reaching
    ``stop_at`` (still training, or killed) is listed as incomplete and left out of the table.
    """
    results = []
    lines: list[str] = []
    for label in variants:
        result = VariantResult(label)
        for seed in range(n_seeds):
            path = _csv_path(out, label, seed)
            if not path.exists():
                lines.append(f"{label} seed {seed}: no CSV ({path})")
                continue
            curve = LearningCurve.from_csv(path)
            last_step, last_rate = curve.steps[-1], curve.success_rate[-1]
            stopped = stop_at is not None and last_rate >= stop_at and last_step > 0
            hit = curve.steps_to(THRESHOLD)
            if last_step < budget and not stopped:
                lines.append(
                    f"{label} seed {seed}: incomplete, {last_step:,} steps so far, success "
                    f"{last_rate:.2f} (max {max(curve.success_rate):.2f}); left out"
                )
                continue
            lines.append(
                f"{label} seed {seed}: {THRESHOLD:.0%} at "
                f"{'not reached (> ' + f'{budget:,})' if hit is None else f'{hit:,}'}, "
                f"last evaluation {last_step:,} steps, success {last_rate:.2f}"
            )
            result.curves.append(curve)
        if result.curves:
            results.append(result)
    for line in lines:
        print(line)
    if any(r.label == BASELINE for r in results):
        table = report(results, budget)
        print()
        for text in table:
            print(text)
        lines += table
    if results:
        n = max(len(r.curves) for r in results)
        png = plot(
            results,
            out / "success_vs_steps.png",
            f"SAC on {env_id}: success rate, mean and min–max over {n} seed(s)",
        )
        print(f"\n{png} written")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env",
        default=ENV_ID,
        choices=["prm/Reach-v0", "prm/Push-v0", "prm/PickPlace-v0"],
        help=f"environment ({ENV_ID}; prm/Reach-v0 is a fast check)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (3)")
    parser.add_argument(
        "--steps", type=int, default=None, help="env steps per run (default: computed)"
    )
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="wall-clock target for the computed budget"
    )
    parser.add_argument(
        "--calib-steps", type=int, default=3_000, help="env steps of the calibration run"
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, a ≈ 3-minute budget")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/out/sample_efficiency"), help="output dir"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="runs trained at once, one process and one torch thread each (default: 2 or the "
        "number of CPUs if fewer)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(ALL_VARIANTS),
        default=list(VARIANTS),
        metavar="VARIANT",
        help=f"variants to run, from {', '.join(ALL_VARIANTS)} (default: {' '.join(VARIANTS)}); "
        f"must include {BASELINE}",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="env steps between evaluations (default: budget / 20; the README's Push table "
        "used 6000)",
    )
    parser.add_argument(
        "--stop-at",
        type=float,
        default=None,
        metavar="SUCCESS",
        help="end a run at its first evaluation with success >= SUCCESS (e.g. 0.8), recording "
        "the step; its curve stops there (default: every run uses the whole budget)",
    )
    parser.add_argument(
        "--from-csv",
        action="store_true",
        help="train nothing: rebuild the table and PNG from the per-run CSVs already in --out "
        "(--steps is the budget; a run whose CSV ends early without reaching --stop-at is "
        "reported as incomplete)",
    )
    parser.add_argument("--progress", action="store_true", help="tqdm bars on stderr")
    args = parser.parse_args()
    if args.quick:
        args.seeds = 1
        args.minutes = 3.0
        args.calib_steps = min(args.calib_steps, 1_200)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be >= 1")
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if args.eval_every is not None and args.eval_every < 1:
        parser.error("--eval-every must be >= 1")
    if args.stop_at is not None and not 0.0 < args.stop_at <= 1.0:
        parser.error("--stop-at must be in (0, 1]")
    if BASELINE not in args.variants:
        parser.error(f"--variants must include {BASELINE} (the ratios are to it)")
    variants = list(dict.fromkeys(args.variants))
    if args.from_csv:
        if args.steps is None:
            parser.error("--from-csv needs --steps (the budget the runs were given)")
        from_csv(args.out, variants, args.seeds, args.steps, args.stop_at, args.env)
        return
    th.set_num_threads(1)
    seeds = list(range(args.seeds))
    n_runs = len(variants) * len(seeds)
    potentials = _POTENTIALS  # calibration's fit for seed 0 is reused by in-process runs

    print(
        f"SAC sample efficiency on {args.env} — prm_gym {prm_gym.__version__}, torch "
        f"{th.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPU(s), {args.jobs} run(s) at once, 1 torch thread each"
    )
    print(f"shared settings: {SHARED}")
    print(f"variants: {', '.join(variants)}; seeds {seeds}; shaping scale {SHAPING_SCALE:g}")
    total_start = time.perf_counter()
    if args.steps is None:
        cal = calibrate(
            args.minutes,
            n_runs,
            len(seeds),
            args.calib_steps,
            potentials,
            jobs=args.jobs,
            env_id=args.env,
        )
        budget = cal.budget
        print(
            f"calibration: {cal.train_steps_per_s:,.0f} training env steps/s (learned+HER, "
            f"{args.calib_steps:,} steps), {cal.eval_s:.2f} s per evaluation of "
            f"{EVAL_EPISODES} episodes, {cal.fit_s:.1f} s per learned-potential fit"
        )
        print(
            f"budget: {budget:,} env steps per run x {n_runs} runs to fit {args.minutes:g} minutes"
        )
    else:
        budget = args.steps
        print(f"budget: {budget:,} env steps per run x {n_runs} runs (--steps)")
    eval_every = args.eval_every or default_eval_every(budget)
    stop_txt = "" if args.stop_at is None else f"; a run stops once success >= {args.stop_at:g}"
    print(
        f"evaluation: {EVAL_EPISODES} deterministic episodes every {eval_every:,} env steps"
        f"{stop_txt}\n",
        flush=True,
    )

    results = {label: VariantResult(label) for label in variants}
    # Seed-major order, so that with several jobs the seeds of one variant do not all run at once
    # and an interrupted benchmark still has every variant for the first seeds.
    tasks = [(label, seed) for seed in seeds for label in variants]
    runs: dict[tuple[str, int], tuple[LearningCurve, float]] = {}
    if args.jobs == 1:
        for label, seed in tasks:
            runs[(label, seed)] = _timed_run(
                label, seed, budget, args.out, args.progress, args.env, eval_every, args.stop_at
            )
            _print_run(label, seed, *runs[(label, seed)])
    else:
        # "spawn": fresh interpreters, no fork of a process holding torch/MuJoCo state.
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
            futures = {
                pool.submit(
                    _timed_run,
                    label,
                    seed,
                    budget,
                    args.out,
                    False,
                    args.env,
                    eval_every,
                    args.stop_at,
                ): (label, seed)
                for label, seed in tasks
            }
            for future in concurrent.futures.as_completed(futures):
                label, seed = futures[future]
                runs[(label, seed)] = future.result()
                _print_run(label, seed, *runs[(label, seed)])
    for label, seed in tasks:
        results[label].curves.append(runs[(label, seed)][0])

    print()
    for text in report(list(results.values()), budget):
        print(text)
    png = plot(
        list(results.values()),
        args.out / "success_vs_steps.png",
        f"SAC on {args.env}: success rate, mean and min–max over {len(seeds)} seed(s)",
    )
    print(
        f"\nCSV per run and {png} written to {args.out}/; total "
        f"{(time.perf_counter() - total_start) / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
