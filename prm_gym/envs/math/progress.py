"""Verified progress of a maths solution: the share of the task's gold values it established.

:class:`MathProgress` is the :class:`~prm_gym.core.scorer.ProgressMeasure` of prm/Math-v0, the
measure behind its recommended dense stack (``prm_gym.make_dense("prm/Math-v0")``:
``ProgressReward(env, MathProgress(), coef)``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.math.answers import parse_number
from prm_gym.envs.math.verifier import StepChecker, reported_answer

__all__ = ["MathProgress", "gold_units"]

_ANSWER = "answer"
"""The unit of a final answer that is not a plain number (MATH-style LaTeX answers)."""


def gold_units(task: Any) -> frozenset[Fraction | str]:
    """What a solution of ``task`` must establish: its gold values and its final answer.

    The gold values are ``task.metadata["values"]`` (procedural tasks: every intermediate
    result; GSM8K records: the results of the solution's ``<<a*b=c>>`` annotations) and the
    final answer, all as exact numbers, each once. A final answer that is not a plain number
    is the single unit ``"answer"``. A task without an answer has no units.
    """
    units: set[Fraction | str] = set()
    meta = getattr(task, "metadata", None) or {}
    for text in meta.get("values", ()):
        value = parse_number(str(text))
        if value is not None:
            units.add(value)
    answer = getattr(task, "answer", None)
    if answer is not None:
        value = parse_number(str(answer))
        units.add(_ANSWER if value is None else value)
    return frozenset(units)


@dataclass
class _State:
    """A solution prefix's checker and the gold units its correct steps reached."""

    checker: StepChecker
    units: frozenset[Fraction | str]
    reached: frozenset[Fraction | str]

    def advance(self, step: str, reported: tuple[str, bool] | None = None) -> None:
        verdict = self.checker.check(step, reported)
        if not verdict.correct:
            return
        reached: set[Fraction | str] = set(verdict.new_values)
        if verdict.answer_correct:
            value = self.checker.gold_value
            reached.add(_ANSWER if value is None else value)
        self.reached |= frozenset(reached) & self.units

    def phi(self) -> float:
        return len(self.reached) / len(self.units) if self.units else 0.0


class MathProgress:
    """Φ(prefix) = share of the task's gold values established by the prefix's correct steps.

    The steps are judged in order by the env's :class:`~prm_gym.envs.math.StepChecker`. A gold
    value (see :func:`gold_units`) counts once, when a correct claim first computes it
    (``96 + 16 = 112`` establishes 112) or, for the final answer, when a correct final answer
    states it. Only new computations establish anything: repeating a claim, identities
    (``112 * 1 = 112``), arithmetic on constants alone (``1 + 1 = 2``), restating a number
    (``12 = 12``), false claims, claims on unknown numbers and wrong final answers add nothing.
    Φ is non-decreasing along a prefix, 1.0 after the whole gold solution, and ``1 / k`` (``k``
    gold units) for the right answer stated without work.

    Dataset tasks: GSM8K records keep the results of their ``<<a*b=c>>`` calculator annotations
    as gold values, so Φ rises with the intermediate results too; MATH-style and plain records
    know only their final answer, so Φ is 0 until a correct final answer and 1 after it (the
    progress term then adds to the outcome without shaping the path to it). Without a task
    (``context.task is None``) nothing is known to be gold and Φ is 0.

    With :class:`~prm_gym.wrappers.ProgressReward` each step earns ``coef`` times the rise of
    the running best Φ, so an episode's dense total is ``coef · max Φ``: the gold solution
    earns the most, and padding, repeating or guessing earns at most the share they truly
    established. (A policy that enumerates many correct computations on the problem's numbers
    can stumble on gold values; it then has found part of the solution.)

    Incremental like :class:`~prm_gym.envs.math.RuleVerifier`: the state after each prefix is
    cached, so consecutive steps of an episode cost one step's check each.

    Args:
        constants: Extra numbers every problem may use (e.g. 60 minutes per hour).
        answer_timeout: Seconds allowed for a ``math-verify`` comparison of a final answer that
            is not a plain number (when the env did not report its own verdict).

    Example:
        >>> from prm_gym.core import StepContext
        >>> from prm_gym.envs.math import MathConfig, MathProgress, generate
        >>> task = generate(MathConfig(families=("arithmetic",), levels=(3,)), 1)
        >>> gold = task.metadata["gold_steps"]
        >>> measure = MathProgress()
        >>> steps = [StepContext(task.prompt, gold[:i], s, task=task) for i, s in enumerate(gold)]
        >>> measure.progress(steps).round(2).tolist()
        [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
        >>> pad = StepContext(task.prompt, (), "1 + 1 = 2", task=task)
        >>> float(measure.progress([pad])[0])
        0.0
    """

    def __init__(self, constants: Iterable[float | int | str] = (), answer_timeout: float = 2.0):
        self.constants = tuple(Fraction(str(c)) for c in constants)
        self.answer_timeout = answer_timeout
        self._cache: OrderedDict[tuple[Any, ...], _State] = OrderedDict()

    _cache_size = 2048

    def _state_after(self, prompt: str, task: Any, steps: tuple[str, ...]) -> _State:
        task_id = getattr(task, "id", None)
        n = len(steps)
        while n > 0 and (prompt, task_id, steps[:n]) not in self._cache:
            n -= 1
        if n:
            cached = self._cache[(prompt, task_id, steps[:n])]
            state = _State(cached.checker.copy(), cached.units, cached.reached)
        else:
            checker = StepChecker(prompt, task, self.constants, self.answer_timeout)
            state = _State(checker, gold_units(task), frozenset())
        for i in range(n, len(steps)):
            state.advance(steps[i])
        return state

    def _remember(self, prompt: str, task: Any, steps: tuple[str, ...], state: _State) -> None:
        key = (prompt, getattr(task, "id", None), steps)
        self._cache[key] = state
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def measure(self, context: StepContext) -> float:
        """Φ of the prefix ``context.previous_steps + (context.action,)``."""
        if context.task is None:
            return 0.0
        previous = tuple(context.previous_steps)
        state = self._state_after(context.prompt, context.task, previous)
        state.advance(context.action, reported_answer(context))
        self._remember(context.prompt, context.task, (*previous, context.action), state)
        return state.phi()

    def progress(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """Φ ∈ [0, 1] of each context's prefix (float64)."""
        return np.array([self.measure(c) for c in contexts], dtype=np.float64)
