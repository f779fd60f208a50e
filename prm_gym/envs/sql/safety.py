"""Read-only, time-bounded execution of untrusted SQL against a SQLite file.

Every query an agent (or a scorer) sends goes through :class:`SafeDatabase`, which layers four
guards so that nothing a query does can change the database file or hang the caller:

1. the file is opened read-only (``file:...?mode=ro`` URI) and ``PRAGMA query_only=1`` is set;
2. an authorizer allows only reads (``SELECT``, table reads, functions, recursive CTEs) and a few
   read-only introspection pragmas (``table_info``, ``foreign_key_list``, ...); writes, DDL,
   transactions, ``ATTACH``/``DETACH``, ``VACUUM``, pragma changes and extension loading are
   denied, and the refusal names what was denied;
3. a progress handler aborts a query after ``timeout`` seconds of wall time (default 2 s);
4. results are capped in rows and bytes, and single values in length (``SQLITE_LIMIT_LENGTH``).

The progress handler runs between SQLite VM instructions, so it cannot stop one slow built-in
call. The built-ins that are quadratic in their arguments' length (``instr``, ``replace`` and
the two-argument ``trim``, ``ltrim``, ``rtrim``) are therefore replaced, on this connection,
by linear Python versions with the same results (``replace`` refuses a result over the length
limit before building it); ``printf``/``format`` refuse a width or precision above the length
limit (SQLite's own ``%.*c`` loop does not stop there) and are otherwise SQLite's; ``LIKE`` and
``GLOB`` patterns are limited to 100 characters (``SQLITE_LIMIT_LIKE_PATTERN_LENGTH``). A
refused value is reported as too large, like any value over the limit.

Table-valued pragma functions (``SELECT * FROM pragma_table_info('t')``) follow the same rule as
``PRAGMA`` statements: the read-only introspection pragmas in :data:`READ_ONLY_PRAGMAS` run, the
others are refused, naming the pragma.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["QueryError", "QueryResult", "SafeDatabase", "format_table"]

#: Read-only introspection pragmas an agent may use to explore the schema.
READ_ONLY_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
    }
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_ALLOWED_CODES = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_ACTION_NAMES = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_").replace("_", " ")
    for name in dir(sqlite3)
    if name.startswith("SQLITE_")
    and isinstance(getattr(sqlite3, name), int)
    and name not in {"SQLITE_OK", "SQLITE_DENY", "SQLITE_IGNORE"}
    and not name.startswith("SQLITE_LIMIT")
}
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*\(*\s*([A-Za-z]+)", re.S)
_READ_STATEMENTS = frozenset({"select", "with", "values", "pragma", "explain"})
#: Progress handler granularity in SQLite VM instructions (overhead measured at < 2 %).
_PROGRESS_INSTRUCTIONS = 1000
#: Longest LIKE / GLOB pattern, in characters (matching costs up to text x pattern length).
MAX_LIKE_PATTERN = 100
_PRAGMA_FUNCTION = re.compile(r"\bpragma_(\w+)", re.I)


class QueryError(Exception):
    """A query that could not run. ``kind`` is ``"refused"``, ``"timeout"``, ``"too_large"`` or
    ``"sql"`` (a syntax or runtime error reported by SQLite)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class QueryResult:
    """Rows a query returned. ``truncated`` is True when the row cap cut the result short."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool = False


def _value_size(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return len(value) + 8
    return 8


class SafeDatabase:
    """A read-only, guarded connection to one SQLite database file.

    Args:
        path: The ``.sqlite`` file.
        timeout: Seconds a query may run (wall time, including fetching rows).
        max_rows: Most rows a query may return; :meth:`execute` raises (or, with
            ``truncate=True``, cuts the result) beyond it.
        max_bytes: Most bytes (approximate size of all values) a query may return.
        max_value_length: Longest string or blob a query may build (``SQLITE_LIMIT_LENGTH``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = 2.0,
        max_rows: int = 10_000,
        max_bytes: int = 16_000_000,
        max_value_length: int = 1_000_000,
    ) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"no SQLite database at {self.path}")
        self.timeout = timeout
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        conn = sqlite3.connect(self.path.as_uri() + "?mode=ro", uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        # Connection.setlimit exists from Python 3.11; on 3.10 SQLite's own 1 GB limit applies.
        setlimit = getattr(conn, "setlimit", None)
        if setlimit is not None:
            setlimit(getattr(sqlite3, "SQLITE_LIMIT_LENGTH"), max_value_length)  # noqa: B009
            setlimit(getattr(sqlite3, "SQLITE_LIMIT_ATTACHED"), 0)  # noqa: B009
            setlimit(getattr(sqlite3, "SQLITE_LIMIT_LIKE_PATTERN_LENGTH"), MAX_LIKE_PATTERN)  # noqa: B009
        _install_linear_functions(conn, max_value_length)
        # A table-valued pragma (pragma_table_info) declares its virtual table on first use,
        # which the authorizer sees as an UPDATE of sqlite_master: declare the allowed ones now,
        # before the authorizer is installed, so a query sees only the PRAGMA check.
        for name in sorted(READ_ONLY_PRAGMAS):
            with contextlib.suppress(sqlite3.Error):  # a pragma this SQLite does not know
                conn.execute(f"SELECT * FROM pragma_{name} LIMIT 0").fetchall()
        conn.set_authorizer(self._authorize)
        self._conn: sqlite3.Connection | None = conn
        self._deadline = 0.0
        self._denied: str | None = None
        self._last_sql = ""

    # -- guards ---------------------------------------------------------------------------
    def _authorize(
        self, code: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        if code in _ALLOWED_CODES:
            return sqlite3.SQLITE_OK
        if code == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in _DENIED_FUNCTIONS:
                self._denied = f"the function {arg2}()"
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if code == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(code, f"action {code}")
        target = " ".join(a for a in (arg1, arg2) if a)
        self._denied = f"{what} {target}".strip()
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    # -- public API -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._conn is None

    def execute(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        max_rows: int | None = None,
        truncate: bool = False,
    ) -> QueryResult:
        """Run one read-only statement and return its rows.

        Raises:
            QueryError: The statement was refused (writes, DDL, ATTACH, pragma changes, ...),
                ran past the time bound, returned more than the row/byte caps (unless
                ``truncate``), or SQLite reported an error.
        """
        conn = self._conn
        if conn is None:
            raise QueryError("sql", "the database connection is closed")
        self._refuse_writes_early(sql)
        self._last_sql = sql
        limit = self.max_rows if max_rows is None else max_rows
        self._denied = None
        self._deadline = time.perf_counter() + (self.timeout if timeout is None else timeout)
        conn.set_progress_handler(self._progress, _PROGRESS_INSTRUCTIONS)
        try:
            cursor = conn.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = cursor.fetchmany(limit + 1)
        except sqlite3.Error as exc:
            raise self._translate(exc, timeout) from None
        except (OverflowError, MemoryError, ValueError) as exc:
            raise QueryError("sql", f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.set_progress_handler(None, _PROGRESS_INSTRUCTIONS)
            if conn.in_transaction:  # a read never opens one, but never leave one open
                conn.rollback()
        truncated = len(rows) > limit
        if truncated:
            if not truncate:
                raise QueryError(
                    "too_large", f"the query returned more than {limit} rows (the cap)"
                )
            rows = rows[:limit]
        size = sum(_value_size(v) for row in rows for v in row)
        if size > self.max_bytes:
            raise QueryError(
                "too_large", f"the result is larger than {self.max_bytes} bytes (the cap)"
            )
        return QueryResult(columns, rows, truncated)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SafeDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _refuse_writes_early(sql: str) -> None:
        # The authorizer is the guard; this only gives common write statements a clear message.
        match = _FIRST_WORD.match(sql)
        word = match.group(1).lower() if match else ""
        if word and word not in _READ_STATEMENTS:
            raise QueryError(
                "refused",
                f"refused: {word.upper()} statements are not allowed; the database is "
                "read-only (only SELECT / WITH queries run)",
            )

    def _translate(self, exc: sqlite3.Error, timeout: float | None) -> QueryError:
        message = str(exc)
        if "interrupted" in message:
            bound = self.timeout if timeout is None else timeout
            return QueryError("timeout", f"the query ran longer than {bound:g} s and was stopped")
        pragma = _PRAGMA_FUNCTION.search(self._last_sql)
        if pragma and self._denied is not None and "sqlite_master" in self._denied:
            return QueryError(
                "refused",
                f"refused: the pragma {pragma.group(1)} is not allowed; the read-only pragmas "
                f"are {', '.join(sorted(READ_ONLY_PRAGMAS))} (as PRAGMA name(...) or "
                "SELECT ... FROM pragma_name(...))",
            )
        if self._denied is not None or "not authorized" in message or "authoriz" in message:
            what = f" ({self._denied})" if self._denied else ""
            return QueryError(
                "refused",
                f"refused: the query tries to modify the database or use a forbidden "
                f"feature{what}; only read-only SELECT / WITH queries run",
            )
        if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in message:
            return QueryError("refused", "refused: only one SQL statement per query is allowed")
        if "too big" in message:
            return QueryError("too_large", f"a value in the result is too large ({message})")
        return QueryError("sql", f"{type(exc).__name__}: {message}")


# -- linear replacements for SQLite's quadratic string functions ------------------------------
def _text(value: Any) -> str:
    """SQLite's text form of a value (floats as ``%!.15g``: ``1.0``, ``1.0e+20``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        if value == 0:
            return "0.0"  # also for -0.0
        text = format(value, ".15g")
        if "e" in text:
            mantissa, exp = text.split("e")
            sign = exp[0] if exp[0] in "+-" else "+"
            exp = exp.lstrip("+-").lstrip("0").rjust(2, "0")
            text = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{sign}{exp}"
        elif "." not in text and text not in ("inf", "-inf", "nan"):
            text += ".0"
        return {"inf": "Inf", "-inf": "-Inf"}.get(text, text)
    return str(value)


def _instr(haystack: Any, needle: Any) -> int | None:
    if haystack is None or needle is None:
        return None
    if isinstance(haystack, bytes) and isinstance(needle, bytes):
        return haystack.find(needle) + 1
    return _text(haystack).find(_text(needle)) + 1


def _replacer(max_length: int) -> Any:
    def replace(text: Any, old: Any, new: Any) -> Any:
        if text is None or old is None:
            return None
        source, pattern = _text(text), _text(old)
        if not pattern:  # SQLite returns the first argument (a blob as text) unchanged
            return source if isinstance(text, bytes) else text
        if new is None:
            return None
        replacement = _text(new)
        size = len(source) + source.count(pattern) * (len(replacement) - len(pattern))
        if size > max_length:
            return _too_big(max_length)
        return source.replace(pattern, replacement)

    return replace


def _trimmer(left: bool, right: bool) -> Any:
    def trim(text: Any, chars: Any) -> Any:
        if text is None or chars is None:
            return None
        source, drop = _text(text), set(_text(chars))
        lo, hi = 0, len(source)
        while left and lo < hi and source[lo] in drop:
            lo += 1
        while right and hi > lo and source[hi - 1] in drop:
            hi -= 1
        return source[lo:hi]

    return trim


def _too_big(max_length: int) -> str:
    """A value one character over the limit: SQLite then reports "string or blob too big"
    itself, without the oversized value ever being built."""
    return "x" * (max_length + 1)


_PRINTF_SPEC = re.compile(r"%[-+ #0!,]*(\d+|\*)?(?:\.(\*|\d*))?l{0,2}(.?)", re.S)
_PRINTF_TAKES_ARGUMENT = frozenset("dsgzqQwcouxXfeEGipr")
_NUMBER_PREFIX = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _printf_sizes(spec: str, args: tuple[Any, ...]) -> list[float]:
    """Every width and precision ``printf(spec, *args)`` uses, read as SQLite reads them (a
    ``*`` takes the next argument; an unknown conversion ends the format)."""
    sizes: list[float] = []
    position = 0
    for match in _PRINTF_SPEC.finditer(spec):
        width, precision, conversion = match.groups()
        for size in (width, precision):
            if size == "*":
                sizes.append(_magnitude(args[position]) if position < len(args) else 0.0)
                position += 1
            elif size:
                sizes.append(float(size))
        if conversion in _PRINTF_TAKES_ARGUMENT:
            position += 1
        elif conversion not in ("%", "n"):
            break
    return sizes


def _magnitude(value: Any) -> float:
    """How large a printf size argument can be once SQLite reads it as an integer."""
    if isinstance(value, (int, float)):
        return abs(float(value)) if value == value else 0.0
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        match = _NUMBER_PREFIX.match(text)
        return abs(float(match.group())) if match else 0.0
    return 0.0


def _printf(max_length: int) -> Any:
    """SQLite's ``printf``/``format``, refusing widths and precisions above the length limit
    (SQLite's own loop for ``%.*c`` does not stop at the limit) and otherwise computed by
    SQLite on a private connection."""
    helper = sqlite3.connect(":memory:", check_same_thread=False)
    setlimit = getattr(helper, "setlimit", None)
    if setlimit is not None:
        setlimit(getattr(sqlite3, "SQLITE_LIMIT_LENGTH"), max_length)  # noqa: B009
    lock = threading.Lock()

    def printf(*args: Any) -> Any:
        if not args or args[0] is None:
            return None
        if any(size > max_length for size in _printf_sizes(_text(args[0]), args[1:])):
            return _too_big(max_length)
        marks = ", ".join("?" for _ in args)
        with lock:
            return helper.execute(f"SELECT printf({marks})", args).fetchone()[0]

    return printf


def _install_linear_functions(conn: sqlite3.Connection, max_length: int = 1_000_000) -> None:
    """Replace SQLite's string built-ins that are quadratic (``instr``, ``replace``,
    two-argument ``trim``/``ltrim``/``rtrim``) by linear Python ones with the same results, and
    ``printf``/``format`` by a version that refuses widths above ``max_length``."""
    conn.create_function("instr", 2, _instr, deterministic=True)
    conn.create_function("replace", 3, _replacer(max_length), deterministic=True)
    printf = _printf(max_length)
    conn.create_function("printf", -1, printf, deterministic=True)
    conn.create_function("format", -1, printf, deterministic=True)
    conn.create_function("trim", 2, _trimmer(True, True), deterministic=True)
    conn.create_function("ltrim", 2, _trimmer(True, False), deterministic=True)
    conn.create_function("rtrim", 2, _trimmer(False, True), deterministic=True)


def _cell(value: Any, width: int = 40) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, float):
        text = repr(round(value, 6))
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(result: QueryResult, *, max_rows: int = 20, max_chars: int = 4000) -> str:
    """``result`` as a plain-text table, cut to ``max_rows`` rows / ``max_chars`` characters with
    a note saying how much was left out."""
    header = " | ".join(result.columns)
    lines = [header, "-" * min(len(header), 80)]
    shown = 0
    used = len(header) * 2
    for row in result.rows[:max_rows]:
        line = " | ".join(_cell(v) for v in row)
        if used + len(line) + 1 > max_chars:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    total = f"more than {len(result.rows)}" if result.truncated else str(len(result.rows))
    if shown < len(result.rows) or result.truncated:
        lines.append(f"... (showing {shown} of {total} rows)")
    else:
        lines.append(f"({total} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(lines)
