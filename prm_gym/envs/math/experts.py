"""Scripted solvers for prm/Math-v0: play a task's gold steps with controlled mistakes.

Used by the demo, the benchmarks and tests, and handy as a baseline policy: the injected errors
are known, so a step scorer can be measured against them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from prm_gym.core.task import Task
from prm_gym.envs.math.answers import format_number, parse_number
from prm_gym.envs.math.generator import FAMILIES, LEVELS, MathConfig, generate

__all__ = [
    "NoiseLevel",
    "NoisySolution",
    "NoisySolver",
    "corrupt_answer",
    "corrupt_arithmetic",
    "gold_prover",
    "noisy_solutions",
]

# "a op b (op c ...) = result": the computation whose result a slip corrupts.
_COMPUTATION = re.compile(
    r"\d+(?:\.\d+)?(?:\s*[-+*/]\s*\d+(?:\.\d+)?)+\s*=\s*(?P<result>-?\d+(?:\.\d+)?(?:/\d+)?)"
)
_BOXED = re.compile(r"\\boxed\{(?P<answer>[^{}]*)\}")
_OFFSETS = np.array([-3, -2, -1, 1, 2, 3])


def _wrong(value_text: str, rng: np.random.Generator) -> str | None:
    value = parse_number(value_text)
    if value is None:
        return None
    wrong = value + Fraction(int(rng.choice(_OFFSETS)))
    if "/" in value_text and wrong.denominator != 1:  # keep a fraction a fraction
        return f"{wrong.numerator}/{wrong.denominator}"
    return format_number(wrong)


def _replace_last(
    pattern: re.Pattern[str], group: str, step: str, rng: np.random.Generator
) -> str | None:
    """``step`` with the ``group`` of the last ``pattern`` match changed to a wrong value."""
    matches = list(pattern.finditer(step))
    if not matches:
        return None
    last = matches[-1]
    wrong = _wrong(last[group], rng)
    if wrong is None:
        return None
    return step[: last.start(group)] + wrong + step[last.end(group) :]


def corrupt_arithmetic(step: str, rng: np.random.Generator) -> str | None:
    """``step`` with the result of its last computation (``a op b = r``) changed to a wrong value.

    ``None`` when the step has no such computation (e.g. ``The answer is \\boxed{7}.``).

    Example:
        >>> import numpy as np
        >>> corrupt_arithmetic("Step 1: 12 * 3 = 36 apples.", np.random.default_rng(0))
        'Step 1: 12 * 3 = 39 apples.'
    """
    return _replace_last(_COMPUTATION, "result", step, rng)


def corrupt_answer(step: str, rng: np.random.Generator) -> str | None:
    """``step`` with the number in its last ``\\boxed{...}`` changed to a wrong value, or ``None``.

    Example:
        >>> import numpy as np
        >>> corrupt_answer("Step 4: The answer is \\\\boxed{3/4}.", np.random.default_rng(0))
        'Step 4: The answer is \\\\boxed{15/4}.'
    """
    return _replace_last(_BOXED, "answer", step, rng)


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


@dataclass(frozen=True)
class NoisySolution:
    """One scripted solution of a procedural task, with the errors injected into it.

    Attributes:
        task: The task (``generate(MathConfig(families, levels), task_seed)``, the task
            ``env.reset(options={"task_seed": task_seed})`` builds in ``gym.make("prm/Math-v0",
            families=..., levels=...)``).
        task_seed: The procedural seed of the task.
        actions: The solution's steps, the last one stating the final answer.
        errors: Per action, the error injected into it: ``"slip"`` (a wrong arithmetic result),
            ``"answer"`` (a wrong final answer) or ``None``.
    """

    task: Task
    task_seed: int
    actions: tuple[str, ...]
    errors: tuple[str | None, ...]


def noisy_solutions(
    n: int,
    seed: int = 0,
    *,
    noise: NoiseLevel | tuple[float, float] = (0.15, 0.2),
    samples_per_task: int = 1,
    levels: Sequence[int] | None = None,
    families: Sequence[str] | None = None,
) -> list[NoisySolution]:
    """``n`` solutions of procedural tasks by a :class:`NoisySolver`, for training step scorers.

    Solution ``i`` solves task seed ``seed + i // samples_per_task``; the solver's noise is
    drawn from ``np.random.default_rng(seed)`` in order, so the same arguments give the same
    solutions (and disjoint seeds held-out ones). The labels of each step come from playing the
    actions in the env (``info["step_label"]``, ``info["outcome"]``) or from ``errors``.

    Args:
        n: Number of solutions.
        seed: First task seed and seed of the solver's noise.
        noise: A :class:`NoiseLevel` or ``(p, q)``: probabilities of an arithmetic slip per
            step and of a wrong final answer.
        samples_per_task: Solutions per task (> 1 for best-of-N evaluation).
        levels: Procedural difficulty levels (default: all).
        families: Procedural families (default: all).
    """
    if n < 0 or samples_per_task < 1:
        raise ValueError(f"need n >= 0 and samples_per_task >= 1, got {n}, {samples_per_task}")
    level = noise if isinstance(noise, NoiseLevel) else NoiseLevel(*noise)
    config = MathConfig(
        families=tuple(families) if families else FAMILIES,
        levels=tuple(levels) if levels else LEVELS,
    )
    solver = NoisySolver(level, np.random.default_rng(seed))
    out = []
    for i in range(n):
        task_seed = seed + i // samples_per_task
        task = generate(config, task_seed)
        plan = solver.plan(task)
        out.append(
            NoisySolution(
                task, task_seed, tuple(a for a, _ in plan), tuple(kind for _, kind in plan)
            )
        )
    return out


def gold_prover(slip: float, seed: int) -> Callable[[Any, Any], str]:
    """A scripted prover for Monte-Carlo step labels: ``prover(observation, env) -> step``.

    Plays the next gold step of ``env.task`` (``env.num_steps`` steps taken so far), its final
    answer made wrong with probability ``slip`` (noise from ``np.random.default_rng(seed)``).
    """
    rng = np.random.default_rng(seed)

    def prover(observation: Any, env: Any) -> str:
        gold = env.task.metadata["gold_steps"]
        step = str(gold[min(env.num_steps, len(gold) - 1)])
        if "\\boxed{" in step and rng.random() < slip:
            step = corrupt_answer(step, rng) or step
        return step

    return prover
