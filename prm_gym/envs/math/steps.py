"""Splitting solutions into steps and reading the arithmetic claims inside a step.

A *claim* is an equation between two arithmetic expressions written in a step, such as
``12 * 3 = 36`` or the ``11 - 3 = 8`` inside ``2x = 11 - 3 = 8``. Claims are evaluated exactly
with :class:`fractions.Fraction`; algebra (``2x + 3 = 11``) and prose are skipped, not judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise

__all__ = [
    "Claim",
    "claims_of",
    "extract_claims",
    "known_numbers",
    "normalise_maths",
    "numbers_in",
    "split_steps",
]

# "Step k:" at the start of a line, or after the end of a sentence on the same line. No two
# adjacent quantifiers may match the same characters (that makes runs of spaces quadratic).
_STEP_MARKER = re.compile(
    r"(?im)(?:^|(?<=[.!?])[ \t])[ \t]*(?:\*\*)?step\s*\d+\s*(?:\*\*\s*)?[:.)]"
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_NUM = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ARITH = set("0123456789.+-*/() \t")
_MAX_DIGITS = 40
_MAX_DEPTH = 64  # nested brackets and signs in one arithmetic expression
_NUM_SPAN = re.compile(r"\d+(?:\.\d+)?")
_SLASH = re.compile(r"\s*/\s*")
_PERCENT = re.compile(r"\s*(?:\\?%|percent)")

_WORD_NUMBERS = {
    "half": (Fraction(1, 2), Fraction(2)),
    "halves": (Fraction(1, 2), Fraction(2)),
    "twice": (Fraction(2),),
    "double": (Fraction(2),),
    "triple": (Fraction(3),),
    "thrice": (Fraction(3),),
    "third": (Fraction(1, 3), Fraction(3)),
    "quarter": (Fraction(1, 4), Fraction(4)),
    "dozen": (Fraction(12),),
    "percent": (Fraction(100),),
}
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
}


@lru_cache(maxsize=8192)
def _fraction(literal: str) -> Fraction:
    """``Fraction(literal)`` for an unsigned decimal literal; cached, as parsing is the hot path."""
    if "." in literal:
        whole, frac = literal.split(".")
        return Fraction(int(whole + frac), 10 ** len(frac))
    return Fraction(int(literal))


def split_steps(solution: str) -> list[str]:
    """Split a whole solution into steps: at ``Step k:`` markers (at a line start or after a
    sentence's end) when present, else at lines."""
    starts = [m.start() for m in _STEP_MARKER.finditer(solution)]
    if starts:
        bounds = [*starts, len(solution)]
        head = solution[: starts[0]].strip()
        steps = [solution[a:b].strip() for a, b in pairwise(bounds)]
        return ([head] if head else []) + [s for s in steps if s]
    return [line.strip() for line in solution.splitlines() if line.strip()]


def normalise_maths(text: str) -> str:
    """Rewrite maths notation into plain ``+ - * / ( )`` arithmetic where it is unambiguous."""
    s = text
    for _ in range(3):  # nested \frac, innermost first
        s = _FRAC.sub(r"(\1)/(\2)", s)
    for old, new in (
        ("\\times", "*"),
        ("\\cdot", "*"),
        ("\\div", "/"),
        ("×", "*"),
        ("·", "*"),
        ("÷", "/"),
        ("−", "-"),
        ("–", "-"),
        ("\\left", ""),
        ("\\right", ""),
        ("\\(", ""),
        ("\\)", ""),
        ("\\[", ""),
        ("\\]", ""),
        ("$", ""),
        ("<=", " ≤ "),
        (">=", " ≥ "),
        ("!=", " ≠ "),
        ("==", " = "),
        ("=>", " ⇒ "),
    ):
        s = s.replace(old, new)
    return _THOUSANDS.sub("", s)


def numbers_in(text: str) -> list[Fraction]:
    """Every unsigned number literal in ``text`` (after :func:`normalise_maths`)."""
    return [_fraction(m) for m in _NUM.findall(normalise_maths(text)) if len(m) <= _MAX_DIGITS]


def known_numbers(text: str) -> set[Fraction]:
    """Numbers a problem statement makes available: literals, ``a/b`` values, ``p%`` as p/100,
    and number words (``half``, ``twice``, ``dozen``, ``one`` … ``twelve``)."""
    s = normalise_maths(text)
    known = set(numbers_in(s))
    # One pass over the number literals (a regex search for "a / b" that backtracks over
    # digit runs is quadratic on long runs of digits).
    spans = list(_NUM_SPAN.finditer(s))
    denominator_next = False
    for m, following in zip(spans, [*spans[1:], None][: len(spans)], strict=True):
        literal = m.group()
        is_denominator, denominator_next = denominator_next, False
        if len(literal) > _MAX_DIGITS:
            continue
        if _PERCENT.match(s, m.end()):
            known |= {_fraction(literal) / 100, Fraction(100)}
        if is_denominator:  # "a / b / c" reads as a/b only, as before
            continue
        slash = _SLASH.match(s, m.end())
        if slash and following is not None and following.start() == slash.end():
            denominator_next = True
            denominator = following.group()
            if len(denominator) <= _MAX_DIGITS and _fraction(denominator) != 0:
                known.add(_fraction(literal) / _fraction(denominator))
    for word in re.findall(r"[a-z]+", s.lower()):
        if word in _WORD_NUMBERS:
            known.update(_WORD_NUMBERS[word])
        elif word in _NUMBER_WORDS:
            known.add(Fraction(_NUMBER_WORDS[word]))
    return known


@dataclass(frozen=True)
class Claim:
    """``lhs = rhs`` as written, with both sides evaluated exactly.

    ``operands`` are the numbers the computation starts from (the literals on each side that has
    an operator); ``results`` the signed values of the
    bare-number (or ``a/b``) sides it asserts. ``tolerance`` accepts a result
    written as a rounded decimal (``10 / 3 = 3.33``).
    """

    text: str
    lhs_value: Fraction | None
    rhs_value: Fraction | None
    operands: tuple[Fraction, ...]
    results: tuple[Fraction, ...]
    tolerance: Fraction

    @property
    def correct(self) -> bool:
        if self.lhs_value is None or self.rhs_value is None:
            return False  # e.g. division by zero
        return abs(self.lhs_value - self.rhs_value) <= self.tolerance


class _Parser:
    """Recursive descent over ``+ - * / ( )`` and unsigned decimals; exact rationals."""

    def __init__(self, text: str) -> None:
        self.tokens = re.findall(r"\d+(?:\.\d+)?|[-+*/()]", text)
        if "".join(self.tokens) != re.sub(r"\s+", "", text):
            raise ValueError("not an arithmetic expression")
        self.pos = 0
        self.depth = 0

    def parse(self) -> Fraction:
        value = self.expr()
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ValueError("unexpected end")
        self.pos += 1
        return tok

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                value *= self.factor()
            else:
                divisor = self.factor()
                if divisor == 0:
                    raise ZeroDivisionError
                value /= divisor
        return value

    def factor(self) -> Fraction:
        tok = self.take()
        if tok in ("-", "+", "("):
            # Signs and brackets recurse: bound the depth so "((((...1" or "----1" is
            # simply not a claim (instead of a RecursionError).
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise ValueError("nested too deeply")
            try:
                if tok == "-":
                    return -self.factor()
                if tok == "+":
                    return self.factor()
                value = self.expr()
                if self.take() != ")":
                    raise ValueError("unbalanced parentheses")
                return value
            finally:
                self.depth -= 1
        if tok[0].isdigit():
            if len(tok) > _MAX_DIGITS:
                raise ValueError("number too long")
            return _fraction(tok)
        raise ValueError(f"unexpected token {tok!r}")


def _evaluate(expr: str) -> Fraction | None:
    """Exact value, ``None`` on division by zero; raises ``ValueError`` if not arithmetic."""
    try:
        return _Parser(expr).parse()
    except ZeroDivisionError:
        return None


def _left_side(segment: str) -> str | None:
    i = len(segment)
    while i > 0 and segment[i - 1] in _ARITH:
        i -= 1
    raw = segment[i:]
    expr = raw.strip()
    before = segment[:i].rstrip()
    if not expr or not any(c.isdigit() for c in expr):
        return None
    if expr[0] in "+*/" or expr[-1] in "+-*/":
        return None  # continues an algebraic expression (``2x + 3``)
    if i > 0 and not raw[0].isspace() and (segment[i - 1].isalnum() or segment[i - 1] in "_^}"):
        return None  # glued to a variable or exponent (``x2``, ``10^2``)
    if expr[0] == "-" and before and (before[-1].isalnum() or before[-1] == ")"):
        return None  # binary minus continuing an algebraic term
    expr = _strip_unbalanced(expr, "(", ")")
    if _is_bare_number(expr) and before and before[-1].isalpha():
        return None  # "20% of 50 = 10": the words carry the operation
    return expr


def _right_side(segment: str) -> str | None:
    i = 0
    while i < len(segment) and segment[i] in _ARITH:
        i += 1
    raw = segment[:i]
    expr = raw.strip()
    if not expr or not any(c.isdigit() for c in expr):
        return None
    if expr[-1] in "+-*/" or expr[0] in "*/":
        return None
    after = segment[i:]
    if after and not raw[-1].isspace() and (after[0].isalnum() or after[0] in "_^\\{"):
        return None  # ``= 3x``, ``= 2^3``, ``= 3\sqrt{2}``
    expr = _strip_unbalanced(expr[::-1], ")", "(")[::-1]
    # A sentence full stop is not a decimal point.
    return expr.rstrip(".") or None


def _strip_unbalanced(expr: str, opening: str, closing: str) -> str:
    """Drop leading ``opening`` brackets (and the spaces after each) while they outnumber the
    ``closing`` ones; linear in the length of ``expr``."""
    surplus = expr.count(opening) - expr.count(closing)
    i = 0
    while surplus > 0 and i < len(expr) and expr[i] == opening:
        i += 1
        surplus -= 1
        while i < len(expr) and expr[i].isspace():
            i += 1
    return expr[i:]


def _is_bare_number(expr: str) -> bool:
    return re.fullmatch(r"-?\s*\d+(?:\.\d+)?", expr) is not None


def extract_claims(step: str) -> list[Claim]:
    """The arithmetic claims written in ``step``, in order."""
    return list(claims_of(step))


@lru_cache(maxsize=4096)
def claims_of(step: str) -> tuple[Claim, ...]:
    """:func:`extract_claims` as a cached tuple: verifiers judge a step once as the step scored
    and again as history of the next one, so each step is parsed once."""
    segments = normalise_maths(step).split("=")
    claims = []
    for left_seg, right_seg in pairwise(segments):
        lhs, rhs = _left_side(left_seg), _right_side(right_seg)
        if lhs is None or rhs is None:
            continue
        lhs_bare = _is_bare_number(lhs)
        # A result may be written as a fraction: "6 / 16 = 3/8" asserts the value 3/8.
        rhs_bare = _is_bare_number(rhs) or (
            not lhs_bare and re.fullmatch(r"-?\d+/\d+", rhs) is not None
        )
        if lhs_bare and rhs_bare:
            continue  # "36 = 36" asserts no computation
        try:
            lhs_value, rhs_value = _evaluate(lhs), _evaluate(rhs)
        except ValueError:
            continue
        operands: list[Fraction] = []
        results: list[Fraction] = []
        for side, bare, value in ((lhs, lhs_bare, lhs_value), (rhs, rhs_bare, rhs_value)):
            if bare:
                if value is not None:
                    results.append(value)
            else:
                operands.extend(_fraction(n) for n in _NUM.findall(side))
        tolerance = Fraction(0)
        if _is_bare_number(rhs) and "." in rhs:
            decimals = len(rhs.split(".")[1])
            tolerance = Fraction(1, 2 * 10**decimals)
        claims.append(
            Claim(
                f"{lhs} = {rhs}", lhs_value, rhs_value, tuple(operands), tuple(results), tolerance
            )
        )
    return tuple(claims)
