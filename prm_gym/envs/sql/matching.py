"""Execution match between a predicted and a gold query's results.

Two semantics (see REFERENCES.md, "Text-to-SQL execution match"):

* ``"spider"`` — the Spider test-suite rule (``exec_eval.py``): rows are compared in order only
  when the gold query has a top-level ``ORDER BY``, otherwise as multisets; the column counts must
  agree and column order and aliases are ignored by searching for a permutation of the predicted
  columns that makes the results equal. The search only tries pairings of columns whose values
  agree as multisets (or sequences, when ordered), so it is exact and usually instant; it stops
  after ``max_permutations`` candidate permutations (counted as a mismatch).
* ``"bird"`` — BIRD's rule: ``set(predicted_rows) == set(gold_rows)``, columns in order.

``float_tol`` (default ``None``: exact, as both references) compares floats with
``math.isclose(rel_tol=tol, abs_tol=tol)``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

__all__ = ["MatchMode", "gold_is_ordered", "results_match"]

MatchMode = Literal["spider", "bird"]
Row = tuple[Any, ...]

_ORDER_BY = re.compile(r"\border\s+by\b", re.I)


@lru_cache(maxsize=4096)
def gold_is_ordered(sql: str) -> bool:
    """Whether row order matters for ``sql``'s result: it has a top-level ``ORDER BY``.

    Parsed with sqlglot; an ``ORDER BY`` that only orders a subquery does not count. When the
    query does not parse, falls back to the test suite's rule (``"order by"`` anywhere).
    """
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:
        return bool(_ORDER_BY.search(sql))
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def _sort_key(value: Any) -> tuple[int, Any]:
    # A total order over SQLite's value types (NULL < numbers < text < blobs).
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def _row_key(row: Row) -> tuple[tuple[int, Any], ...]:
    return tuple(_sort_key(v) for v in row)


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
        return False
    return bool(a == b)


def _rows_equal(pred: Sequence[Row], gold: Sequence[Row], ordered: bool, tol: float | None) -> bool:
    if tol is None:
        if ordered:
            return list(pred) == list(gold)
        return Counter(pred) == Counter(gold)
    if not ordered:
        pred, gold = sorted(pred, key=_row_key), sorted(gold, key=_row_key)
    return all(
        len(p) == len(g) and all(_close(a, b, tol) for a, b in zip(p, g, strict=True))
        for p, g in zip(pred, gold, strict=True)
    )


def _column_signature(column: Sequence[Any], ordered: bool, tol: float | None) -> Any:
    if tol is not None:  # floats vary within the tolerance: compare only the NULL pattern
        return sum(v is None for v in column)
    return tuple(column) if ordered else Counter(column)


def results_match(
    predicted: Sequence[Row],
    gold: Sequence[Row],
    *,
    ordered: bool = False,
    mode: MatchMode = "spider",
    float_tol: float | None = None,
    max_permutations: int = 10_000,
) -> bool:
    """Whether ``predicted`` rows match ``gold`` rows under ``mode`` (module docstring)."""
    if mode == "bird":
        if float_tol is None:
            return set(predicted) == set(gold)
        return _rows_equal(sorted(set(predicted), key=_row_key), sorted(set(gold), key=_row_key),
                           True, float_tol)  # fmt: skip
    if mode != "spider":
        raise ValueError(f"match mode must be 'spider' or 'bird', got {mode!r}")
    if len(predicted) != len(gold):
        return False
    if not gold:
        return True
    width = len(gold[0])
    if any(len(r) != width for r in predicted):
        return False
    if _rows_equal(predicted, gold, ordered, float_tol):
        return True
    if width == 1:
        return False
    # Pair each gold column with the predicted columns holding the same values.
    pred_cols = list(zip(*predicted, strict=True))
    gold_cols = list(zip(*gold, strict=True))
    pred_sigs = [_column_signature(c, ordered, float_tol) for c in pred_cols]
    candidates = []
    for g in gold_cols:
        sig = _column_signature(g, ordered, float_tol)
        options = [i for i, s in enumerate(pred_sigs) if s == sig]
        if not options:
            return False
        candidates.append(options)
    tried = 0
    used = [False] * width
    perm: list[int] = []

    def search(j: int) -> bool:
        nonlocal tried
        if j == width:
            tried += 1
            permuted = [tuple(row[i] for i in perm) for row in predicted]
            return _rows_equal(permuted, gold, ordered, float_tol)
        for i in candidates[j]:
            if used[i] or tried >= max_permutations:
                continue
            used[i] = True
            perm.append(i)
            if search(j + 1):
                return True
            perm.pop()
            used[i] = False
        return False

    return search(0)
