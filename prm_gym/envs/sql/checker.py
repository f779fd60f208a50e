"""Execution-match checking shared by :class:`SQLEnv` and :class:`SQLPartialReward`.

An :class:`ExecutionChecker` keeps one guarded read-only connection per database file and an LRU
cache of gold results, so checking a solution costs one execution of the predicted query plus
the comparison.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm_gym.envs.sql.matching import MatchMode, gold_is_ordered, results_match
from prm_gym.envs.sql.safety import QueryError, QueryResult, SafeDatabase

__all__ = ["CheckResult", "ExecutionChecker", "task_database", "task_test_suite"]


def task_database(task: Any) -> str:
    """The database file a task is about (``task.metadata["db_path"]``)."""
    meta = getattr(task, "metadata", None) or {}
    path = meta.get("db_path")
    if not path:
        raise ValueError(
            "an SQL task needs metadata['db_path'] (the SQLite file its gold query runs on)"
        )
    return str(path)


def task_test_suite(task: Any) -> tuple[str, ...]:
    """Further databases of the task's schema on which predicted and gold results must also
    agree (``task.metadata["test_suite_paths"]``; Spider test-suite evaluation)."""
    meta = getattr(task, "metadata", None) or {}
    return tuple(str(p) for p in meta.get("test_suite_paths", ()))


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one predicted query: ``match``, and the predicted result or its error."""

    match: bool
    result: QueryResult | None = None
    error: str | None = None


class ExecutionChecker:
    """Runs predicted and gold queries safely and compares their results.

    Args:
        match: ``"spider"`` (test-suite semantics) or ``"bird"`` (set equality); see
            :func:`~prm_gym.envs.sql.matching.results_match`.
        float_tol: Optional tolerance for comparing floats (``None``: exact).
        timeout: Seconds a predicted query may run.
        gold_timeout: Seconds a gold query may run (gold queries are trusted but may be slow).
        max_rows: Most rows a compared result may have.
        gold_cache_size: Gold results kept (LRU).
        max_connections: Open database connections kept (LRU).
    """

    def __init__(
        self,
        *,
        match: MatchMode = "spider",
        float_tol: float | None = None,
        timeout: float = 2.0,
        gold_timeout: float = 30.0,
        max_rows: int = 10_000,
        gold_cache_size: int = 1024,
        max_connections: int = 16,
    ) -> None:
        if match not in ("spider", "bird"):
            raise ValueError(f"match must be 'spider' or 'bird', got {match!r}")
        self.match: MatchMode = match
        self.float_tol = float_tol
        self.timeout = timeout
        self.gold_timeout = gold_timeout
        self.max_rows = max_rows
        self.gold_cache_size = gold_cache_size
        self.max_connections = max_connections
        self._dbs: OrderedDict[str, SafeDatabase] = OrderedDict()
        self._gold: OrderedDict[tuple[str, str], QueryResult | QueryError] = OrderedDict()

    def database(self, path: str | Path) -> SafeDatabase:
        """The guarded connection to ``path`` (opened on first use, kept LRU)."""
        key = str(path)
        db = self._dbs.get(key)
        if db is not None and not db.closed:
            self._dbs.move_to_end(key)
            return db
        db = SafeDatabase(key, timeout=self.timeout, max_rows=self.max_rows)
        self._dbs[key] = db
        while len(self._dbs) > self.max_connections:
            _, old = self._dbs.popitem(last=False)
            old.close()
        return db

    def run(self, path: str | Path, sql: str, **kwargs: Any) -> QueryResult:
        """Execute ``sql`` on ``path`` through the guards (raises :class:`QueryError`)."""
        return self.database(path).execute(sql, **kwargs)

    def gold(self, path: str | Path, sql: str) -> QueryResult:
        """The gold query's result, cached per (database, query)."""
        key = (str(path), sql)
        cached = self._gold.get(key)
        if cached is None:
            try:
                cached = self.run(path, sql, timeout=self.gold_timeout)
            except QueryError as exc:
                cached = exc
            self._gold[key] = cached
            while len(self._gold) > self.gold_cache_size:
                self._gold.popitem(last=False)
        else:
            self._gold.move_to_end(key)
        if isinstance(cached, QueryError):
            raise QueryError(cached.kind, f"the gold query failed: {cached}")
        return cached

    def check(
        self,
        path: str | Path,
        gold_sql: str,
        predicted_sql: str,
        test_suite: Sequence[str | Path] = (),
    ) -> CheckResult:
        """Execute ``predicted_sql`` on ``path`` and compare it with the gold result; with a
        ``test_suite``, the results must also agree on each of those databases (an error there
        counts as a mismatch, not as an invalid query)."""
        try:
            predicted = self.run(path, predicted_sql)
        except QueryError as exc:
            return CheckResult(False, None, str(exc))
        try:
            ok = self._agrees(predicted, path, gold_sql)
        except QueryError as exc:
            return CheckResult(False, predicted, str(exc))
        for other in test_suite:
            if not ok:
                break
            try:
                ok = self._agrees(self.run(other, predicted_sql), other, gold_sql)
            except QueryError:
                ok = False
        return CheckResult(ok, predicted, None)

    def _agrees(self, predicted: QueryResult, path: str | Path, gold_sql: str) -> bool:
        gold = self.gold(path, gold_sql)
        return results_match(
            predicted.rows,
            gold.rows,
            ordered=gold_is_ordered(gold_sql),
            mode=self.match,
            float_tol=self.float_tol,
        )

    def clear_gold_cache(self) -> None:
        """Forget cached gold results (e.g. after a database file was rebuilt)."""
        self._gold.clear()

    def close(self) -> None:
        """Close every connection (idempotent); the checker reopens them if used again."""
        while self._dbs:
            _, db = self._dbs.popitem()
            db.close()
