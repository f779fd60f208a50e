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
    "carry_forward",
    "corrupt_answer",
    "corrupt_arithmetic",
    "flip_operation",
    "gold_prover",
    "noisy_solutions",
]

# "a op b (op c ...) = result": the computation whose result a slip corrupts.
_COMPUTATION = re.compile(
    r"\d+(?:\.\d+)?(?:\s*[-+*/]\s*\d+(?:\.\d+)?)+\s*=\s*(?P<result>-?\d+(?:\.\d+)?(?:/\d+)?)"
)
_BOXED = re.compile(r"\\boxed\{(?P<answer>[^{}]*)\}")
# "a op b = r" with two operands: the computation a procedural mistake changes or carries on.
_BINARY = re.compile(
    r"(?P<a>-?\d+(?:\.\d+)?(?:/\d+)?)\s*(?P<op>[-+*/])\s*(?P<b>\d+(?:\.\d+)?)\s*=\s*"
    r"(?P<result>-?\d+(?:\.\d+)?(?:/\d+)?)"
)
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


def _apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else None


def _rewrite(a: str, op: str, b: str) -> tuple[str, str] | None:
    """The computation ``a op b = r``, computed right: ``(text, r)``; ``None`` if it can't be."""
    x, y = parse_number(a), parse_number(b)
    value = _apply(x, op, y) if x is not None and y is not None else None
    if value is None:
        return None
    result = format_number(value)
    return f"{a} {op} {b} = {result}", result


def flip_operation(
    step: str, rng: np.random.Generator, flip_add: float, flip_sub: float
) -> tuple[str, str, str] | None:
    """A procedural mistake: ``step``'s last ``a + b = r`` done as ``a - b`` (probability
    ``flip_add``) or ``a - b = r`` as ``a + b`` (``flip_sub``), computed right.

    Returns ``(new step, old result, new result)``, or ``None`` when nothing was flipped.

    Example:
        >>> import numpy as np
        >>> flip_operation("Step 1: After getting 7 more: 12 + 7 = 19.", np.random.default_rng(0),
        ...                1.0, 0.0)
        ('Step 1: After getting 7 more: 12 - 7 = 5.', '19', '5')
    """
    matches = list(_BINARY.finditer(step))
    if not matches:
        return None
    last = matches[-1]
    op = last["op"]
    chance = {"+": flip_add, "-": flip_sub}.get(op, 0.0)
    if chance <= 0.0 or rng.random() >= chance:
        return None
    redone = _rewrite(last["a"], "-" if op == "+" else "+", last["b"])
    if redone is None:
        return None
    text, result = redone
    return step[: last.start()] + text + step[last.end() :], last["result"], result


def carry_forward(step: str, carried: dict[str, str]) -> str:
    """``step`` continued from earlier wrong results: each computation's operands found in
    ``carried`` (gold value text -> the value the solution actually reached) are replaced and
    the result recomputed (and added to ``carried``); a boxed answer is replaced the same way.

    Example:
        >>> carried = {"19": "5"}
        >>> carry_forward("Step 2: After getting 3 more: 19 + 3 = 22.", carried)
        'Step 2: After getting 3 more: 5 + 3 = 8.'
        >>> carry_forward("Step 3: The answer is \\\\boxed{22}.", carried)
        'Step 3: The answer is \\\\boxed{8}.'
    """
    if not carried:
        return step
    out, end = [], 0
    for match in _BINARY.finditer(step):
        a, b = carried.get(match["a"], match["a"]), carried.get(match["b"], match["b"])
        if (a, b) == (match["a"], match["b"]):
            continue
        redone = _rewrite(a, match["op"], b)
        if redone is None:
            continue
        out += [step[end : match.start()], redone[0]]
        end = match.end()
        carried[match["result"]] = redone[1]
    step = "".join(out) + step[end:]
    boxed = _BOXED.search(step)
    if boxed and boxed["answer"] in carried:
        step = (
            step[: boxed.start("answer")] + carried[boxed["answer"]] + step[boxed.end("answer") :]
        )
    return step


@dataclass(frozen=True)
class NoiseLevel:
    """How sloppy the scripted solver is.

    Attributes:
        p: Probability that a step's arithmetic result is written wrong (a slip: later steps
            carry on from the correct value, so the final answer is unaffected).
        q: Probability that the final answer is wrong.
        flip_add: Probability that a step's ``a + b`` is done as ``a - b`` (a procedural
            mistake: computed right, and later steps and the answer carry on from the wrong
            value, so the final answer is wrong).
        flip_sub: The same for ``a - b`` done as ``a + b``.
    """

    p: float
    q: float
    flip_add: float = 0.0
    flip_sub: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "q", "flip_add", "flip_sub"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"noise {name} must be in [0, 1], got {value}")

    @property
    def label(self) -> str:
        flips = f" flip+={self.flip_add:g} flip-={self.flip_sub:g}"
        return f"p={self.p:g} q={self.q:g}" + (flips if self.flip_add or self.flip_sub else "")


class NoisySolver:
    """Plays a task's gold steps, corrupting step results with probability ``p`` and the final
    answer with probability ``q``, and flipping ``+``/``-`` with probabilities ``flip_add`` and
    ``flip_sub`` (later steps carried on from the flipped value, :func:`carry_forward`).

    :meth:`plan` returns the actions and, for each, the kind of error injected into it
    (``"slip"``, ``"answer"``, ``"procedure"`` or ``None``; a step carried on from an earlier
    procedural mistake is ``None``: it is right given what came before).
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
        carried: dict[str, str] = {}
        flips = self.noise.flip_add > 0.0 or self.noise.flip_sub > 0.0
        for step in gold:
            kind: str | None = None
            step = carry_forward(step, carried)
            if flips:
                flipped = flip_operation(step, self.rng, self.noise.flip_add, self.noise.flip_sub)
                if flipped is not None:
                    step, kind = flipped[0], "procedure"
                    carried[flipped[1]] = flipped[2]
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
            ``"answer"`` (a wrong final answer), ``"procedure"`` (``+``/``-`` flipped) or
            ``None``.
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
    arithmetic_ops: int | None = None,
) -> list[NoisySolution]:
    """``n`` solutions of procedural tasks by a :class:`NoisySolver`, for training step scorers.

    Solution ``i`` solves task seed ``seed + i // samples_per_task``; the solver's noise is
    drawn from ``np.random.default_rng(seed)`` in order, so the same arguments give the same
    solutions (and disjoint seeds held-out ones). The labels of each step come from playing the
    actions in the env (``info["step_label"]``, ``info["outcome"]``) or from ``errors``.

    Args:
        n: Number of solutions.
        seed: First task seed and seed of the solver's noise.
        noise: A :class:`NoiseLevel` or ``(p, q[, flip_add, flip_sub])``: probabilities of an
            arithmetic slip per step, of a wrong final answer, and of the procedural mistakes.
        samples_per_task: Solutions per task (> 1 for best-of-N evaluation).
        levels: Procedural difficulty levels (default: all).
        families: Procedural families (default: all).
        arithmetic_ops: Operations per arithmetic word problem (default: level + 1; see
            :class:`~prm_gym.envs.math.generator.MathConfig`).
    """
    if n < 0 or samples_per_task < 1:
        raise ValueError(f"need n >= 0 and samples_per_task >= 1, got {n}, {samples_per_task}")
    level = noise if isinstance(noise, NoiseLevel) else NoiseLevel(*noise)
    config = MathConfig(
        families=tuple(families) if families else FAMILIES,
        levels=tuple(levels) if levels else LEVELS,
        arithmetic_ops=arithmetic_ops,
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
