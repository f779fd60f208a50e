"""The main job, ``prm-gym demo``: a scripted noisy solver on prm/Math-v0 under four reward
setups (outcome only; + the raw process reward of the RuleVerifier; + gating with G-RA; the
recommended hack-resistant stack ``prm_gym.make_dense``), the reward-integrity kit's hacking
policies against the raw sum and ``make_dense``, then a short SAC run on prm/Reach-v0 with the
staged potential against the sparse reward.

The numbers come from :func:`demo_rows` and :func:`rl_rows` (lists of dicts);
:func:`format_demo_table`, :func:`interpret_demo`, :func:`format_rl_table` and
:func:`interpret_rl` turn them into text.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import prm_gym
from prm_gym.core.scorer import Scorer, StepContext
from prm_gym.envs.math.experts import NoiseLevel, NoisySolver

__all__ = [
    "DEFAULT_NOISE_LEVELS",
    "RL_SAC_SETTINGS",
    "RL_VARIANTS",
    "SETUPS",
    "EpisodeRecord",
    "demo_records",
    "demo_rows",
    "format_demo_table",
    "format_hack_rows",
    "format_rl_table",
    "hack_rows",
    "interpret_demo",
    "interpret_rl",
    "rl_rows",
    "summarize_records",
]

SETUPS: tuple[str, ...] = (
    "outcome only",
    "+ process (RuleVerifier)",
    "+ process, gated (G-RA)",
    "make_dense (progress form)",
)

#: Solver noise levels the demo runs by default: clean, two levels of arithmetic slips with
#: correct answers (outcomes tie with the clean solver), and slips plus wrong answers.
DEFAULT_NOISE_LEVELS: tuple[NoiseLevel, ...] = (
    NoiseLevel(0.0, 0.0),
    NoiseLevel(0.2, 0.0),
    NoiseLevel(0.5, 0.0),
    NoiseLevel(0.2, 0.3),
)


class _RecordingScorer:
    """Wraps a scorer and keeps every score it returns (to compare flags with injected errors)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.scores: list[float] = []

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        scores = np.asarray(self.scorer.score(contexts), dtype=np.float32)
        self.scores.extend(float(s) for s in scores.reshape(-1))
        return scores


@dataclass(frozen=True)
class EpisodeRecord:
    """One demo episode.

    Attributes:
        task_id: The task played.
        outcome: ``info["outcome"]`` on the final step.
        process: Episode sum of the ``"process"`` (ProcessReward) or ``"progress"``
            (``make_dense``'s ProgressReward) component; 0 without either.
        gate: Episode sum of the ``"gate"`` component (0 without GatedAccumulation).
        episode_return: Sum of the rewards ``step`` returned.
        injected: Per step, the error the solver injected (``"slip"``, ``"answer"`` or ``None``).
        flagged: Per step, whether the verifier scored it as incorrect (empty without a verifier).
    """

    task_id: str
    outcome: float
    process: float
    gate: float
    episode_return: float
    injected: tuple[str | None, ...]
    flagged: tuple[bool, ...]


def _make_setup(setup: str, coef: float) -> tuple[gym.Env[Any, Any], _RecordingScorer | None]:
    from prm_gym.rewards import RuleVerifier
    from prm_gym.wrappers import GatedAccumulation, ProcessReward

    if setup == SETUPS[3]:
        return prm_gym.make_dense("prm/Math-v0", coef=coef), None
    env: gym.Env[Any, Any] = gym.make("prm/Math-v0")
    if setup == SETUPS[0]:
        return env, None
    recorder = _RecordingScorer(RuleVerifier())
    env = ProcessReward(env, recorder, coef=coef)
    if setup == SETUPS[2]:
        env = GatedAccumulation(env, threshold=1.0)
    return env, recorder


def _run_episode(
    env: gym.Env[Any, Any],
    recorder: _RecordingScorer | None,
    noise: NoiseLevel,
    episode_seed: int,
    solver_seed: Sequence[int],
) -> EpisodeRecord:
    env.reset(seed=episode_seed)
    task = env.unwrapped.task  # type: ignore[attr-defined]
    plan = NoisySolver(noise, np.random.default_rng(list(solver_seed))).plan(task)
    if recorder is not None:
        recorder.scores.clear()
    total = process = gate = 0.0
    info: dict[str, Any] = {}
    for action, _ in plan:
        _, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        components = info.get("reward_components", {})
        process += float(components.get("process", 0.0)) + float(components.get("progress", 0.0))
        gate += float(components.get("gate", 0.0))
        if terminated or truncated:
            break
    else:
        raise RuntimeError(f"task {task.id}: the gold steps ended without ending the episode")
    flagged = tuple(s < 0 for s in recorder.scores) if recorder is not None else ()
    return EpisodeRecord(
        task_id=task.id,
        outcome=float(info.get("outcome", 0.0)),
        process=process,
        gate=gate,
        episode_return=total,
        injected=tuple(kind for _, kind in plan),
        flagged=flagged,
    )


def demo_records(
    episodes: int = 200,
    seed: int = 0,
    coef: float = 0.1,
    noise_levels: Sequence[NoiseLevel] = DEFAULT_NOISE_LEVELS,
    progress: bool = False,
) -> list[tuple[NoiseLevel, str, list[EpisodeRecord]]]:
    """Play the noisy solver on prm/Math-v0 under every noise level and reward setup.

    Episode ``i`` uses task seed ``seed + i`` at every noise level, and the solver's random
    choices depend only on ``(seed, noise level index, i)``, so the three setups of one noise
    level score exactly the same actions.

    Args:
        episodes: Episodes per noise level.
        seed: Base seed.
        coef: ProcessReward coefficient.
        noise_levels: Solver noise levels to run.
        progress: Show a tqdm progress bar over episodes on stderr.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not math.isfinite(coef):
        raise ValueError(f"coef must be a finite number, got {coef}")
    from tqdm.auto import tqdm

    envs = {setup: _make_setup(setup, coef) for setup in SETUPS}
    results: list[tuple[NoiseLevel, str, list[EpisodeRecord]]] = []
    bar = tqdm(
        total=episodes * len(noise_levels),
        desc="demo episodes",
        unit="ep",
        disable=not progress,
        file=sys.stderr,
    )
    try:
        for level_index, noise in enumerate(noise_levels):
            per_setup: dict[str, list[EpisodeRecord]] = {setup: [] for setup in SETUPS}
            for i in range(episodes):
                for setup, (env, recorder) in envs.items():
                    record = _run_episode(env, recorder, noise, seed + i, (seed, level_index, i))
                    per_setup[setup].append(record)
                bar.update(1)
            results.extend((noise, setup, per_setup[setup]) for setup in SETUPS)
    finally:
        bar.close()
        for env, _ in envs.values():
            env.close()
    return results


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def summarize_records(
    records: list[tuple[NoiseLevel, str, list[EpisodeRecord]]],
) -> list[dict[str, Any]]:
    """One table row per (noise level, setup).

    Row keys: ``p``, ``q``, ``setup``, ``episodes``, ``verifier`` (a RuleVerifier scored the
    steps), ``success_rate`` (outcome ≥ 1),
    ``outcome``, ``process``, ``gate``, ``return`` (episode means), ``return_failed`` (mean return
    of failed episodes, ``None`` if none failed), ``slips`` / ``wrong_answers`` (errors injected),
    ``slip_recall`` / ``answer_recall`` (fraction of them the verifier flagged), ``recall`` (all
    injected errors), ``precision`` (flagged steps that were injected errors). Verifier columns are
    ``None`` where no verifier ran or there was nothing to measure.
    """
    rows = []
    for noise, setup, eps in records:
        failed = [e.episode_return for e in eps if e.outcome < 1.0]
        has_verifier = any(e.flagged for e in eps)
        counts = {"slip": [0, 0], "answer": [0, 0]}  # kind -> [injected, flagged]
        flagged_total = flagged_injected = 0
        for e in eps:
            for kind, flag in zip(e.injected, e.flagged, strict=False):
                flagged_total += flag
                if kind is not None:
                    counts[kind][0] += 1
                    counts[kind][1] += flag
                    flagged_injected += flag
        injected = counts["slip"][0] + counts["answer"][0]
        rows.append(
            {
                "p": noise.p,
                "q": noise.q,
                "setup": setup,
                "episodes": len(eps),
                "verifier": has_verifier,
                "success_rate": float(np.mean([e.outcome >= 1.0 for e in eps])),
                "outcome": float(np.mean([e.outcome for e in eps])),
                "process": float(np.mean([e.process for e in eps])),
                "gate": float(np.mean([e.gate for e in eps])),
                "return": float(np.mean([e.episode_return for e in eps])),
                "return_failed": _mean(failed),
                "slips": counts["slip"][0],
                "wrong_answers": counts["answer"][0],
                "slip_recall": _ratio(counts["slip"][1], counts["slip"][0])
                if has_verifier
                else None,
                "answer_recall": _ratio(counts["answer"][1], counts["answer"][0])
                if has_verifier
                else None,
                "recall": _ratio(flagged_injected, injected) if has_verifier else None,
                "precision": _ratio(flagged_injected, flagged_total) if has_verifier else None,
            }
        )
    return rows


def demo_rows(
    episodes: int = 200,
    seed: int = 0,
    coef: float = 0.1,
    noise_levels: Sequence[NoiseLevel] = DEFAULT_NOISE_LEVELS,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """The demo's table rows (see :func:`summarize_records` for the keys)."""
    return summarize_records(demo_records(episodes, seed, coef, noise_levels, progress))


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def format_demo_table(rows: Sequence[dict[str, Any]]) -> str:
    """The demo rows as an aligned text table."""
    header = (
        "solver noise",
        "setup",
        "success",
        "outcome",
        "process",
        "gate",
        "return",
        "ret|fail",
        "slips flagged",
        "answers flagged",
        "precision",
    )
    body = []
    for r in rows:
        body.append(
            (
                f"p={r['p']:g} q={r['q']:g}",
                r["setup"],
                f"{r['success_rate']:.3f}",
                f"{r['outcome']:.3f}",
                f"{r['process']:+.3f}",
                f"{r['gate']:+.3f}",
                f"{r['return']:+.3f}",
                _cell(r["return_failed"], "+.3f"),
                f"{_cell(r['slip_recall'], '.1%')} of {r['slips']}"
                if r["slip_recall"] is not None
                else "—",
                f"{_cell(r['answer_recall'], '.1%')} of {r['wrong_answers']}"
                if r["answer_recall"] is not None
                else "—",
                "no flags"
                if r["verifier"] and r["precision"] is None
                else _cell(r["precision"], ".1%"),
            )
        )
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    left = {0, 1}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    previous = None
    for r, cells in zip(rows, body, strict=True):
        if previous is not None and (r["p"], r["q"]) != previous:
            out.append("")
        previous = (r["p"], r["q"])
        out.append(line(cells))
    return "\n".join(out)


def interpret_demo(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Two or three sentences reading the table, built from its numbers."""
    by = {(r["p"], r["q"], r["setup"]): r for r in rows}
    process_rows = [r for r in rows if r["setup"] == SETUPS[1]]
    lines: list[str] = []
    clean = next((r for r in process_rows if r["p"] == 0 and r["q"] == 0), None)
    tied = [r for r in process_rows if r["q"] == 0 and r["p"] > 0]
    if clean is not None and tied:
        noisy = max(tied, key=lambda r: r["p"])
        gap = abs(clean["success_rate"] - noisy["success_rate"])
        verb = "cannot tell" if gap < 0.005 else "barely tells" if gap < 0.05 else "tells"
        lines.append(
            f"Outcome reward {verb} the clean solver from the p={noisy['p']:g} one (success "
            f"{clean['success_rate']:.3f} vs {noisy['success_rate']:.3f}); the process reward "
            f"separates them ({clean['process']:+.3f} vs {noisy['process']:+.3f} per episode)."
        )
    with_failures = [r for r in process_rows if r["return_failed"] is not None]
    if with_failures:
        worst = min(with_failures, key=lambda r: r["success_rate"])
        gated = by.get((worst["p"], worst["q"], SETUPS[2]))
        if gated is not None and gated["return_failed"] is not None:
            lines.append(
                f"Without gating, failed episodes of the p={worst['p']:g} q={worst['q']:g} "
                f"solver still earn {worst['return_failed']:+.3f} from process reward; with G-RA "
                f"they earn {gated['return_failed']:+.3f}: step credit is paid only when the "
                "answer is right."
            )
    slips = sum(r["slips"] for r in process_rows)
    answers = sum(r["wrong_answers"] for r in process_rows)
    flagged_slips = sum(r["slips"] * (r["slip_recall"] or 0.0) for r in process_rows)
    flagged_answers = sum(r["wrong_answers"] * (r["answer_recall"] or 0.0) for r in process_rows)
    precisions = [r["precision"] for r in process_rows if r["precision"] is not None]
    if slips or answers:
        text = "RuleVerifier flagged "
        parts = []
        if slips:
            parts.append(f"{flagged_slips / slips:.1%} of {slips} injected arithmetic slips")
        if answers:
            parts.append(f"{flagged_answers / answers:.1%} of {answers} wrong final answers")
        text += " and ".join(parts)
        if precisions and min(precisions) >= 1.0:
            text += "; it flagged no step without an injected error"
        elif precisions:
            text += f" (precision at least {min(precisions):.1%})"
        text += "."
        if answers and flagged_answers < answers:
            text += (
                " It accepts a wrong answer that equals a number already in the problem or a "
                "step; the outcome catches those."
            )
        lines.append(text)
    return lines


# -- hacking policies: the raw sum vs make_dense --------------------------------------------------
def hack_rows(episodes: int = 30, seed: int = 0, coef: float = 0.1) -> list[dict[str, Any]]:
    """The reward-integrity kit on prm/Math-v0: per stack (``raw`` = ``ProcessReward`` with the
    RuleVerifier, ``dense`` = ``make_dense``), the gold policy's mean return and the best
    hacking policy's (:func:`prm_gym.testing.check_reward_integrity`, same tasks for all).

    Row keys: ``stack``, ``coef``, ``gold``, ``best_hack``, ``best_hack_return``, ``hacks``
    (name -> mean return).
    """
    from prm_gym.testing import check_reward_integrity

    report = check_reward_integrity(
        "prm/Math-v0", episodes=episodes, coefs=(coef,), seed=seed, raw=True
    )
    rows = []
    for stack in ("raw", "dense"):
        stack_rows = [r for r in report.rows if r.stack == stack]
        gold = next(r for r in stack_rows if r.is_gold)
        hacks = {r.policy: r.mean_return for r in stack_rows if not r.is_gold}
        best = max(hacks, key=lambda name: hacks[name])
        rows.append(
            {
                "stack": stack,
                "coef": coef,
                "gold": gold.mean_return,
                "best_hack": best,
                "best_hack_return": hacks[best],
                "hacks": hacks,
            }
        )
    return rows


def format_hack_rows(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per stack: gold's mean return next to the best hack's."""
    names = {"raw": "raw sum ProcessReward(RuleVerifier)", "dense": "make_dense"}
    lines = []
    for r in rows:
        verdict = "pays the hack more" if r["best_hack_return"] >= r["gold"] else "pays gold more"
        lines.append(
            f"Hacking policies under the {names[r['stack']]} (coef {r['coef']:g}): gold solution "
            f"{r['gold']:+.3f} vs best hack '{r['best_hack']}' {r['best_hack_return']:+.3f} "
            f"({verdict})."
        )
    return lines


# -- shaped vs sparse SAC on prm/Reach-v0 ---------------------------------------------------------
#: The RL section's variants: (label, ``shaping`` argument of :func:`prm_gym.agents.sb3.train`).
RL_VARIANTS: tuple[tuple[str, str], ...] = (
    ("staged potential", "potential"),
    ("sparse (no shaping)", "none"),
)
#: SAC settings shared by both variants (those ``tests/test_sb3.py`` uses to solve Reach-v0 with
#: the staged potential in a few thousand steps).
RL_SAC_SETTINGS: dict[str, Any] = {
    "n_envs": 4,
    "train_freq": 1,
    "gradient_steps": 2,
    "learning_starts": 400,
    "algo_kwargs": {
        "policy_kwargs": {"net_arch": [64, 64]},
        "learning_rate": 1e-3,
        "batch_size": 256,
    },
}
#: Success rate the RL section's interpretation counts as "solved".
RL_THRESHOLD = 0.8


def rl_rows(
    total_timesteps: int = 5_000,
    seed: int = 0,
    eval_every: int = 1_000,
    eval_episodes: int = 20,
    env_id: str = "prm/Reach-v0",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train SAC with the staged potential and without shaping; one row per variant.

    Both runs share the seed, the SAC settings (:data:`RL_SAC_SETTINGS`) and the evaluation
    schedule, so their success rates are measured at the same env steps on the same goals.

    Row keys: ``variant``, ``shaping``, ``steps`` and ``success_rate`` (the learning curve, lists
    of equal length), ``final_success``, ``steps_to_threshold`` (first evaluated step with
    success ≥ :data:`RL_THRESHOLD`, ``None`` if never), ``wall_time_s``.
    """
    for name, value in (
        ("total_timesteps", total_timesteps),
        ("eval_every", eval_every),
        ("eval_episodes", eval_episodes),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    from prm_gym.agents.sb3 import train

    rows: list[dict[str, Any]] = []
    for label, shaping in RL_VARIANTS:
        curve = train(
            env_id,
            algo="sac",
            shaping=shaping,
            total_timesteps=total_timesteps,
            seed=seed,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            progress_bar=progress,
            torch_threads=1,
            **RL_SAC_SETTINGS,
        )
        rows.append(
            {
                "variant": label,
                "shaping": shaping,
                "steps": list(curve.steps),
                "success_rate": list(curve.success_rate),
                "final_success": curve.success_rate[-1],
                "steps_to_threshold": curve.steps_to(RL_THRESHOLD),
                "wall_time_s": float(curve.config.get("wall_time_s", 0.0)),
            }
        )
    return rows


def format_rl_table(rows: Sequence[dict[str, Any]]) -> str:
    """Success rate per variant (rows) at each evaluated env step (columns)."""
    if not rows:
        return "(no runs)"
    steps: list[int] = sorted({s for r in rows for s in r["steps"]})
    header = ["env steps", *(f"{s:,}" for s in steps), "wall s"]
    body = []
    for r in rows:
        by_step = dict(zip(r["steps"], r["success_rate"], strict=True))
        cells = [_cell(by_step.get(s), ".2f") for s in steps]
        body.append([r["variant"], *cells, f"{r['wall_time_s']:.1f}"])
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def interpret_rl(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One or two sentences reading the RL table, built from its numbers."""
    by = {r["shaping"]: r for r in rows}
    shaped, sparse = by.get("potential"), by.get("none")
    if shaped is None or sparse is None:
        return []
    budget = max(shaped["steps"][-1], sparse["steps"][-1])
    pct = f"{RL_THRESHOLD:.0%}"

    def reached(r: dict[str, Any]) -> str:
        s = r["steps_to_threshold"]
        return (
            f"reaches {pct} success at {s:,} env steps"
            if s is not None
            else (
                f"does not reach {pct} within {budget:,} env steps (final {r['final_success']:.2f})"
            )
        )

    a, b = shaped["steps_to_threshold"], sparse["steps_to_threshold"]
    if a is not None and (b is None or a < b):
        verdict = "shaping sped learning up here"
    elif b is not None and (a is None or b < a):
        verdict = "shaping did not help here"
    elif shaped["final_success"] > sparse["final_success"]:
        verdict = "neither reached the threshold; the shaped run ended ahead"
    elif shaped["final_success"] < sparse["final_success"]:
        verdict = "neither reached the threshold; the sparse run ended ahead"
    else:
        verdict = "no difference at this budget"
    return [
        f"With the staged potential SAC {reached(shaped)}; with the sparse reward alone it "
        f"{reached(sparse)}: {verdict}.",
        "One seed and a small budget: an illustration, not a measurement (see "
        "benchmarks/sample_efficiency.py for seeds and bands).",
    ]
