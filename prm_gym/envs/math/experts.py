"""Scripted solvers for prm/Math-v0: play a task's gold steps with controlled mistakes.

Used by the demo, the benchmarks and tests, and handy as a baseline policy: the injected errors
are known, so a step scorer can be measured against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from prm_gym.envs.math.answers import format_number, parse_number

__all__ = ["NoiseLevel", "NoisySolver", "corrupt_answer", "corrupt_arithmetic"]

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
