"""Rule-based step verification for prm/Math-v0.

A step is judged claim by claim (``12 * 3 = 36``; see
:func:`~prm_gym.envs.math.steps.extract_claims`):

* *wrong* when a claim is false, or computes from a number that is not in the problem, among the
  task's gold values, a constant, or a result established by an earlier correct claim, or when the
  final answer it states is not the gold answer;
* *idle* (correct, but worth nothing) when every claim in it only restates what is already known:
  a result already established earlier in the episode (in any form: ``3 * 12 = 36`` after
  ``12 * 3 = 36``), an identity (``36 * 1 = 36``, ``36 + 0 = 36``), or arithmetic on constants
  alone (``1 + 1 = 2``, or ``2 * 3 = 6`` when neither 2 nor 3 is in the problem);
* *correct* when it is not wrong and establishes something new (a new result or the right final
  answer);
* *unchecked* when there is nothing to check in it (prose, algebra).

So padding a solution with true statements or repeating a step earns nothing from
:class:`RuleVerifier`, and a wrong final answer is never correct, whatever numbers it restates.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.math.answers import (
    answers_match,
    extract_final_answer,
    format_number,
    parse_number,
)
from prm_gym.envs.math.steps import Claim, claims_of, known_numbers, numbers_in

__all__ = ["RuleVerifier", "StepChecker", "StepVerdict", "reported_answer", "verify_steps"]

_BASE_CONSTANTS = (Fraction(0), Fraction(1))
# 0 and 1 never ground a computation: ``1 + 1 = 2`` is arithmetic on constants even when the
# problem says "one".
_UNIT = frozenset(_BASE_CONSTANTS)
# A claim as far as repetition goes: its value and the numbers it computes from (0s and 1s
# aside), so "3 * 12 = 36" and "12 * 3 * 1 = 36" repeat "12 * 3 = 36".
_ClaimKey = tuple[Fraction, frozenset[Fraction]]


@dataclass(frozen=True)
class StepVerdict:
    """The verifier's judgement of one step.

    Attributes:
        correct: No false claim, no unknown number, no wrong final answer.
        checked: The step had something to check (a claim or a numeric final answer).
        reason: Why the step is wrong or idle (``None`` for correct and unchecked steps).
        redundant: Correct but idle: it establishes nothing new (repeated results, identities,
            arithmetic on constants alone). :class:`RuleVerifier` scores it ``redundant``.
        new_values: Signed values the step's new claims computed (sides of each claim).
        answer_correct: ``True``/``False`` when the step states a final answer that could be
            judged, ``None`` otherwise.
    """

    correct: bool
    checked: bool
    reason: str | None = None
    redundant: bool = False
    new_values: frozenset[Fraction] = frozenset()
    answer_correct: bool | None = None


_final_answer = lru_cache(maxsize=4096)(extract_final_answer)


@lru_cache(maxsize=1024)
def _given_numbers(prompt: str) -> frozenset[Fraction]:
    """The numbers of a problem that ground a computation: 0 and 1 only when the problem writes
    them as digits ("x + 1"), not as words ("keeps one")."""
    return frozenset(known_numbers(prompt) - _UNIT) | _UNIT.intersection(numbers_in(prompt))


def _task_values(task: Any) -> set[Fraction]:
    """The task's gold intermediate values, signed."""
    meta = getattr(task, "metadata", None) or {}
    return {v for v in (parse_number(str(t)) for t in meta.get("values", ())) if v is not None}


def _task_constants(task: Any) -> set[Fraction]:
    meta = getattr(task, "metadata", None) or {}
    return {v for v in (parse_number(str(t)) for t in meta.get("constants", ())) if v is not None}


def _is_identity(claim: Claim, grounding: set[Fraction], new: set[Fraction]) -> bool:
    """``36 * 1 = 36``, ``0 + 36 = 36``: the value is an operand and the others are 0s and 1s
    that are constants here (not numbers of the problem or results)."""
    value = claim.lhs_value
    assert value is not None
    rest = list(claim.operands)
    if abs(value) not in rest:
        return False
    rest.remove(abs(value))
    return all(op in _UNIT and op not in grounding and op not in new for op in rest)


def reported_answer(context: StepContext) -> tuple[str, bool] | None:
    """The env's own verdict on the final answer of this step, when its info carries one.

    :class:`~prm_gym.envs.math.MathEnv` reports ``info["answer"]`` and ``info["outcome"]`` on
    the final step; passing them on saves a second (possibly ``math-verify``) comparison and
    keeps the verifier's verdict equal to the outcome.
    """
    info = context.info
    answer = info.get("answer") if info else None
    if not isinstance(answer, str) or "outcome" not in info:
        return None
    return answer, float(info["outcome"]) >= 1.0


class StepChecker:
    """Judges the steps of one solution in order, remembering what correct steps established.

    Operands are compared without sign (``-6 / 3`` computes from 6 and 3). With a ``task`` (a
    :class:`~prm_gym.core.task.Task`), its gold values (``metadata["values"]``) are known
    numbers and a stated final answer is correct exactly when it equals ``task.answer``; without
    one, a numeric final answer must equal a value a correct claim of the episode computed (a
    number merely restated from the problem is not enough). Picklable, so envs can snapshot it
    with their state.

    Args:
        prompt: The problem statement (its numbers are known).
        task: The task, when known.
        constants: Extra numbers any step may use (e.g. 60 minutes per hour); like 0 and 1 they
            do not ground a computation on their own.
        answer_timeout: Seconds allowed for a ``math-verify`` comparison of a non-numeric answer.
    """

    def __init__(
        self,
        prompt: str,
        task: Any = None,
        constants: Iterable[Fraction] = (),
        answer_timeout: float = 2.0,
    ) -> None:
        grounding = set(_given_numbers(prompt)) | ({abs(v) for v in _task_values(task)} - _UNIT)
        self.operands: set[Fraction] = (
            grounding | set(_BASE_CONSTANTS) | set(constants) | _task_constants(task)
        )
        self.grounding: set[Fraction] = grounding
        self.established: set[Fraction] = set()
        self.claims: set[_ClaimKey] = set()
        answer = getattr(task, "answer", None) if task is not None else None
        self.gold_answer: str | None = None if answer is None else str(answer)
        self.gold_value: Fraction | None = (
            None if self.gold_answer is None else parse_number(self.gold_answer)
        )
        self.answered = False
        self.answer_timeout = answer_timeout

    def _answer_ok(
        self, text: str, reported: tuple[str, bool] | None, new: set[Fraction]
    ) -> bool | None:
        if reported is not None and reported[0] == text:
            return reported[1]
        value = parse_number(text)
        if self.gold_answer is not None:
            if self.gold_value is not None and value is not None:
                return value == self.gold_value
            return answers_match(self.gold_answer, text, timeout=self.answer_timeout)
        return None if value is None else (value in self.established or value in new)

    def _judge(
        self, step: str, reported: tuple[str, bool] | None
    ) -> tuple[StepVerdict, bool, set[_ClaimKey]]:
        """The verdict on ``step``, whether it states a correct final answer, and the claims it
        established."""
        new: set[Fraction] = set()
        new_abs: set[Fraction] = set()
        keys: set[_ClaimKey] = set()
        idle: str | None = None
        claims = claims_of(step)
        for claim in claims:
            if not claim.correct:
                if claim.lhs_value is None:
                    return StepVerdict(False, True, f"{claim.text} divides by zero"), False, set()
                actual = format_number(claim.lhs_value)
                return StepVerdict(False, True, f"{claim.text} is false ({actual})"), False, set()
            assert claim.lhs_value is not None and claim.rhs_value is not None
            ops = claim.operands
            grounding = self.grounding
            if not any(op in grounding or op in new_abs for op in ops):
                idle = idle or f"{claim.text} computes from constants alone"
                continue
            for op in ops:
                if op not in self.operands and op not in new_abs:
                    reason = (
                        f"{claim.text} uses {format_number(op)}, which is not in the problem or "
                        "an earlier step"
                    )
                    return StepVerdict(False, True, reason), False, set()
            if _is_identity(claim, grounding, new_abs):
                idle = idle or f"{claim.text} is an identity"
                continue
            key = (claim.lhs_value, frozenset(ops) - _UNIT)
            if key in self.claims or key in keys:
                idle = idle or f"{claim.text} was already established"
                continue
            keys.add(key)
            new |= {claim.lhs_value, claim.rhs_value, *claim.results}
            new_abs = {abs(v) for v in new}
        checked = bool(claims)
        answer_correct: bool | None = None
        answer_text = _final_answer(step)
        if answer_text is not None:
            answer_correct = self._answer_ok(answer_text, reported, new)
            if answer_correct is False:
                reason = (
                    f"the answer {answer_text} is not the right answer"
                    if self.gold_answer is not None
                    else f"the answer {answer_text} does not follow from the steps"
                )
                return StepVerdict(False, True, reason, answer_correct=False), False, set()
            checked = checked or answer_correct is not None
        fresh_answer = bool(answer_correct) and not self.answered
        redundant = checked and not new and not fresh_answer
        if redundant and idle is None:
            idle = f"the answer {answer_text} was already given"
        verdict = StepVerdict(
            True,
            checked,
            idle if redundant else None,
            redundant=redundant,
            new_values=frozenset(new),
            answer_correct=answer_correct,
        )
        return verdict, bool(answer_correct), keys

    def peek(self, step: str, reported: tuple[str, bool] | None = None) -> StepVerdict:
        """The verdict on ``step`` as the next step, without recording it.

        ``reported``: ``(answer, correct)``, the env's own verdict on a final answer (used when
        ``answer`` is the answer the step states; see :func:`reported_answer`).
        """
        return self._judge(step, reported)[0]

    def check(self, step: str, reported: tuple[str, bool] | None = None) -> StepVerdict:
        """The verdict on ``step`` as the next step; what it established becomes known."""
        verdict, answered, keys = self._judge(step, reported)
        if verdict.new_values:
            self.claims |= keys
            self.established |= verdict.new_values
            magnitudes = {abs(v) for v in verdict.new_values}
            self.operands |= magnitudes
            self.grounding |= magnitudes
        self.answered = self.answered or answered
        return verdict

    def copy(self) -> StepChecker:
        clone = StepChecker.__new__(StepChecker)
        clone.__dict__.update(self.__dict__)
        clone.operands = set(self.operands)
        clone.grounding = set(self.grounding)
        clone.established = set(self.established)
        clone.claims = set(self.claims)
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


class CheckerCache:
    """Per-episode :class:`StepChecker` states keyed by ``(prompt, task id, steps)``.

    Consecutive steps of an episode then cost one step's check each instead of re-checking the
    whole prefix. Bounded (least recently used entries are dropped).
    """

    def __init__(
        self, constants: Iterable[Fraction] = (), answer_timeout: float = 2.0, size: int = 2048
    ) -> None:
        self.constants = tuple(constants)
        self.answer_timeout = answer_timeout
        self.size = size
        self._cache: OrderedDict[tuple[Any, ...], StepChecker] = OrderedDict()

    def after(self, prompt: str, task: Any, steps: tuple[str, ...]) -> StepChecker:
        """The checker after ``steps`` (do not mutate it; :meth:`StepChecker.copy` first)."""
        task_id = getattr(task, "id", None)
        n = len(steps)
        while n > 0 and (prompt, task_id, steps[:n]) not in self._cache:
            n -= 1
        if n:
            checker = self._cache[(prompt, task_id, steps[:n])]
            if n < len(steps):
                checker = checker.copy()
        else:
            checker = StepChecker(prompt, task, self.constants, self.answer_timeout)
        for i in range(n, len(steps)):
            checker.check(steps[i])
        key = (prompt, task_id, steps)
        self._cache[key] = checker
        self._cache.move_to_end(key)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return checker


class RuleVerifier:
    """Scores maths steps by checking their arithmetic and their consistency with the task.

    Every claim ``expr = value`` in the step is evaluated exactly; the numbers it computes from
    must appear in the problem, among the task's gold intermediate values (when the scorer is
    given the task, as :class:`~prm_gym.wrappers.ProcessReward` does), or among the results of
    earlier correct steps; a stated final answer must be the gold answer (see
    :class:`StepChecker`). A step that establishes nothing new (a repeated result, an identity,
    arithmetic on constants alone such as ``1 + 1 = 2``) scores ``redundant``.

    Summing these scores over an episode (``ProcessReward(env, RuleVerifier())``) still pays
    every *new* true computation, relevant or not: a policy that counts up from a given number
    (``12 + 1 = 13``, ``13 + 1 = 14``, ...) farms it. For a dense reward that cannot be farmed
    use :class:`~prm_gym.envs.math.MathProgress` with :class:`~prm_gym.wrappers.ProgressReward`
    (``prm_gym.make_dense("prm/Math-v0")``).

    Args:
        correct: Score of a step whose checks all pass and that establishes something new.
        incorrect: Score of a step with a false claim, an unknown number or a wrong answer.
        unchecked: Score of a step with nothing to check (prose, algebra).
        redundant: Score of a correct step that establishes nothing new.
        constants: Extra numbers every problem may use (e.g. 60 for minutes per hour).
        answer_timeout: Seconds allowed for a ``math-verify`` answer comparison.

    Example:
        >>> from prm_gym.core import StepContext
        >>> from prm_gym.rewards import RuleVerifier
        >>> prompt = "Ana has 12 bags of 3 apples."
        >>> ctx = StepContext(prompt, previous_steps=(), action="Step 1: 12 * 3 = 36")
        >>> bad = StepContext(prompt, previous_steps=(), action="Step 1: 12 * 3 = 38")
        >>> pad = StepContext(prompt, previous_steps=(), action="Step 1: 1 + 1 = 2")
        >>> again = StepContext(prompt, ("Step 1: 12 * 3 = 36",), action="Step 2: 3 * 12 = 36")
        >>> RuleVerifier().score([ctx, bad, pad, again]).tolist()
        [1.0, -1.0, 0.0, 0.0]
    """

    def __init__(
        self,
        correct: float = 1.0,
        incorrect: float = -1.0,
        unchecked: float = 0.0,
        redundant: float = 0.0,
        constants: Iterable[float | int | str] = (),
        answer_timeout: float = 2.0,
    ) -> None:
        self.correct = correct
        self.incorrect = incorrect
        self.unchecked = unchecked
        self.redundant = redundant
        self.constants = tuple(Fraction(str(c)) for c in constants)
        self._checkers = CheckerCache(self.constants, answer_timeout)

    def verdict(self, context: StepContext) -> StepVerdict:
        checker = self._checkers.after(context.prompt, context.task, context.previous_steps)
        return checker.peek(context.action, reported_answer(context))

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = np.empty(len(contexts), dtype=np.float32)
        for i, context in enumerate(contexts):
            v = self.verdict(context)
            if not v.checked:
                out[i] = self.unchecked
            elif not v.correct:
                out[i] = self.incorrect
            else:
                out[i] = self.redundant if v.redundant else self.correct
        return out
