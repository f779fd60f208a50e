"""Final-answer extraction and checking for prm/Math-v0.

Checking takes a fast exact path when both answers are plain numbers (integers, decimals,
``a/b``, ``\\frac{a}{b}``, optional sign, thousands separators, ``$`` and ``%``) and falls back to
``math-verify`` for everything else (expressions, sets, intervals, LaTeX), under a time bound of
our own: math-verify's built-in ``signal.alarm`` timeout fails off the main thread, so we call it
with its timeouts disabled and bound it ourselves (:func:`call_with_time_limit`).
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from fractions import Fraction
from typing import Any, TypeVar

__all__ = [
    "AnswerTimeout",
    "answers_match",
    "call_with_time_limit",
    "extract_final_answer",
    "format_number",
    "parse_number",
]

T = TypeVar("T")

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(r"(?im)(?:^|(?<=[\s.]))(?:final\s+)?answer\s*(?:is)?\s*[:=]\s*(.+?)\s*$")
_NUMBER = re.compile(
    r"^(?P<sign>[-+−]?)\s*\$?\s*(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<dec>\d+))?\s*$"
)
_FRAC_LATEX = re.compile(
    r"^(?P<sign>[-+−]?)\s*\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}$"
)
_FRAC_SLASH = re.compile(
    r"^(?P<sign>[-+−]?)\s*\(?\s*([^/()]+?)\s*\)?\s*/\s*\(?\s*([^/()]+?)\s*\)?$"
)


class AnswerTimeout(Exception):
    """A fallback check ran past its time bound."""


def extract_final_answer(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), else of the last
    ``Answer: ...`` line; ``None`` when there is neither. An empty box counts as no answer."""
    last: str | None = None
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    last = text[start:i]
                    break
    if last is not None:
        return last.strip() or None
    lines = _ANSWER_LINE.findall(text)
    if lines:
        answer = lines[-1].strip().rstrip(".").strip()
        boxed_inline = answer.strip("$ ")
        return boxed_inline or None
    return None


def parse_number(text: str) -> Fraction | None:
    """An exact rational for a plain number or fraction, else ``None``.

    Accepts ``42``, ``-3.5``, ``1,234``, ``$12``, ``50%`` (read as 50), ``7/2``, ``\\frac{7}{2}``,
    ``\\dfrac``/``\\tfrac``, ``−`` (U+2212) as minus, and surrounding ``$...$`` math delimiters.
    """
    s = text.strip().strip("$").strip()
    s = s.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "")
    s = re.sub(r"\\?%$", "", s).strip()
    s = re.sub(r"^\\text\{\s*(.*?)\s*\}$", r"\1", s)
    if not s or len(s) > 64:
        return None
    m = _NUMBER.match(s)
    if m and (m["int"] or m["dec"]):
        value = Fraction(int(m["int"].replace(",", "") or 0))
        if m["dec"]:
            value += Fraction(int(m["dec"]), 10 ** len(m["dec"]))
        return -value if m["sign"] in ("-", "−") else value
    for pattern in (_FRAC_LATEX, _FRAC_SLASH):
        f = pattern.match(s)
        if f:
            num, den = parse_number(f[2]), parse_number(f[3])
            if num is None or den is None or den == 0:
                return None
            value = num / den
            return -value if f["sign"] in ("-", "−") else value
    return None


def format_number(value: Fraction) -> str:
    """Canonical text for a rational: ``42``, ``-3.5`` (terminating decimals) or ``7/3``."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:
        return f"{float(value):.10f}".rstrip("0").rstrip(".")
    return f"{value.numerator}/{value.denominator}"


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def call_with_time_limit(fn: Callable[[], T], seconds: float) -> T:
    """Run ``fn()`` and raise :class:`AnswerTimeout` if it takes longer than ``seconds``.

    On the main thread of a POSIX process this interrupts ``fn`` with ``SIGALRM`` (restoring any
    previous handler and timer). Elsewhere ``fn`` runs on a daemon worker thread and the caller
    stops waiting at the bound; the abandoned call finishes in the background.
    """
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def _raise(signum: int, frame: Any) -> None:
            raise AnswerTimeout(f"answer check exceeded {seconds} s")

        previous = signal.signal(signal.SIGALRM, _raise)
        old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if old_delay:
                signal.setitimer(signal.ITIMER_REAL, old_delay, old_interval)
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="prm-gym-verify")
    future = _executor.submit(fn)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        raise AnswerTimeout(f"answer check exceeded {seconds} s") from None


def _math_verify(gold: str, predicted: str) -> bool:
    import math_verify.grader
    import math_verify.parser
    from math_verify import parse, verify  # heavy import, only on the slow path

    # We bound time ourselves, so math-verify's "timeout disabled" warning is noise.
    math_verify.parser.TIMEOUT_WARNING_SHOWN = True
    math_verify.grader.TIMEOUT_WARNING_SHOWN = True

    def check() -> bool:
        gold_parsed = parse(_as_latex(gold), parsing_timeout=None)
        pred_parsed = parse(_as_latex(predicted), parsing_timeout=None)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))

    return check()


def _as_latex(answer: str) -> str:
    # math-verify extracts answers from LaTeX environments; a bare expression is wrapped so it
    # is read as maths rather than searched for a trailing number.
    s = answer.strip()
    if s.startswith("$") or "\\boxed" in s:
        return s
    return f"${s}$"


def answers_match(gold: str, predicted: str, *, timeout: float = 2.0) -> bool:
    """Whether ``predicted`` is mathematically equal to ``gold``.

    Plain numbers and fractions compare exactly (``0.5 == 1/2 == \\frac{1}{2}``); anything else
    goes to ``math-verify`` (gold first; it is not symmetric) within ``timeout`` seconds. A
    timeout or an unparseable answer counts as a mismatch.
    """
    g, p = parse_number(gold), parse_number(predicted)
    if g is not None and p is not None:
        return g == p
    if g is not None and p is None and not re.search(r"[\\a-zA-Z^{(]", predicted):
        return False  # neither a number nor an expression math-verify could read differently
    try:
        return call_with_time_limit(lambda: _math_verify(gold, predicted), timeout)
    except AnswerTimeout:
        return False
    except Exception:
        return False
