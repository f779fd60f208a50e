"""The ``prm-gym`` command: list the environments, play one by hand, run the demo.

Usage::

    prm-gym list                         # every prm/* id with a one-line description
    prm-gym play prm/Math-v0 --seed 0    # solve a task yourself, one step per line
    prm-gym demo --episodes 200          # noisy scripted solvers under three reward setups
    prm-gym --version

``main(argv)`` returns the exit code instead of exiting, so it can be called from Python and
tests. The demo's numbers come from :func:`demo_rows` (a list of dicts); printing is separate.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TextIO

import gymnasium as gym
import numpy as np

import prm_gym
from prm_gym.core.scorer import Scorer, StepContext

__all__ = [
    "DEFAULT_NOISE_LEVELS",
    "DEFAULT_SCORERS",
    "SETUPS",
    "EpisodeRecord",
    "NoiseLevel",
    "NoisySolver",
    "corrupt_answer",
    "corrupt_arithmetic",
    "demo_records",
    "demo_rows",
    "format_demo_table",
    "interpret_demo",
    "main",
    "summarize_records",
]


def _rule_verifier() -> Scorer:
    from prm_gym.rewards import RuleVerifier

    return RuleVerifier()


#: Default step scorer per env id, used by ``play`` (ids not listed play on the outcome alone).
DEFAULT_SCORERS: dict[str, Callable[[], Scorer]] = {
    "prm/Math-v0": _rule_verifier,
}


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------
def _cmd_list(out: TextIO) -> int:
    """Print every registered ``prm/*`` id and its description in aligned columns."""
    ids = sorted(prm_gym.ENV_IDS)
    width = max(len(i) for i in ids)
    for env_id in ids:
        description = prm_gym.ENV_IDS[env_id][2]
        out.write(f"{env_id:<{width}}  {description}\n")
    return 0


# ---------------------------------------------------------------------------------------------
# play
# ---------------------------------------------------------------------------------------------
def _unknown_env_message(env_id: str) -> str:
    known = sorted(prm_gym.ENV_IDS)
    lines = [f"prm-gym: error: unknown environment id {env_id!r}."]
    close = difflib.get_close_matches(env_id, known, n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[env_id.lower()]] if env_id.lower() in lowered else []
    if close:
        lines.append(f"Did you mean {close[0]!r}?")
    lines.append("Known ids (see `prm-gym list`): " + ", ".join(known))
    return "\n".join(lines)


def _format_components(components: dict[str, float]) -> str:
    # ``+ 0.0`` turns a negative zero (``gate = -0.0``) into ``+0.000``.
    return "  ".join(f"{name}={value + 0.0:+.3f}" for name, value in components.items())


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _hint(task: Any, valid_steps: int, single_turn: bool) -> str:
    gold = (getattr(task, "metadata", None) or {}).get("gold_steps")
    if not gold:
        return "No hint: this task has no gold steps (metadata['gold_steps'])."
    if single_turn:
        return "\n" + "\n".join(gold)
    return str(gold[min(valid_steps, len(gold) - 1)])


def _cmd_play(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Let a person play a text env step by step from stdin."""
    env_id: str = args.env_id
    if env_id not in gym.registry:
        err.write(_unknown_env_message(env_id) + "\n")
        return 2
    kwargs: dict[str, Any] = {"single_turn": True} if args.single_turn else {}
    try:
        env: gym.Env[Any, Any] = gym.make(env_id, **kwargs)
    except TypeError as exc:
        hint = "; drop --single-turn for envs without a single-turn mode" if kwargs else ""
        err.write(f"prm-gym: error: could not build {env_id} ({exc}){hint}.\n")
        return 2
    except (ImportError, gym.error.Error) as exc:
        err.write(
            f"prm-gym: error: could not build {env_id} ({type(exc).__name__}: {exc}); "
            "install the extra it needs (see the README) or pick another id (`prm-gym list`).\n"
        )
        return 2
    from prm_gym.wrappers import GatedAccumulation, ProcessReward

    factory = DEFAULT_SCORERS.get(env_id)
    if factory is not None:
        scorer = factory()
        env = ProcessReward(env, scorer, coef=args.coef)
        setup = f"outcome + process ({type(scorer).__name__}, coef {args.coef:g})"
        if not args.no_gate:
            env = GatedAccumulation(env, threshold=1.0)
            setup += ", gated: process credit is paid only on success (G-RA)"
    else:
        setup = f"outcome only (no default step scorer for {env_id})"
    try:
        return _play_episode(env, env_id, setup, args, out, err)
    finally:
        env.close()


def _read_action(prompt: str, single_turn: bool, echo: bool, out: TextIO) -> str | None:
    """One action from stdin, or ``None`` at end of input.

    Multi-step mode reads one line. Single-turn mode reads a whole solution: lines up to an empty
    line (or the end of input), joined with newlines, so each line is one step; a ``:command``
    on the first line is returned at once.
    """
    try:
        line = input(prompt)
    except EOFError:
        return None
    if echo:
        out.write(line + "\n")
    if not single_turn or line.strip().startswith(":"):
        return line
    lines = [line]
    while lines[-1].strip():
        try:
            more = input("...> ")
        except EOFError:
            break
        if echo:
            out.write(more + "\n")
        lines.append(more)
    return "\n".join(lines).strip("\n")


def _play_episode(
    env: gym.Env[Any, Any],
    env_id: str,
    setup: str,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    obs, info = env.reset(seed=args.seed)
    if not isinstance(obs, str):
        err.write(
            f"prm-gym: error: {env_id} has {type(obs).__name__} observations; `play` supports "
            "text envs (str observations) only.\n"
        )
        return 2
    task = getattr(env.unwrapped, "task", None)
    seed_text = "random" if args.seed is None else str(args.seed)
    out.write(f"{env_id}  task {info.get('task_id', '?')}  (seed {seed_text})\n")
    out.write(f"reward: {setup}\n")
    if args.single_turn:
        out.write("Type the whole solution, one step per line; an empty line submits it.\n")
    out.write("Commands: :hint (show the next gold step), :quit (stop), :help.\n\n")
    out.write(obs + "\n\n")

    echo = not _isatty(sys.stdin)  # piped or scripted input: show it, so the log reads well
    episode_return = 0.0
    valid_steps = 0
    turn = 0
    while True:
        try:
            line = _read_action(f"step {turn + 1}> ", args.single_turn, echo, out)
        except KeyboardInterrupt:
            out.write("\n(interrupted)\n")
            return 130
        if line is None:
            out.write("\n(end of input: stopping)\n")
            return 0
        command = line.strip()
        if command in (":quit", ":q", ":exit"):
            out.write(f"Stopped after {turn} steps; return so far {episode_return:+.3f}.\n")
            return 0
        if command == ":help":
            out.write(":hint  show the next gold step (tasks with gold steps)\n")
            out.write(":quit  stop the episode\n")
            continue
        if command == ":hint":
            out.write(f"hint: {_hint(task, valid_steps, args.single_turn)}\n")
            continue
        if command.startswith(":"):
            out.write(f"Unknown command {command!r}; commands are :hint, :quit, :help.\n")
            continue
        turn += 1
        obs, reward, terminated, truncated, info = env.step(line)
        episode_return += float(reward)
        if info.get("action_valid", True):
            valid_steps += 1
        out.write(f"  env: {obs}\n")
        out.write(f"  reward: {float(reward) + 0.0:+.3f}\n")
        components = info.get("reward_components")
        if components:
            out.write(f"  components: {_format_components(components)}\n")
        details = []
        if "action_valid" in info:
            details.append(f"action_valid: {info['action_valid']}")
        if "error" in info:
            details.append(f"error: {info['error']}")
        if "step_label" in info:
            details.append(f"step_label: {info['step_label']}")
        if details:
            out.write("  " + "   ".join(details) + "\n")
        if terminated or truncated:
            how = "terminated" if terminated else f"truncated after {turn} steps"
            out.write(f"\nEpisode over ({how}).\n")
            out.write(f"outcome: {info.get('outcome', float('nan')):g}\n")
            if "gate_open" in info:
                out.write(f"gate open: {info['gate_open']}\n")
            out.write(f"episode return: {episode_return:+.3f}\n")
            return 0


# ---------------------------------------------------------------------------------------------
# demo: a scripted noisy solver under three reward setups
# ---------------------------------------------------------------------------------------------
SETUPS: tuple[str, ...] = ("outcome only", "+ process (RuleVerifier)", "+ process, gated (G-RA)")

# "a op b (op c ...) = result": the computation whose result a slip corrupts.
_COMPUTATION = re.compile(
    r"\d+(?:\.\d+)?(?:\s*[-+*/]\s*\d+(?:\.\d+)?)+\s*=\s*(?P<result>-?\d+(?:\.\d+)?(?:/\d+)?)"
)
_BOXED = re.compile(r"\\boxed\{(?P<answer>[^{}]*)\}")
_OFFSETS = np.array([-3, -2, -1, 1, 2, 3])


def _wrong(value_text: str, rng: np.random.Generator) -> str | None:
    from prm_gym.envs.math.answers import format_number, parse_number

    value = parse_number(value_text)
    if value is None:
        return None
    wrong = value + Fraction(int(rng.choice(_OFFSETS)))
    if "/" in value_text and wrong.denominator != 1:  # keep a fraction a fraction
        return f"{wrong.numerator}/{wrong.denominator}"
    return format_number(wrong)


def corrupt_arithmetic(step: str, rng: np.random.Generator) -> str | None:
    """``step`` with the result of its last computation (``a op b = r``) changed to a wrong value.

    ``None`` when the step has no such computation (e.g. ``The answer is \\boxed{7}.``).

    Example:
        >>> import numpy as np
        >>> corrupt_arithmetic("Step 1: 12 * 3 = 36 apples.", np.random.default_rng(0))
        'Step 1: 12 * 3 = 39 apples.'
    """
    matches = list(_COMPUTATION.finditer(step))
    if not matches:
        return None
    last = matches[-1]
    wrong = _wrong(last["result"], rng)
    if wrong is None:
        return None
    return step[: last.start("result")] + wrong + step[last.end("result") :]


def corrupt_answer(step: str, rng: np.random.Generator) -> str | None:
    """``step`` with the number in its last ``\\boxed{...}`` changed to a wrong value, or ``None``.

    Example:
        >>> import numpy as np
        >>> corrupt_answer("Step 4: The answer is \\\\boxed{3/4}.", np.random.default_rng(0))
        'Step 4: The answer is \\\\boxed{15/4}.'
    """
    matches = list(_BOXED.finditer(step))
    if not matches:
        return None
    last = matches[-1]
    wrong = _wrong(last["answer"], rng)
    if wrong is None:
        return None
    return step[: last.start("answer")] + wrong + step[last.end("answer") :]


@dataclass(frozen=True)
class NoiseLevel:
    """How sloppy the scripted solver is.

    Attributes:
        p: Probability that a step's arithmetic result is written wrong (a slip: later steps
            carry on from the correct value, so the final answer is unaffected).
        q: Probability that the final answer is wrong.
    """

    p: float
    q: float

    def __post_init__(self) -> None:
        for name, value in (("p", self.p), ("q", self.q)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"noise {name} must be in [0, 1], got {value}")

    @property
    def label(self) -> str:
        return f"p={self.p:g} q={self.q:g}"


#: Solver noise levels the demo runs by default: clean, two levels of arithmetic slips with
#: correct answers (outcomes tie with the clean solver), and slips plus wrong answers.
DEFAULT_NOISE_LEVELS: tuple[NoiseLevel, ...] = (
    NoiseLevel(0.0, 0.0),
    NoiseLevel(0.2, 0.0),
    NoiseLevel(0.5, 0.0),
    NoiseLevel(0.2, 0.3),
)


class NoisySolver:
    """Plays a task's gold steps, corrupting step results with probability ``p`` and the final
    answer with probability ``q``.

    :meth:`plan` returns the actions and, for each, the kind of error injected into it
    (``"slip"``, ``"answer"`` or ``None``).
    """

    def __init__(self, noise: NoiseLevel, rng: np.random.Generator) -> None:
        self.noise = noise
        self.rng = rng

    def plan(self, task: Any) -> list[tuple[str, str | None]]:
        gold = (getattr(task, "metadata", None) or {}).get("gold_steps")
        if not gold:
            raise ValueError(
                f"task {getattr(task, 'id', '?')!r} has no metadata['gold_steps']; the noisy "
                "solver needs procedural prm/Math-v0 tasks"
            )
        actions: list[tuple[str, str | None]] = []
        for step in gold:
            kind: str | None = None
            if self.rng.random() < self.noise.p:
                slipped = corrupt_arithmetic(step, self.rng)
                if slipped is not None:
                    step, kind = slipped, "slip"
            if _BOXED.search(step) and self.rng.random() < self.noise.q:
                wrong = corrupt_answer(step, self.rng)
                if wrong is not None:
                    step, kind = wrong, "answer"
            actions.append((step, kind))
        return actions


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
        process: Episode sum of the ``"process"`` component (0 without ProcessReward).
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
    from prm_gym.wrappers import GatedAccumulation, ProcessReward

    env: gym.Env[Any, Any] = gym.make("prm/Math-v0")
    if setup == SETUPS[0]:
        return env, None
    recorder = _RecordingScorer(_rule_verifier())
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
        process += float(components.get("process", 0.0))
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


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    rows = demo_rows(args.episodes, args.seed, args.coef, progress=not args.quiet)
    out.write(
        f"Noisy solver on prm/Math-v0: {args.episodes} episodes per noise level, seed {args.seed}, "
        f"process coef {args.coef:g}.\n"
        "p = chance a step's arithmetic result is wrong (later steps continue correctly); "
        "q = chance the final answer is wrong.\n"
        "process/gate/return: per-episode means of the reward components; ret|fail: mean return "
        "of failed episodes.\n\n"
    )
    out.write(format_demo_table(rows) + "\n\n")
    for text in interpret_demo(rows):
        out.write(f"* {text}\n")
    return 0


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``prm-gym`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="prm-gym",
        description="Gymnasium environments and wrappers for process-reward RL.",
    )
    parser.add_argument("--version", action="version", version=f"prm-gym {prm_gym.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("list", help="list the registered prm/* environments")

    play = sub.add_parser(
        "play",
        help="play a text environment in the terminal",
        description="Play a text environment: one action per line; :hint, :quit, :help.",
    )
    play.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Math-v0")
    play.add_argument("--seed", type=int, default=None, help="reset seed (default: random)")
    play.add_argument("--single-turn", action="store_true", help="the whole solution in one action")
    play.add_argument(
        "--coef", type=_finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    play.add_argument(
        "--no-gate", action="store_true", help="pay process reward at once instead of on success"
    )

    demo = sub.add_parser(
        "demo",
        help="a noisy scripted solver on prm/Math-v0 under three reward setups",
        description="Compare outcome-only, process and gated process rewards on a scripted "
        "solver that makes arithmetic slips and wrong final answers.",
    )
    demo.add_argument(
        "--episodes", type=_positive_int, default=200, help="episodes per noise level (200)"
    )
    demo.add_argument("--seed", type=int, default=0, help="base seed (0)")
    demo.add_argument(
        "--coef", type=_finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``prm-gym`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    out = sys.stdout
    if args.command == "list":
        return _cmd_list(out)
    if args.command == "play":
        return _cmd_play(args, out, sys.stderr)
    if args.command == "demo":
        return _cmd_demo(args, out)
    parser.error(f"unknown command {args.command!r}")
    return 2  # pragma: no cover - parser.error exits


if __name__ == "__main__":
    raise SystemExit(main())
