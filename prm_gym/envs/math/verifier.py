"""Rule-based step verification for prm/Math-v0.

A step is *correct* when every arithmetic claim in it is true, every number a claim computes from
is known (in the problem, a gold intermediate value of the task, a small constant, or a result
established by an earlier correct step), and any final answer it states is such a known value.
Steps with nothing checkable (prose, algebra) are *unchecked*: neither correct nor wrong.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.math.answers import extract_final_answer, format_number, parse_number
from prm_gym.envs.math.steps import extract_claims, known_numbers

__all__ = ["RuleVerifier", "StepChecker", "StepVerdict", "verify_steps"]

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
    established_abs: set[Fraction] = set()
    claims = extract_claims(step)
    for claim in claims:
        if not claim.correct:
            if claim.lhs_value is None:
                return StepVerdict(False, True, f"{claim.text} divides by zero"), set()
            actual = format_number(claim.lhs_value)
            return StepVerdict(False, True, f"{claim.text} is false ({actual})"), set()
        for operand in claim.operands:
            if operand not in known.operands and operand not in established_abs:
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
        established_abs = {abs(v) for v in established}
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


class StepChecker:
    """Judges the steps of one solution in order, remembering what correct steps established.

    Operands are compared without sign (``-6 / 3`` computes from 6 and 3); a stated final answer
    must equal, sign included, a value from the problem, the task's gold values or a correct
    earlier computation. Picklable, so envs can snapshot it with their state.
    """

    def __init__(self, prompt: str, task: Any = None, constants: Iterable[Fraction] = ()) -> None:
        base = known_numbers(prompt) | set(_BASE_CONSTANTS) | set(constants)
        self.known = _Known(operands=set(base), values=set(base))
        self.known.add(_task_values(task))

    def peek(self, step: str) -> StepVerdict:
        """The verdict on ``step`` as the next step, without recording it."""
        return _judge(step, self.known)[0]

    def check(self, step: str) -> StepVerdict:
        """The verdict on ``step`` as the next step; its results become known if correct."""
        verdict, established = _judge(step, self.known)
        self.known.add(established)
        return verdict

    def copy(self) -> StepChecker:
        clone = StepChecker.__new__(StepChecker)
        clone.known = _Known(set(self.known.operands), set(self.known.values))
        return clone


def verify_steps(
    prompt: str,
    steps: Sequence[str],
    task: Any = None,
    constants: Iterable[Fraction] = (),
) -> list[StepVerdict]:
    """Judge ``steps`` in order (see :class:`StepChecker`)."""
    checker = StepChecker(prompt, task, constants)
    return [checker.check(step) for step in steps]


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
        # (prompt, task id, steps) -> checker after those steps: consecutive steps of an episode
        # then cost one step's check each instead of re-checking the whole prefix.
        self._cache: OrderedDict[tuple[Any, ...], StepChecker] = OrderedDict()

    def _checker_after(self, context: StepContext) -> StepChecker:
        task_id = getattr(context.task, "id", None)
        steps = context.previous_steps
        n = len(steps)
        while n > 0 and (context.prompt, task_id, steps[:n]) not in self._cache:
            n -= 1
        if n:
            checker = self._cache[(context.prompt, task_id, steps[:n])].copy()
        else:
            checker = StepChecker(context.prompt, context.task, self.constants)
        for i in range(n, len(steps)):
            checker.check(steps[i])
        key = (context.prompt, task_id, steps)
        self._cache[key] = checker
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return checker

    _cache_size = 2048

    def verdict(self, context: StepContext) -> StepVerdict:
        return self._checker_after(context).peek(context.action)

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = np.empty(len(contexts), dtype=np.float32)
        for i, context in enumerate(contexts):
            v = self.verdict(context)
            out[i] = (
                (self.correct if v.correct else self.incorrect) if v.checked else self.unchecked
            )
        return out
