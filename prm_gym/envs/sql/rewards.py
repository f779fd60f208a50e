"""Partial rewards for text-to-SQL steps (Reasoning-SQL, Pourreza et al., 2025).

:class:`SQLPartialReward` is a batched scorer for ``ProcessReward``: it reads each step's action
(the query in its ``<solution>`` or ``<sql>`` block, or the bare text) and the task
(``StepContext.task``: gold SQL in ``task.answer``, database in ``task.metadata["db_path"]``),
and rates the query on five components, each in [0, 1]:

* ``execution`` — 1 when its result matches the gold result (same rule as the env's outcome);
* ``syntax`` — 1 when it parses (sqlglot, SQLite dialect) and executes on the database;
* ``schema_linking`` — recall of the gold query's tables and columns in it (sqlglot);
* ``ngram`` — Jaccard similarity of its token bigrams with the gold query's;
* ``format`` — 1 when the action wraps a non-empty query in ``<sql>`` or ``<solution>``.

``score`` is the weighted sum with :data:`DEFAULT_WEIGHTS` (execution 0.6, schema linking 0.15,
syntax 0.1, n-gram 0.1, format 0.05; they sum to 1, so scores lie in [0, 1]) or the weights
given. Queries run through the same read-only, time-bounded guards as the env.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.sql.checker import ExecutionChecker, task_database, task_test_suite
from prm_gym.envs.sql.env import extract_sql
from prm_gym.envs.sql.matching import MatchMode

__all__ = ["DEFAULT_WEIGHTS", "SQLPartialReward", "ngram_jaccard", "schema_items"]

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "execution": 0.6,
    "schema_linking": 0.15,
    "syntax": 0.1,
    "ngram": 0.1,
    "format": 0.05,
}
_WORD = re.compile(r"\w+|[^\w\s]")


@lru_cache(maxsize=4096)
def _parse(sql: str) -> Any:
    """The sqlglot tree of ``sql``, or ``None`` when it does not parse as one statement."""
    import sqlglot

    try:
        trees = sqlglot.parse(sql, read="sqlite")
    except Exception:  # sqlglot raises ParseError, TokenError and others on bad input
        return None
    trees = [t for t in trees if t is not None]
    return trees[0] if len(trees) == 1 else None


@lru_cache(maxsize=4096)
def schema_items(sql: str) -> frozenset[str] | None:
    """The tables (``"table:name"``) and columns (``"column:name"``) ``sql`` mentions,
    lower-cased, without CTE names and output aliases; ``None`` when it does not parse."""
    from sqlglot import exp

    tree = _parse(sql)
    if tree is None:
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    tables = {t.name.lower() for t in tree.find_all(exp.Table) if t.name}
    columns = {c.name.lower() for c in tree.find_all(exp.Column) if c.name}
    return frozenset(
        {f"table:{t}" for t in tables - ctes} | {f"column:{c}" for c in columns - aliases}
    )


@lru_cache(maxsize=4096)
def _tokens(sql: str) -> tuple[str, ...]:
    import sqlglot

    try:
        return tuple(t.text.lower() for t in sqlglot.tokenize(sql, read="sqlite"))
    except Exception:
        return tuple(w.lower() for w in _WORD.findall(sql))


def ngram_jaccard(a: str, b: str, n: int = 2) -> float:
    """Jaccard similarity of the token ``n``-grams of two queries (unigrams when a query has
    fewer than ``n`` tokens)."""
    ta, tb = _tokens(a), _tokens(b)
    k = n if min(len(ta), len(tb)) >= n else 1
    ga = {ta[i : i + k] for i in range(len(ta) - k + 1)}
    gb = {tb[i : i + k] for i in range(len(tb) - k + 1)}
    if not ga and not gb:
        return 1.0
    return len(ga & gb) / len(ga | gb)


class SQLPartialReward:
    """Reasoning-SQL partial rewards as a batched scorer (module docstring).

    Args:
        weights: Component -> weight (missing components weigh 0); default
            :data:`DEFAULT_WEIGHTS`.
        match: Execution-match rule, ``"spider"`` or ``"bird"``.
        float_tol: Optional float tolerance for execution match.
        timeout: Seconds a predicted query may run.

    Example:
        >>> import tempfile
        >>> from prm_gym.core import StepContext
        >>> from prm_gym.envs.sql import SQLConfig, generate
        >>> task = generate(SQLConfig(cache_dir=tempfile.mkdtemp(), schemas=("retail",)), 3)
        >>> scorer = SQLPartialReward()
        >>> gold = StepContext(task.prompt, (), f"<solution>{task.answer}</solution>", task=task)
        >>> [round(v, 3) for v in scorer.score_components([gold])[0].values()]
        [1.0, 1.0, 1.0, 1.0, 1.0]
        >>> float(scorer.score([gold])[0])
        1.0
        >>> scorer.close()
    """

    components = ("execution", "schema_linking", "syntax", "ngram", "format")

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        match: MatchMode = "spider",
        float_tol: float | None = None,
        timeout: float = 2.0,
    ) -> None:
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(weights) - set(self.components)
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; use {self.components}")
        self.weights = {c: float(weights.get(c, 0.0)) for c in self.components}
        self.checker = ExecutionChecker(match=match, float_tol=float_tol, timeout=timeout)

    def score_components(self, contexts: Sequence[StepContext]) -> list[dict[str, float]]:
        """Every component of every context, in order (module docstring)."""
        return [self._components(c) for c in contexts]

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """The weighted sum of the components, one float32 per context."""
        rows = self.score_components(contexts)
        return np.array(
            [sum(self.weights[k] * v for k, v in row.items()) for row in rows], dtype=np.float32
        )

    def _components(self, context: StepContext) -> dict[str, float]:
        task = context.task
        if task is None or not getattr(task, "answer", None):
            raise ValueError(
                "SQLPartialReward needs StepContext.task with the gold SQL in task.answer "
                "(ProcessReward passes env.unwrapped.task)"
            )
        gold = str(task.answer)
        parsed = extract_sql(context.action)
        query = parsed[1] if parsed is not None else context.action.strip()
        out = dict.fromkeys(self.components, 0.0)
        out["format"] = float(parsed is not None and bool(query))
        if not query:
            return out
        verdict = self.checker.check(task_database(task), gold, query, task_test_suite(task))
        parses = _parse(query) is not None
        out["execution"] = float(verdict.match)
        out["syntax"] = float(parses and verdict.result is not None)
        gold_items, pred_items = schema_items(gold), schema_items(query)
        if gold_items is not None and pred_items is not None:
            out["schema_linking"] = (
                len(gold_items & pred_items) / len(gold_items) if gold_items else 1.0
            )
        out["ngram"] = ngram_jaccard(query, gold)
        return out

    def close(self) -> None:
        """Close the scorer's database connections (idempotent)."""
        self.checker.close()
