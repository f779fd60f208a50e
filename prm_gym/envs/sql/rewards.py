"""Rewards for text-to-SQL: Reasoning-SQL partial rewards, as progress, on the submitted query.

:class:`SQLPartialReward` rates the **submitted** query (the one in ``<solution>``; a bare query
without tags is rated too, for use outside the env) on the partial rewards of Reasoning-SQL
(Pourreza et al., "Reasoning-SQL: Reinforcement Learning with SQL Tailored Partial Rewards for
Reasoning-Enhanced Text-to-SQL", 2025), each in [0, 1]:

* ``execution`` — 1 when its result matches the gold result (same rule as the env's outcome);
* ``syntax`` — 1 when it parses (sqlglot, SQLite dialect) and executes on the database;
* ``schema_linking`` — F1 of the gold query's tables and columns against the ones it names
  (sqlglot): precision-aware, so naming every table and column scores little;
* ``ngram`` — Jaccard similarity of its token bigrams with the gold query's;
* ``format`` — 1 when the action wraps a non-empty query in ``<solution>``.

``score`` is the weighted sum with :data:`DEFAULT_WEIGHTS` (execution 0.6, schema linking 0.15,
syntax 0.1, n-gram 0.1, format 0.05; they sum to 1, so scores lie in [0, 1]) or the weights
given. Queries run through the same read-only, time-bounded guards as the env.

**Exploration is never scored.** An exploratory ``<sql>`` action scores 0 on every component:
rating it against the gold would tell the policy whether a query is right before it submits
(the env shows exploration results, not verdicts) and would pay stalling with the right query;
even the gold-free terms (syntax, format) would pay every exploratory turn.

:class:`SQLProgress` is the recommended dense signal (a
:class:`~prm_gym.core.scorer.ProgressMeasure` for :class:`~prm_gym.wrappers.ProgressReward`):
Φ = the submitted query's partial-credit score on the submission step, 0 on exploration; the
submission ends the episode, so it is paid once. :class:`SQLRepeatPenalty` (−1 for an
exploratory query that repeats an earlier one; gold-free and never positive) makes stalling with
the same query cost something. ``prm_gym.make_dense("prm/SQL-v0")`` builds both.
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

__all__ = [
    "DEFAULT_WEIGHTS",
    "SQLPartialReward",
    "SQLProgress",
    "SQLRepeatPenalty",
    "ngram_jaccard",
    "normalized_query",
    "schema_f1",
    "schema_items",
]

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


def normalized_query(sql: str) -> tuple[str, ...]:
    """A query as lower-cased SQL tokens without trailing semicolons: two queries that differ
    only in case, spacing or a final ``;`` have the same form."""
    return _tokens(sql.strip().rstrip(";").strip())


def schema_f1(predicted: frozenset[str], gold: frozenset[str]) -> float:
    """F1 of two sets of schema items (1.0 when both are empty)."""
    if not predicted and not gold:
        return 1.0
    common = len(predicted & gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


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
    """Reasoning-SQL partial rewards of the submitted query, as a batched scorer (module
    docstring). Exploratory ``<sql>`` actions score 0.

    Under :class:`~prm_gym.wrappers.ProcessReward` only the submission scores (it ends the
    episode), so the sum is paid once; :class:`SQLProgress` is the same score as a progress
    measure for :class:`~prm_gym.wrappers.ProgressReward`.

    Args:
        weights: Component -> weight (missing components weigh 0); default
            :data:`DEFAULT_WEIGHTS`.
        match: Execution-match rule, ``"spider"`` or ``"bird"``.
        float_tol: Optional float tolerance for execution match.
        timeout: Seconds a predicted query may run.
        checker: An :class:`~prm_gym.envs.sql.checker.ExecutionChecker` to share (for example
            the env's own, ``env.unwrapped.checker``, so scores use the env's match rule and
            connections); ``match``, ``float_tol`` and ``timeout`` are then ignored and
            :meth:`close` leaves it open.

    Example:
        >>> import tempfile
        >>> from prm_gym.core import StepContext
        >>> from prm_gym.envs.sql import SQLConfig, generate
        >>> task = generate(SQLConfig(cache_dir=tempfile.mkdtemp(), schemas=("retail",)), 3)
        >>> scorer = SQLPartialReward()
        >>> gold = StepContext(task.prompt, (), f"<solution>{task.answer}</solution>", task=task)
        >>> [round(v, 3) for v in scorer.score_components([gold])[0].values()]
        [1.0, 1.0, 1.0, 1.0, 1.0]
        >>> explore = StepContext(task.prompt, (), f"<sql>{task.answer}</sql>", task=task)
        >>> scorer.score([gold, explore]).tolist()
        [1.0, 0.0]
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
        checker: ExecutionChecker | None = None,
    ) -> None:
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(weights) - set(self.components)
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; use {self.components}")
        self.weights = {c: float(weights.get(c, 0.0)) for c in self.components}
        self._owns_checker = checker is None
        self.checker = checker or ExecutionChecker(
            match=match, float_tol=float_tol, timeout=timeout
        )

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
                "(ProcessReward and ProgressReward pass env.unwrapped.task)"
            )
        out = dict.fromkeys(self.components, 0.0)
        parsed = extract_sql(context.action)
        if parsed is not None and parsed[0] == "sql":
            return out  # exploration is never scored against the gold
        gold = str(task.answer)
        query = parsed[1] if parsed is not None else context.action.strip()
        out["format"] = float(parsed is not None and bool(query))
        if not query:
            return out
        verdict = self.checker.check(task_database(task), gold, query, task_test_suite(task))
        parses = _parse(query) is not None
        out["execution"] = float(verdict.match)
        out["syntax"] = float(parses and verdict.result is not None)
        gold_items, pred_items = schema_items(gold), schema_items(query)
        if gold_items is not None and pred_items is not None:
            out["schema_linking"] = schema_f1(pred_items, gold_items)
        out["ngram"] = ngram_jaccard(query, gold)
        return out

    def close(self) -> None:
        """Close the scorer's database connections (idempotent; a shared checker stays open)."""
        if self._owns_checker:
            self.checker.close()


class SQLProgress:
    """Φ = the submitted query's Reasoning-SQL partial-credit score (a progress measure).

    For :class:`~prm_gym.wrappers.ProgressReward`: ``progress(contexts)[i]`` is
    :class:`SQLPartialReward`'s weighted score ∈ [0, 1] when ``contexts[i].action`` submits a
    query in ``<solution>``, and 0 for anything else (exploration, text without tags). The
    submission ends the episode, so the partial credit is paid once; the right query scores 1.

    Args:
        scorer: The :class:`SQLPartialReward` to read (default: one with the default weights);
            ``SQLProgress(checker=env.unwrapped.checker)`` shares the env's checker.
        **kwargs: Passed to :class:`SQLPartialReward` when ``scorer`` is ``None``.

    Example:
        >>> import tempfile
        >>> from prm_gym.core import StepContext
        >>> from prm_gym.envs.sql import SQLConfig, generate
        >>> task = generate(SQLConfig(cache_dir=tempfile.mkdtemp(), schemas=("retail",)), 3)
        >>> steps = [f"<sql>{task.answer}</sql>", f"<solution>{task.answer}</solution>"]
        >>> measure = SQLProgress()
        >>> ctxs = [StepContext("q", tuple(steps[:i]), s, task=task) for i, s in enumerate(steps)]
        >>> measure.progress(ctxs).tolist()
        [0.0, 1.0]
        >>> measure.close()
    """

    def __init__(self, scorer: SQLPartialReward | None = None, **kwargs: Any) -> None:
        self.scorer = scorer if scorer is not None else SQLPartialReward(**kwargs)

    def progress(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """Φ of each context (class docstring)."""
        out = np.zeros(len(contexts), dtype=np.float64)
        submitted = [i for i, c in enumerate(contexts) if _kind(c.action) == "solution"]
        if submitted:
            scores = self.scorer.score([contexts[i] for i in submitted])
            out[submitted] = np.clip(scores, 0.0, 1.0)
        return out

    def close(self) -> None:
        """Close the scorer's connections (see :meth:`SQLPartialReward.close`)."""
        self.scorer.close()


class SQLRepeatPenalty:
    """−1 for an exploratory ``<sql>`` query that repeats an earlier query of the episode, else 0.

    Queries compare by :func:`normalized_query` (case, spacing and a final ``;`` ignored).
    Running the same query again shows nothing new, so this gold-free term only charges
    stalling; it is never positive, so it cannot be farmed. The submission is never charged
    (submitting the query one explored is how a careful policy works).

    Example:
        >>> from prm_gym.core import StepContext
        >>> steps = ["<sql>SELECT 1</sql>", "<sql>select 1;</sql>", "<solution>SELECT 1</solution>"]
        >>> ctxs = [StepContext("q", tuple(steps[:i]), s) for i, s in enumerate(steps)]
        >>> SQLRepeatPenalty().score(ctxs).tolist()
        [0.0, -1.0, 0.0]
    """

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """−1 or 0 per context (class docstring)."""
        out = []
        for context in contexts:
            parsed = extract_sql(context.action)
            if parsed is None or parsed[0] != "sql" or not parsed[1]:
                out.append(0.0)
                continue
            earlier = {
                normalized_query(p[1])
                for p in map(extract_sql, context.previous_steps)
                if p is not None and p[1]
            }
            out.append(-1.0 if normalized_query(parsed[1]) in earlier else 0.0)
        return np.array(out, dtype=np.float32)


def _kind(action: str) -> str | None:
    parsed = extract_sql(action)
    return None if parsed is None or not parsed[1] else parsed[0]
