"""Procedural multi-step maths problems with gold steps and intermediate values.

A task family is a config plus a generator that is a pure function of ``(config, seed)``: the same
seed gives the same task on any machine. Three families, five difficulty levels each:

* ``arithmetic`` — word problems over a running quantity (level = number of operations − 1,
  numbers grow with the level; multiplication and division from level 2;
  ``MathConfig(arithmetic_ops=n)`` sets the number of operations to ``n`` at any level);
* ``linear`` — linear equations in ``x``: ``x + b = c`` (1), ``ax = c`` (2), ``ax + b = c`` (3),
  ``ax + b = cx + d`` (4), ``a(x + b) = cx + d`` with a possibly fractional root (5);
* ``fraction`` — fractions and percentages of quantities, discounts, chained fractions and
  "what fraction is left" questions.

Each gold step is written ``Step k: ...`` and contains the arithmetic claim it makes
(``12 * 3 = 36``); the last step states ``\\boxed{answer}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from prm_gym.core.task import Task
from prm_gym.envs.math.answers import format_number

__all__ = ["FAMILIES", "LEVELS", "MathConfig", "generate", "solution_text"]

FAMILIES = ("arithmetic", "linear", "fraction")
LEVELS = (1, 2, 3, 4, 5)

_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi")
_ITEMS = ("apples", "marbles", "stickers", "books", "coins", "pencils", "shells", "cards")


@dataclass(frozen=True)
class MathConfig:
    """Which problems ``generate`` draws: families and difficulty levels, chosen uniformly.

    ``arithmetic_ops`` (1-8) fixes the number of operations of ``arithmetic`` word problems
    (default ``None``: ``level + 1``); the level still sets the numbers' range and the
    operations allowed, so ``levels=(1,), arithmetic_ops=4`` gives longer chains of ``+`` and
    ``-`` over small numbers. Leaving it ``None`` draws exactly the tasks of earlier versions.
    """

    families: tuple[str, ...] = FAMILIES
    levels: tuple[int, ...] = LEVELS
    arithmetic_ops: int | None = None

    def __post_init__(self) -> None:
        ops = self.arithmetic_ops
        if ops is not None and (
            isinstance(ops, bool) or not isinstance(ops, int) or not 1 <= ops <= 8
        ):
            raise ValueError(f"arithmetic_ops must be None or an int in 1..8, got {ops!r}")
        bad = [f for f in self.families if f not in FAMILIES]
        if bad or not self.families:
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {bad}")
        if not self.levels or any(lvl not in LEVELS for lvl in self.levels):
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}")


@dataclass
class _Builder:
    """Accumulates gold steps and the values they compute."""

    steps: list[str] = field(default_factory=list)
    values: list[Fraction] = field(default_factory=list)

    def step(self, text: str, *values: Fraction) -> None:
        self.steps.append(f"Step {len(self.steps) + 1}: {text}")
        self.values.extend(values)

    def finish(self, answer: str) -> None:
        self.step(f"The answer is \\boxed{{{answer}}}.")


def _n(x: Fraction | int) -> str:
    return format_number(Fraction(x))


def _arithmetic(
    rng: np.random.Generator, level: int, b: _Builder, ops: int | None = None
) -> tuple[str, Fraction]:
    name = str(rng.choice(_NAMES))
    item = str(rng.choice(_ITEMS))
    top = (20, 50, 100, 200, 500)[level - 1]
    if level >= 3:
        packs, per = int(rng.integers(2, 10)), int(rng.integers(3, 13))
        value = Fraction(packs * per)
        text = [f"{name} has {packs} boxes with {per} {item} in each box."]
        b.step(f"{name} starts with {packs} * {per} = {_n(value)} {item}.", value)
    else:
        value = Fraction(int(rng.integers(5, top)))
        text = [f"{name} has {_n(value)} {item}."]
    allowed = ["add", "sub"] + (["mul", "div"] if level >= 2 else [])
    for _ in range(level + 1 if ops is None else ops):
        op = str(rng.choice(allowed))
        if op == "div":
            divisors = [k for k in range(2, 10) if value % k == 0 and value // k >= 1]
            op = "div" if divisors else "add"
        if op == "sub" and value <= 2:
            op = "add"
        if op == "add":
            k = int(rng.integers(2, top))
            new = value + k
            text.append(f"Then {name} gets {k} more {item}.")
            b.step(f"After getting {k} more: {_n(value)} + {k} = {_n(new)}.", new)
        elif op == "sub":
            k = int(rng.integers(1, int(value)))
            new = value - k
            text.append(f"Then {name} gives {k} {item} away.")
            b.step(f"After giving {k} away: {_n(value)} - {k} = {_n(new)}.", new)
        elif op == "mul":
            k = int(rng.integers(2, 5))
            new = value * k
            text.append(f"Then {name}'s collection grows to {k} times its size.")
            b.step(f"Growing {k} times: {_n(value)} * {k} = {_n(new)}.", new)
        else:
            k = int(rng.choice(divisors))
            new = value / k
            text.append(f"Then {name} splits the {item} into {k} equal groups and keeps one.")
            b.step(f"One of {k} equal groups: {_n(value)} / {k} = {_n(new)}.", new)
        value = new
    text.append(f"How many {item} does {name} have now?")
    return " ".join(text), value


def _term(coef: int) -> str:
    return "x" if coef == 1 else f"{coef}x"


def _const(c: int) -> str:
    return f"+ {c}" if c >= 0 else f"- {-c}"


def _isolate(b: _Builder, coef: int, const: int, rhs: int) -> Fraction:
    """Gold steps for ``coef·x + const = rhs`` → x."""
    lhs = _term(coef)
    if const > 0:
        moved = Fraction(rhs - const)
        b.step(f"Subtract {const} from both sides: {lhs} = {rhs} - {const} = {_n(moved)}.", moved)
    elif const < 0:
        moved = Fraction(rhs - const)
        b.step(f"Add {-const} to both sides: {lhs} = {rhs} + {-const} = {_n(moved)}.", moved)
    else:
        moved = Fraction(rhs)
    if coef == 1:
        return moved
    x = moved / coef
    b.step(f"Divide both sides by {coef}: x = {_n(moved)} / {coef} = {_n(x)}.", x)
    return x


def _linear(rng: np.random.Generator, level: int, b: _Builder) -> tuple[str, Fraction]:
    x = int(rng.integers(-9, 13)) if level in (3, 4) else int(rng.integers(1, 13))
    if level == 1:
        c0 = int(rng.integers(1, 30))
        eq = f"x + {c0} = {x + c0}"
        root = _isolate(b, 1, c0, x + c0)
    elif level == 2:
        a = int(rng.integers(2, 10))
        eq = f"{a}x = {a * x}"
        root = _isolate(b, a, 0, a * x)
    elif level == 3:
        a, c0 = int(rng.integers(2, 10)), int(rng.integers(-20, 21)) or 7
        eq = f"{_term(a)} {_const(c0)} = {a * x + c0}"
        root = _isolate(b, a, c0, a * x + c0)
    elif level == 4:
        c = int(rng.integers(1, 8))
        a = c + int(rng.integers(1, 6))
        b0 = int(rng.integers(-15, 16)) or 4
        d = (a - c) * x + b0
        eq = f"{_term(a)} {_const(b0)} = {_term(c)} {_const(d)}"
        k = Fraction(a - c)
        b.step(
            f"Subtract {_term(c)} from both sides. The x coefficient becomes {a} - {c} = "
            f"{_n(k)}, so {_term(a - c)} {_const(b0)} = {d}.",
            k,
        )
        root = _isolate(b, a - c, b0, d)
    else:
        a = int(rng.integers(2, 7))
        c = a + int(rng.integers(1, 5))
        b0 = int(rng.integers(1, 10))
        d = int(rng.integers(-20, 21)) or 5
        # a(x + b0) = cx + d  ->  (c - a)x + d = a*b0
        eq = f"{a}(x + {b0}) = {_term(c)} {_const(d)}"
        ab = Fraction(a * b0)
        b.step(
            f"Expand the left side: {a} * {b0} = {_n(ab)}, "
            f"so {a}x + {_n(ab)} = {_term(c)} {_const(d)}.",
            ab,
        )
        k = Fraction(c - a)
        b.step(
            f"Subtract {a}x from both sides. The x coefficient on the right becomes {c} - {a} = "
            f"{_n(k)}, so {_term(c - a)} {_const(d)} = {_n(ab)}.",
            k,
        )
        root = _isolate(b, c - a, d, a * b0)
    return f"Solve for x: {eq}.", Fraction(root)


def _fraction(rng: np.random.Generator, level: int, b: _Builder) -> tuple[str, Fraction]:
    name = str(rng.choice(_NAMES))
    if level == 1:
        den = int(rng.integers(2, 9))
        num = int(rng.integers(1, den))
        total = den * int(rng.integers(2, 12))
        value = Fraction(total * num, den)
        b.step(f"{num}/{den} of {total} is {total} * {num} / {den} = {_n(value)}.", value)
        return f"What is {num}/{den} of {total}?", value
    if level == 2:
        pct = int(rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 75]))
        total = 20 * int(rng.integers(1, 30))
        value = Fraction(total * pct, 100)
        b.step(f"{pct}% of {total} is {total} * {pct} / 100 = {_n(value)}.", value)
        return f"What is {pct}% of {total}?", value
    if level == 3:
        pct = int(rng.choice([10, 15, 20, 25, 30, 40, 50]))
        price = 20 * int(rng.integers(1, 25))
        off = Fraction(price * pct, 100)
        b.step(f"The discount is {price} * {pct} / 100 = {_n(off)} dollars.", off)
        value = price - off
        b.step(f"The sale price is {price} - {_n(off)} = {_n(value)} dollars.", value)
        return (
            f"A jacket costs ${price}. {name} buys it at {pct}% off. "
            "How many dollars does the jacket cost after the discount?",
            value,
        )
    if level == 4:
        d1, d2 = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        n1, n2 = int(rng.integers(1, d1)), int(rng.integers(1, d2))
        total = d1 * d2 * int(rng.integers(1, 8))
        first = Fraction(total * n1, d1)
        b.step(f"The girls number {total} * {n1} / {d1} = {_n(first)}.", first)
        value = first * n2 / d2
        b.step(f"Those wearing glasses number {_n(first)} * {n2} / {d2} = {_n(value)}.", value)
        return (
            f"A school has {total} students and {n1}/{d1} of them are girls. "
            f"{n2}/{d2} of the girls wear glasses. How many girls wear glasses?",
            value,
        )
    slices = int(rng.choice([8, 10, 12, 16]))
    a = int(rng.integers(1, slices // 2))
    c = int(rng.integers(1, slices - a))
    eaten = Fraction(a + c)
    b.step(f"Together they eat {a} + {c} = {_n(eaten)} slices.", eaten)
    left = slices - eaten
    b.step(f"Slices left: {slices} - {_n(eaten)} = {_n(left)}.", left)
    value = left / slices
    b.step(
        f"The fraction left is {_n(left)} / {slices} = {value.numerator}/{value.denominator}.",
        value,
    )
    return (
        f"A pizza is cut into {slices} equal slices. {name} eats {a} slices and a friend eats "
        f"{c} slices. What fraction of the pizza is left? Give the fraction in lowest terms.",
        value,
    )


_FAMILY_FNS: dict[str, Callable[[np.random.Generator, int, _Builder], tuple[str, Fraction]]] = {
    "arithmetic": _arithmetic,
    "linear": _linear,
    "fraction": _fraction,
}


def generate(config: MathConfig, seed: int) -> Task:
    """The task for ``seed`` under ``config`` — a pure function of its arguments."""
    rng = np.random.default_rng(seed)
    family = str(config.families[int(rng.integers(len(config.families)))])
    level = int(config.levels[int(rng.integers(len(config.levels)))])
    builder = _Builder()
    custom_ops = family == "arithmetic" and config.arithmetic_ops is not None
    if custom_ops:
        prompt, value = _arithmetic(rng, level, builder, config.arithmetic_ops)
    else:
        prompt, value = _FAMILY_FNS[family](rng, level, builder)
    # "What fraction ... ?" questions are answered as a fraction, everything else canonically.
    fraction_wanted = "What fraction" in prompt and value.denominator != 1
    answer = f"{value.numerator}/{value.denominator}" if fraction_wanted else format_number(value)
    builder.finish(answer)
    # Tasks with a custom length get their own ids (and say so), so they never collide with
    # the default tasks of the same seed.
    length = f"-ops{config.arithmetic_ops}" if custom_ops else ""
    metadata_ops = {"arithmetic_ops": config.arithmetic_ops} if custom_ops else {}
    return Task(
        id=f"math-{family}-L{level}{length}-{seed}",
        prompt=prompt,
        answer=answer,
        metadata={
            "family": family,
            "level": level,
            "seed": seed,
            "gold_steps": tuple(builder.steps),
            "values": tuple(format_number(v) for v in builder.values),
            "constants": ("100",) if family == "fraction" else (),
            **metadata_ops,
        },
    )


def solution_text(task: Task) -> str:
    """The task's gold solution as one newline-separated text (for single-turn mode)."""
    return "\n".join(task.metadata["gold_steps"])
