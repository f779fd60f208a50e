"""Final-answer extraction and checking for prm/Math-v0.

Checking takes a fast exact path when both answers are plain numbers (integers, decimals,
``a/b``, ``\\frac{a}{b}``, optional sign, thousands separators, ``$`` and ``%``). Otherwise an
answer that is one number with units, currency, a percent sign or trailing words (``30 dollars``,
``\\$1{,}200``, ``5 \\text{ cm}``, ``12 apples.``) is reduced to that number
(:func:`parse_answer_number`; units are set aside, not compared) and compared exactly too. The
rest falls back to ``math-verify`` (expressions, sets, intervals, LaTeX), under a time bound of
our own: math-verify's built-in ``signal.alarm`` timeout fails off the main thread, so we call it
with its timeouts disabled and bound it ourselves (:func:`call_with_time_limit`).

A time bound cannot stop C code that holds the GIL (a big-integer power such as
``10^{10^{10}}`` computed inside sympy), so an answer whose evaluation would build huge numbers
never reaches sympy: :func:`evaluation_too_costly` bounds, on the parsed expression and before
anything is evaluated, the size of every number it would compute (powers, factorials, binomials,
products, sums, integrals), and a cheap text check refuses what math-verify's parser itself
would evaluate eagerly (big literals inside ``\\binom``/``\\Gamma``, non-literal ``\\gcd``
arguments, matrix constructors). Such an answer counts as wrong (or, when it is written exactly
as the gold, as right). Extraction is linear in the length of the text.
"""

from __future__ import annotations

import functools
import math
import re
import signal
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any, TypeVar, cast

__all__ = [
    "MAX_ANSWER_BITS",
    "MAX_ANSWER_CHARS",
    "AnswerTimeout",
    "answers_match",
    "call_with_time_limit",
    "evaluation_too_costly",
    "extract_final_answer",
    "format_number",
    "parse_answer_number",
    "parse_number",
    "text_too_costly",
]

T = TypeVar("T")

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
# Greedy to the end of the line (stripped afterwards): a lazy group followed by ``\s*$`` is
# quadratic in the length of a run of spaces.
_ANSWER_LINE = re.compile(r"(?im)(?:^|(?<=[\s.]))(?:final\s+)?answer\s*(?:is)?\s*[:=]\s*(.+)$")
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
    ``Answer: ...`` line; ``None`` when there is neither. An empty box counts as no answer.

    One pass over the braces of ``text`` (linear time, however many boxes are left open).
    """
    box_braces = {m.end() - 1 for m in _BOXED.finditer(text)}
    last: tuple[int, int] | None = None
    if box_braces:
        stack: list[int] = []
        for brace in _BRACE.finditer(text):
            i = brace.start()
            if text[i] == "{":
                stack.append(i)
            elif stack:
                start = stack.pop()
                # The box that starts last wins (an inner box over the box holding it).
                if start in box_braces and (last is None or start > last[0]):
                    last = (start, i)
    if last is not None:
        return text[last[0] + 1 : last[1]].strip() or None
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
    if len(text) > 256:  # no plain number is this long; keeps the regexes below cheap
        return None
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


# -- answers with units, currency, words ------------------------------------------------------
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textrm|textnormal|textup|textit|textbf|textsf|mbox|hbox|mathrm)\s*\{([^{}]*)\}"
)
_WORD = re.compile(r"[A-Za-z]+")
# Marks a word written inside a text wrapper: a unit whatever its length (``\text{ m}``).
_IN_TEXT = "\ue000"
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|°")
# ``cm^2``, ``\text{m}^{3}``, ``ft²``: the power of a unit (only after a letter, so ``5^2`` stays).
_UNIT_POWER = re.compile(r"(?<=[A-Za-z])\s*(?:\^\s*\{\s*[23]\s*\}|\^\s*[23]|[²³])")
_CURRENCY_SIGNS = str.maketrans({c: " " for c in "$€£¥₹₩¢"})
_CURRENCY_CODE = re.compile(
    r"^(?P<sign>[-+−]?)\s*(?:usd|us|eur|gbp|jpy|cny|rmb|inr|cad|aud|chf|rs\.?)(?![A-Za-z])\s*",
    re.IGNORECASE,
)
_TAIL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'’/- \t\n.,;:?()\"\u00a0\ue000"
)
_TAIL_TOKEN = re.compile("\ue000?[A-Za-z'’]+(?:[-/]\ue000?[A-Za-z'’]+)*|[.,;:?()\"]+|\\S")
#: Number words that scale the number before them (part of the number, not a unit).
_SCALES = {
    "hundred": 100,
    "thousand": 1000,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
}
#: Short words (one or two letters) read as units or filler; any other one- or two-letter
#: word is taken for a variable (``2 x``, ``5 ab``) and the answer is not a plain number.
_SHORT_WORDS = frozenset(
    "cm mm km nm kg mg lb oz ft yd mi ml dl cl hr ha kw kb mb gb tb mph kph "
    "am pm of in on at to by an or as ea pc pt qt gal".split()
)
#: One-letter units allowed inside a rate (``m/s``, ``km/h``, ``g/l``).
_RATE_LETTERS = frozenset("mshgl")
#: Words that make the text maths rather than a unit: ``5 squared`` is not 5.
_MATH_WORDS = frozenset(
    "sqrt root roots squared cubed factorial choose sin cos tan cot sec csc sinh cosh tanh "
    "arcsin arccos arctan log ln exp pi inf infty infinity mod modulo plus minus times over "
    "divided power".split()
)
# Of _MATH_WORDS, those a unit-bearing answer can still end with (``5 times``, ``3 sec``).
_TRAILING_OK = frozenset({"times", "sec", "over", "power"})


def _unwrap_text(m: re.Match[str]) -> str:
    return " " + _WORD.sub(lambda w: _IN_TEXT + w[0], m[1]) + " "


def _unit_word(word: str, *, in_rate: bool = False) -> bool:
    if word.startswith(_IN_TEXT):
        return True
    w = word.lower().strip("'’")
    if not w:
        return False
    if len(w) == 1:
        return in_rate and w in _RATE_LETTERS
    if len(w) == 2:
        return w in _SHORT_WORDS
    return w not in _MATH_WORDS or w in _TRAILING_OK


def _unit_tail(tail: str) -> int | None:
    """The scale (1, or 1000 for ``thousand``, ...) of a tail of unit words and punctuation,
    or ``None`` when the tail holds anything else (a variable, a maths word, a number)."""
    scale = 1
    words = 0
    for token in _TAIL_TOKEN.findall(tail):
        if not token[0].isalpha() and token[0] not in "'’" + _IN_TEXT:
            if token[0] in '.,;:?()"':
                continue
            return None  # a lone "-" or "/" could be an operator
        lowered = token.lower()
        if words == 0 and lowered in _SCALES:
            scale = _SCALES[lowered]
        elif "/" in token:
            if not all(_unit_word(part, in_rate=True) for part in re.split(r"[-/]", token)):
                return None
        elif not all(_unit_word(part) for part in token.split("-")):
            return None
        words += 1
    return scale


def parse_answer_number(text: str) -> Fraction | None:
    """The number a final answer states, with units, currency and trailing words set aside;
    ``None`` when the answer is not one number.

    On top of :func:`parse_number`: currency signs anywhere (``$``, ``\\$``, ``€``, ``£``,
    ``¥``, ``₹``, ``¢``) and a leading currency code (``USD 30``); LaTeX text wrappers
    (``\\text{...}``, ``\\mbox{...}``, ``\\mathrm{...}``, ...) are unwrapped; ``1{,}200`` is
    ``1,200``; degrees (``30^\\circ``, ``30°``) and unit powers (``cm^2``) are dropped; and a
    trailing run of words is set aside when every word is a unit or ordinary word: ``30
    dollars``, ``12 apples.``, ``5 hours per day``, ``60 km/h``, ``30 \\text{ cm}``,
    ``\\frac{3}{4} \\text{ cup}``. Units are not converted (``50 cents`` is 50, ``2 dozen`` is 2)
    but the number words ``hundred``, ``thousand``, ``million``, ``billion`` and ``trillion``
    scale the number (``1.2 million`` is 1,200,000). A percent is the plain number (``25%``
    and ``25 percent`` are 25, as in GSM8K and the MATH normaliser; not 0.25). Not a number:
    two numbers (``30 and 40``), a variable (``2 x``: words of one letter, and of two letters
    other than common units such as ``cm`` or ``kg``), maths words (``5 squared``, ``2 pi``)
    and LaTeX commands other than the wrappers above.
    """
    if len(text) > 256:
        return None
    s = _TEXT_WRAPPER.sub(_unwrap_text, text)
    s = s.replace("\\$", " ").replace("\\%", "%").replace("{,}", ",")
    s = _DEGREES.sub("", s)
    s = _UNIT_POWER.sub("", s)
    s = s.translate(_CURRENCY_SIGNS)
    s = s.replace("\\,", "").replace("\\!", "")
    s = re.sub(r"\\[;: ]|~", " ", s).strip().rstrip(" .,;:?")
    code = _CURRENCY_CODE.match(s)
    if code:
        s = code["sign"] + s[code.end() :]
    end = len(s)
    while end > 0 and s[end - 1] in _TAIL_CHARS:
        end -= 1
    head, tail = s[:end], s[end:]
    if not any(c.isalpha() for c in tail):  # punctuation only: leave it to parse_number
        head, tail = s, ""
    elif tail.startswith("-") and tail[1:2].isalpha():
        tail = " " + tail[1:]  # ``5-year-olds``, ``12-inch`` (``5-x`` still fails: one letter)
    if not head:
        return None
    scale = _unit_tail(tail) if tail.strip() else 1
    if scale is None:
        return None
    value = parse_number(head)
    return None if value is None else value * scale


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


class _Expired(BaseException):
    """Raised inside a bounded call when its time is up. A ``BaseException``, so that the
    ``except Exception`` blocks of math-verify and sympy cannot swallow it."""


def call_with_time_limit(fn: Callable[[], T], seconds: float) -> T:
    """Run ``fn()`` and raise :class:`AnswerTimeout` if it takes longer than ``seconds``.

    On the main thread of a POSIX process this interrupts ``fn`` with ``SIGALRM`` (restoring any
    previous handler and timer); the alarm repeats every 50 ms until ``fn`` gives up, so a
    library that catches the first interruption is interrupted again. Elsewhere ``fn`` runs on
    a daemon thread of its own; at the bound the caller stops waiting and the thread is sent an
    asynchronous exception (CPython), which stops it at its next Python instruction. Neither
    can interrupt a single long C call holding the GIL: inputs must be bounded before they
    reach one (see :func:`evaluation_too_costly`).
    """
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _with_alarm(fn, seconds)
    return _with_thread(fn, seconds)


def _with_alarm(fn: Callable[[], T], seconds: float) -> T:
    active = [True]

    def _raise(signum: int, frame: Any) -> None:
        if active[0]:
            raise _Expired

    previous = signal.signal(signal.SIGALRM, _raise)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        try:
            return fn()
        finally:
            active[0] = False
    except _Expired:
        raise AnswerTimeout(f"answer check exceeded {seconds} s") from None
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay:
            signal.setitimer(signal.ITIMER_REAL, old_delay, old_interval)


def _with_thread(fn: Callable[[], T], seconds: float) -> T:
    outcome: list[Any] = []
    done = threading.Event()
    lock = threading.Lock()
    finished = [False]

    def run() -> None:
        try:
            try:
                outcome.append((True, fn()))
            except _Expired:
                pass
            except BaseException as exc:  # handed to the caller below
                outcome.append((False, exc))
            finally:
                with lock:  # from here on the caller no longer interrupts this thread
                    finished[0] = True
                _set_async_exc(threading.get_ident(), None)  # drop one sent just before
                done.set()
        except _Expired:  # the interruption landed in the bookkeeping above
            done.set()

    worker = threading.Thread(target=run, name="prm-gym-verify", daemon=True)
    worker.start()
    if not done.wait(seconds):
        with lock:
            if not finished[0] and worker.ident is not None:
                _set_async_exc(worker.ident, _Expired)
        raise AnswerTimeout(f"answer check exceeded {seconds} s")
    ok, value = outcome[0]
    if ok:
        return cast(T, value)
    raise value


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """Make thread ``thread_id`` raise ``exc`` at its next Python instruction, or cancel a
    pending one with ``None`` (CPython; a no-op elsewhere)."""
    try:
        import ctypes

        set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except (ImportError, AttributeError):  # pragma: no cover - not CPython
        return
    set_async_exc(ctypes.c_ulong(thread_id), None if exc is None else ctypes.py_object(exc))


# -- bounding the cost of evaluating an answer -----------------------------------------------
#: Largest number, in bits (about 4,900 decimal digits), that checking an answer may build.
MAX_ANSWER_BITS = 16_384
#: Longest predicted answer handed to math-verify (its LaTeX parser slows down sharply with
#: length); a longer one is right only when it is the gold, character for character.
MAX_ANSWER_CHARS = 1000
_MAX_LITERAL_DIGITS = 1000
_LOG_MAX_TERMS = math.log(20_000)
_DIGITS = re.compile(r"\d+")
_EAGER_MATRIX = re.compile(
    r"\\det\b|\\operatorname\s*\{\s*(?:eye|zeros|ones|diag|hstack|vstack|rank|trace|tr|rref|"
    r"nullspace|norm|eig\w*|diagonalize|svd|SVD|orth\w*)\s*\}"
)
_EAGER_INTEGER = re.compile(r"binom|choose|Gamma|gamma")
_GCD = re.compile(r"\\(?:operatorname\s*\{\s*)?(?:gcd|lcm)\b\s*\}?")


class _TooCostly(Exception):
    pass


def text_too_costly(answer: str) -> str | None:
    """Why math-verify must not even parse ``answer`` (its parser evaluates some constructs
    eagerly, in C, with no way to stop it), or ``None``.

    Refused: an integer literal of more than 1,000 digits; matrix constructors and linear
    algebra (``\\det``, ``\\operatorname{eye}``, ``rref``, ...); a literal above 9,999 in an
    answer using ``\\binom`` or ``\\Gamma``; ``\\gcd``/``\\lcm`` of anything but integer literals.
    """
    if any(len(d) > _MAX_LITERAL_DIGITS for d in _DIGITS.findall(answer)):
        return f"a number literal longer than {_MAX_LITERAL_DIGITS} digits"
    if _EAGER_MATRIX.search(answer):
        return "matrix constructors and linear algebra are not evaluated"
    if _EAGER_INTEGER.search(answer) and any(len(d) > 4 for d in _DIGITS.findall(answer)):
        return "a binomial or Gamma answer with a literal above 9999"
    if _GCD.search(answer):
        rest = re.sub(r"\\left|\\right|[\d\s,()\[\]{}+\-]", "", _GCD.sub("", answer))
        if rest:
            return "gcd/lcm of anything but integer literals"
    return None


def evaluation_too_costly(expr: Any, max_bits: int = MAX_ANSWER_BITS) -> bool:
    """Whether evaluating a parsed answer (a sympy expression, or a list or matrix of them)
    could build a number of more than ``max_bits`` bits.

    A static upper bound computed without evaluating anything: integers count their bits, sums
    and products add their operands' sizes, ``b^n`` counts ``|n|`` times the size of ``b`` (with
    ``|n|`` computed exactly when it is small, bounded by ``2^{size}`` otherwise, whether ``b``
    is a number or a symbol, so ``x^{10^{10}}`` counts too), ``n!`` and ``\\Gamma(n)`` count
    ``n log2 n``, ``\\binom{n}{k}`` counts ``n``, ``e^x`` counts like ``2^x``, and the bound
    variable of a sum, product or integral takes the size of its limits (a product counts as
    one factor per term). A power of a symbolic sum whose expansion would have more than 20,000
    terms (``(x+y+z)^{1000}``) is refused too.
    """
    try:
        _bits(expr, {})
    except (_TooCostly, RecursionError, OverflowError):
        return True
    return False


def _check(bits: float, max_bits: int = MAX_ANSWER_BITS) -> float:
    if not bits <= max_bits:  # also catches NaN
        raise _TooCostly
    return bits


def _bits(e: Any, env: dict[Any, float]) -> float:
    """Upper bound on the size in bits of ``e``'s value (numerator plus denominator)."""
    import sympy

    if isinstance(e, (str, bytes)) or e is None:
        return 1.0
    if isinstance(e, (list, tuple, set, frozenset)):
        return _check(sum((_bits(x, env) for x in e), 1.0))
    if isinstance(e, dict):
        return _check(sum((_bits(k, env) + _bits(v, env) for k, v in e.items()), 1.0))
    if isinstance(e, sympy.MatrixBase):
        return _check(sum((_bits(x, env) for x in e), 1.0))
    if not isinstance(e, sympy.Basic):
        return 1.0
    if isinstance(e, sympy.Integer):
        return _check(max(1, int(e.p).bit_length()))
    if isinstance(e, sympy.Rational):
        return _check(int(e.p).bit_length() + int(e.q).bit_length())
    if isinstance(e, sympy.Float):
        _sign, _man, exponent, bit_count = e._mpf_
        return _check(max(1, abs(int(exponent) + int(bit_count))))  # magnitude, not precision
    if isinstance(e, sympy.Symbol):
        return env.get(e, 1.0)
    if isinstance(e, (sympy.Pow, sympy.MatPow)):
        base, exponent = e.args
        bits = _power_bits(_bits(base, env), exponent, env)
        if isinstance(base, sympy.Add) and base.free_symbols:
            # Expanding (a + b + ...)^n: C(n + k - 1, k - 1) terms for k summands.
            n, summands = _magnitude(exponent, env), len(base.args)
            log_terms = math.lgamma(n + summands) - math.lgamma(n + 1) - math.lgamma(summands)
            if log_terms > _LOG_MAX_TERMS:
                raise _TooCostly
        return bits
    if isinstance(e, sympy.exp):
        return _power_bits(2.0, e.args[0], env)
    if isinstance(e, (sympy.factorial, sympy.factorial2, sympy.subfactorial, sympy.gamma)):
        n = max(_magnitude(e.args[0], env), 2.0)
        return _check(n * math.log2(n))
    if isinstance(e, sympy.binomial):
        _bits(e.args[1], env)
        return _check(max(_magnitude(e.args[0], env), 1.0))
    if isinstance(e, (sympy.RisingFactorial, sympy.FallingFactorial)):
        x, k = (max(_magnitude(a, env), 2.0) for a in e.args)
        return _check(k * math.log2(x + k))
    if isinstance(e, (sympy.Sum, sympy.Product, sympy.Integral)):
        return _bound_variables(e, env)
    if isinstance(e, sympy.Derivative):
        return _check(_bits(e.args[0], env) + sum(_bits(v, env) for v in e.args[1:]))
    return _check(sum((_bits(a, env) for a in e.args), 1.0))


def _power_bits(base_bits: float, exponent: Any, env: dict[Any, float]) -> float:
    _bits(exponent, env)
    return _check(max(_magnitude(exponent, env), 1.0) * max(base_bits, 1.0))


def _magnitude(e: Any, env: dict[Any, float]) -> float:
    """Upper bound on ``|e|`` (``e`` a sympy expression), exact when it is small."""
    value = _small_exact(e)
    if value is not None:
        return float(abs(value))
    bits = _bits(e, env)
    if bits > 64:
        raise _TooCostly
    return float(2.0**bits)


def _small_exact(e: Any) -> Fraction | None:
    """The exact value of a small rational expression (literals, + - * and integer powers of
    at most 64 bits), else ``None``."""
    import sympy

    if isinstance(e, sympy.Rational):
        value = Fraction(int(e.p), int(e.q))
        return value if value.numerator.bit_length() <= 64 else None
    parts: list[Fraction] = []
    if isinstance(e, (sympy.Add, sympy.Mul)):
        for a in e.args:
            v = _small_exact(a)
            if v is None:
                return None
            parts.append(v)
        total = sum(parts, Fraction(0)) if isinstance(e, sympy.Add) else math.prod(parts)
        value = Fraction(total)
    elif isinstance(e, sympy.Pow):
        base, exponent = (_small_exact(a) for a in e.args)
        if base is None or exponent is None or exponent.denominator != 1:
            return None
        if abs(exponent) > 64 or (base == 0 and exponent < 0):
            return None
        value = base ** int(exponent)
    else:
        return None
    ok = value.numerator.bit_length() <= 64 and value.denominator.bit_length() <= 64
    return value if ok else None


def _bound_variables(e: Any, env: dict[Any, float]) -> float:
    """Sums, products and integrals: the bound variable is as large as its limits."""
    import sympy

    inner = dict(env)
    terms = 1.0
    for limit in e.limits:
        var, *bounds = limit
        sizes = [_bits(b, env) for b in bounds]
        inner[var] = max(sizes, default=1.0)
        if len(bounds) == 2 and all(b.is_number for b in bounds):
            # Terms of a sum or product with numeric limits: bounded by the limits' magnitude.
            terms *= 2 * max(_magnitude(b, env) for b in bounds) + 1
    body = _bits(e.function, inner)
    if isinstance(e, sympy.Product):
        return _check(terms * body)
    return _check(body + math.log2(terms) + sum(inner[v[0]] for v in e.limits))


_LOAD_LOCK = threading.Lock()
_WARM_UP_LOCK = threading.Lock()
_WARM_UP: threading.Thread | None = None


def warm_up(*, wait: bool = False) -> None:
    """Load ``math-verify`` (and SymPy) in a background thread, once per process.

    The first comparison that reaches math-verify otherwise pays its import and grammar build
    (2–3 s on a busy machine) inside ``step()``. :class:`~prm_gym.envs.math.MathEnv` starts the
    warm-up when it is built and waits for it in ``reset()``, so no step pays it. With ``wait``,
    block until it is loaded.
    """
    global _WARM_UP
    with _WARM_UP_LOCK:
        if _WARM_UP is None:
            _WARM_UP = threading.Thread(
                target=_load_math_verify, name="prm-gym-math-verify-warm-up", daemon=True
            )
            _WARM_UP.start()
        thread = _WARM_UP
    if wait:
        thread.join()


@functools.cache
def _load_math_verify() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """math-verify's ``parse`` and ``verify``, imported and warmed up once, outside any time
    bound (the first parse builds the LaTeX grammar, which takes seconds on a busy machine)."""
    with _LOAD_LOCK:
        return _load_math_verify_unlocked()


def _load_math_verify_unlocked() -> tuple[Callable[..., Any], Callable[..., Any]]:
    import math_verify.grader
    import math_verify.parser
    from math_verify import parse, verify  # heavy import, only on the slow path

    # We bound time ourselves, so math-verify's "timeout disabled" warning is noise.
    math_verify.parser.TIMEOUT_WARNING_SHOWN = True
    math_verify.grader.TIMEOUT_WARNING_SHOWN = True
    verify(parse("$x+1$", parsing_timeout=None), parse("$1+x$", parsing_timeout=None),
           timeout_seconds=None)  # fmt: skip
    return parse, verify


def _math_verify(gold: str, predicted: str) -> bool:
    parse, verify = _load_math_verify()
    gold_parsed = parse(_as_latex(gold), parsing_timeout=None)
    pred_parsed = parse(_as_latex(predicted), parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    if evaluation_too_costly(gold_parsed) or evaluation_too_costly(pred_parsed):
        return _same_text(gold, predicted)
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def _same_text(gold: str, predicted: str) -> bool:
    return "".join(gold.split()) == "".join(predicted.split())


def _as_latex(answer: str) -> str:
    # math-verify extracts answers from LaTeX environments; a bare expression is wrapped so it
    # is read as maths rather than searched for a trailing number.
    s = answer.strip()
    if s.startswith("$") or "\\boxed" in s:
        return s
    return f"${s}$"


def answers_match(gold: str, predicted: str, *, timeout: float = 2.0) -> bool:
    """Whether ``predicted`` is mathematically equal to ``gold``.

    Plain numbers and fractions compare exactly (``0.5 == 1/2 == \\frac{1}{2}``), and so do
    numbers with units, currency, a percent sign or trailing words (``30 dollars``, ``\\$30``,
    ``1,200 apples``, ``30 \\text{ cm}`` all equal ``30``/``1200``; units are set aside, not
    compared or converted; see :func:`parse_answer_number`); anything else
    goes to ``math-verify`` (gold first; it is not symmetric) within ``timeout`` seconds. A
    timeout or an unparseable answer counts as a mismatch, and so does an answer that
    :func:`text_too_costly` or :func:`evaluation_too_costly` refuses or that is longer than
    :data:`MAX_ANSWER_CHARS`, unless it is written exactly as the gold (whitespace aside).
    """
    g, p = parse_number(gold), parse_number(predicted)
    if g is not None and p is not None:
        return g == p
    # Units, currency and words aside (``30 dollars``, ``\\$1{,}200``, ``5 \\text{ cm}``).
    if g is None:
        g = parse_answer_number(gold)
    if p is None:
        p = parse_answer_number(predicted)
    if g is not None and p is not None:
        return g == p
    if g is not None and p is None and not re.search(r"[\\a-zA-Z^{(]", predicted):
        return False  # neither a number nor an expression math-verify could read differently
    if len(predicted) > MAX_ANSWER_CHARS or text_too_costly(gold) or text_too_costly(predicted):
        return _same_text(gold, predicted)
    _load_math_verify()
    try:
        return call_with_time_limit(lambda: _math_verify(gold, predicted), timeout)
    except AnswerTimeout:
        return False
    except Exception:
        return False
