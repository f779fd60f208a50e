"""Rule-based step verification for prm/Math-v0.

A step is *correct* when every arithmetic claim in it is true, every number a claim computes from
is known (in the problem, a gold intermediate value of the task, a small constant, or a result
established by an earlier correct step), and any final answer it states is such a known value.
Steps with nothing checkable (prose, algebra) are *unchecked*: neither correct nor wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.math.answers import extract_final_answer, format_number, parse_number
from prm_gym.envs.math.steps import extract_claims, known_numbers

__all__ = ["RuleVerifier", "StepVerdict", "verify_steps"]

_BASE_CONSTANTS = (Fraction(0), Fraction(1))


@dataclass(frozen=True)
class StepVerdict:
    """The verifier's judgement of one step."""

    correct: bool
    checked: bool
    reason: str | None = None


def _task_values(task: Any) -> set[Fraction]:
    """The task's gold intermediate values and constants, signed."""
    meta = getattr(task, "metadata", None) or {}
    values: set[Fraction] = set()
    for text in (*meta.get("values", ()), *meta.get("constants", ())):
        value = parse_number(str(text))
        if value is not None:
            values.add(value)
    return values


@dataclass
class _Known:
    """What a step may build on: unsigned operands, and signed values an answer may state."""

    operands: set[Fraction]
    values: set[Fraction]

    def add(self, values: set[Fraction]) -> None:
        self.values |= values
        self.operands |= {abs(v) for v in values}


def _judge(step: str, known: _Known) -> tuple[StepVerdict, set[Fraction]]:
    """Judge one step; return the verdict and the signed values it establishes."""
    established: set[Fraction] = set()
    claims = extract_claims(step)
    for claim in claims:
        if not claim.correct:
            if claim.lhs_value is None:
                return StepVerdict(False, True, f"{claim.text} divides by zero"), set()
            actual = format_number(claim.lhs_value)
            return StepVerdict(False, True, f"{claim.text} is false ({actual})"), set()
        for operand in claim.operands:
            if operand not in known.operands and operand not in {abs(v) for v in established}:
                return (
                    StepVerdict(
                        False,
                        True,
                        f"{claim.text} uses {format_number(operand)}, which is not in the "
                        "problem or an earlier step",
                    ),
                    set(),
                )
        assert claim.lhs_value is not None and claim.rhs_value is not None
        established |= {claim.lhs_value, claim.rhs_value, *claim.results}
    answer_text = extract_final_answer(step)
    checked = bool(claims)
    if answer_text is not None:
        answer = parse_number(answer_text)
        if answer is not None:
            checked = True
            if answer not in known.values and answer not in established:
                return (
                    StepVerdict(
                        False, True, f"the answer {answer_text} does not follow from the steps"
                    ),
                    set(),
                )
    return StepVerdict(True, checked), established


def verify_steps(
    prompt: str,
    steps: Sequence[str],
    task: Any = None,
    constants: Iterable[Fraction] = (),
) -> list[StepVerdict]:
    """Judge ``steps`` in order; results of correct steps become known to later ones.

    Operands are compared without sign (``-6 / 3`` computes from 6 and 3); a stated final answer
    must equal, sign included, a value from the problem, the task's gold values or a correct
    earlier computation.
    """
    base = known_numbers(prompt) | set(_BASE_CONSTANTS) | set(constants)
    known = _Known(operands=set(base), values=set(base))
    known.add(_task_values(task))
    verdicts = []
    for step in steps:
        verdict, established = _judge(step, known)
        known.add(established)
        verdicts.append(verdict)
    return verdicts


class RuleVerifier:
    """Scores maths steps by checking their arithmetic and their consistency with the task.

    Every claim ``expr = value`` in the step is evaluated exactly; the numbers it computes from
    must appear in the problem, among the task's gold intermediate values (when the scorer is
    given the task, as :class:`~prm_gym.wrappers.ProcessReward` does), or among the results of
    earlier correct steps; a stated final answer must be such a value.

    Args:
        correct: Score of a step whose checks all pass.
        incorrect: Score of a step with a false claim, an unknown number or an unsupported answer.
        unchecked: Score of a step with nothing to check (prose, algebra).
        constants: Extra numbers every problem may use (e.g. 60 for minutes per hour).

    Example:
        >>> from prm_gym.core import StepContext
        >>> from prm_gym.rewards import RuleVerifier
        >>> ctx = StepContext(prompt="Ana has 12 bags of 3 apples.", previous_steps=(),
        ...                   action="Step 1: 12 * 3 = 36")
        >>> bad = StepContext(prompt="Ana has 12 bags of 3 apples.", previous_steps=(),
        ...                   action="Step 1: 12 * 3 = 38")
        >>> RuleVerifier().score([ctx, bad]).tolist()
        [1.0, -1.0]
    """

    def __init__(
        self,
        correct: float = 1.0,
        incorrect: float = -1.0,
        unchecked: float = 0.0,
        constants: Iterable[float | int | str] = (),
    ) -> None:
        self.correct = correct
        self.incorrect = incorrect
        self.unchecked = unchecked
        self.constants = tuple(Fraction(str(c)) for c in constants)

    def verdict(self, context: StepContext) -> StepVerdict:
        steps = [*context.previous_steps, context.action]
        return verify_steps(context.prompt, steps, context.task, self.constants)[-1]

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = np.empty(len(contexts), dtype=np.float32)
        for i, context in enumerate(contexts):
            v = self.verdict(context)
            out[i] = (
                (self.correct if v.correct else self.incorrect) if v.checked else self.unchecked
            )
        return out
