"""prm/SQL-v0: multi-turn text-to-SQL over SQLite databases, scored by execution match."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from prm_gym.core.task import ProceduralSource, Task
from prm_gym.core.text_env import ActResult, TextEnv, episode_limit
from prm_gym.envs.sql.checker import ExecutionChecker, task_database, task_test_suite
from prm_gym.envs.sql.databases import SCHEMAS
from prm_gym.envs.sql.generator import LEVELS, SQLConfig, generate
from prm_gym.envs.sql.loaders import parse_sql_record
from prm_gym.envs.sql.matching import MatchMode
from prm_gym.envs.sql.safety import QueryError, format_table

__all__ = ["SQLEnv", "extract_sql"]

_INSTRUCTIONS = (
    "Write one SQLite query that answers the question. You may explore first: put an exploratory "
    "query in <sql>...</sql> and you will see its result. When ready, give the final query in "
    "<solution>...</solution>; that ends the episode. Queries are read-only."
)
_TAG = re.compile(r"<(/?)(solution|sql)>", re.I)
_FORMAT_HELP = (
    "no <sql>...</sql> or <solution>...</solution> block: wrap an exploratory query in "
    "<sql>...</sql> or the final query in <solution>...</solution>"
)


def extract_sql(action: str) -> tuple[str, str] | None:
    """``(kind, query)`` from an action: the last ``<solution>`` block (kind ``"solution"``),
    else the last ``<sql>`` block (kind ``"sql"``), else ``None``. A Markdown code fence inside
    the block is removed. Linear in the length of the action."""
    blocks = _blocks(action)
    for kind in ("solution", "sql"):
        if blocks[kind]:
            return kind, _strip_fence(blocks[kind][-1].strip()).strip()
    return None


def _blocks(action: str) -> dict[str, list[str]]:
    """The contents of every ``<solution>`` and ``<sql>`` block, in one pass: a block runs from
    its opening tag to the first closing tag of its kind (tags are case-insensitive)."""
    found: dict[str, list[str]] = {"solution": [], "sql": []}
    open_at: dict[str, int | None] = {"solution": None, "sql": None}
    for tag in _TAG.finditer(action):
        kind = "sql" if len(tag.group(2)) == 3 else "solution"
        start = open_at[kind]
        if not tag.group(1):
            if start is None:
                open_at[kind] = tag.end()
        elif start is not None:
            found[kind].append(action[start : tag.start()])
            open_at[kind] = None
    return found


def _strip_fence(query: str) -> str:
    """The code inside a Markdown fence (```` ```sql ... ``` ````), else ``query``."""
    if len(query) >= 6 and query.startswith("```") and query.endswith("```"):
        i = 3
        while i < len(query) - 3 and query[i].isascii() and query[i].isalpha():
            i += 1  # the fence's language tag
        return query[i:-3]
    return query


class SQLEnv(TextEnv):
    """Answer a question about a SQLite database with one SQL query, exploring it first.

    ## Description
    Each episode is one question about one database: by default a generated question (24 SQL
    patterns from single-table filters to correlated subqueries, four difficulty levels) over one
    of five generated databases (``retail``, ``university``, ``flights``, ``hospital``,
    ``library``; built once from ``db_seed`` into ``cache_dir``), or a Spider/BIRD-style record
    (see :func:`~prm_gym.envs.sql.loaders.load_spider`). The agent may run exploratory queries
    in ``<sql>...</sql>`` and sees their results; it ends the episode with its final query in
    ``<solution>...</solution>``. Every query runs on a read-only connection with an authorizer
    that refuses writes, DDL, ``ATTACH``, pragma changes and extension loading, a time bound and
    row/byte caps: nothing an action does changes the database.

    ## Action Space
    ``prm_gym.spaces.Text(max_action_length)``: any Unicode string. An action with neither tag,
    with an empty block, or whose query fails (SQL error, refused statement, time bound, result
    cap) is invalid: it costs the turn, sets ``info["action_valid"] = False`` and
    ``info["error"]``, and the episode continues (a failing ``<solution>`` still ends it, with
    outcome 0). A non-``str`` action raises ``TypeError``.

    ## Observation Space
    ``prm_gym.spaces.Text``. ``reset`` returns the question, the schema (CREATE statements and a
    few sample rows per table) and the instructions. An exploratory query returns its result as a
    text table cut to ``max_result_rows`` rows / ``max_result_chars`` characters with a note, or
    the error; a solution returns whether it matched.

    ## Rewards
    The native reward is the outcome only: 0 on every step, and on the final step 1.0 when the
    solution's result matches the gold query's result and 0.0 otherwise (or on truncation).
    Matching follows the Spider test suite by default (``match="spider"``): row order matters
    only when the gold query has a top-level ``ORDER BY``, otherwise rows compare as multisets;
    column order and aliases are ignored. ``match="bird"`` compares sets of rows (BIRD).
    With ``test_suite=k`` (or a Spider test-suite directory) the results must agree on every
    database of the suite, which catches queries that are right only by coincidence.
    ``float_tol`` adds a float tolerance.

    Recommended dense stack: ``prm_gym.make_dense("prm/SQL-v0", coef=0.5)`` =
    ``ProgressReward(env, SQLProgress(checker=env.checker), coef)`` (the submitted query's
    Reasoning-SQL partial credit, 2025: execution match, syntax, schema-linking F1, n-gram
    overlap and format, in [0, 1], paid once on the submission) plus
    ``ProcessReward(…, SQLRepeatPenalty(), 0.25 · coef)`` (−1 for an exploratory query that
    repeats an earlier one). Exploratory ``<sql>`` turns are never scored against the gold, so
    the reward does not say whether a query is right before it is submitted and stalling earns
    nothing; the right query returns ``1 + coef`` and every hack of the integrity kit
    (``prm_gym.testing.check_reward_integrity``) less. ``SQLPartialReward`` is the same score
    as a step scorer (0 on exploration).

    ## Starting State
    A task drawn from ``tasks`` with the env's seeded generator: ``reset(seed=s)`` fixes the task
    (and the databases are a function of ``db_seed``). ``reset(options={"task_seed": n})`` builds
    procedural task ``n``; ``{"task_index": i}`` or ``{"task_id": ...}`` pick from a dataset;
    ``{"task": Task}`` uses the given task.

    ## Episode End
    Terminates on a ``<solution>`` action. Truncates after ``max_turns`` actions without one
    (outcome 0). ``info["outcome"]`` is set on the final step.

    ## Info
    ``task_id``, ``action_valid``, ``error`` (when invalid), ``outcome`` (final step), ``sql``
    (the query the action ran), ``kind`` (``"sql"`` or ``"solution"``), ``row_count``
    (exploratory queries), ``match`` (solutions), plus ``reward_components`` from wrappers.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``tasks`` | ``None`` | generated (``None``), JSONL path, records, ``Task`` list, |
    | | | ``datasets.Dataset``, ``TaskSource`` or ``seed -> Task`` callable |
    | ``schemas`` | all five | generated schemas to ask about |
    | ``patterns`` | all | SQL patterns (see ``prm_gym.envs.sql.generator``) |
    | ``levels`` | ``(1, 2, 3, 4)`` | difficulty levels of the generated questions |
    | ``db_seed`` | ``0`` | seed of the generated databases |
    | ``test_suite`` | ``1`` | databases per schema (seeds ``db_seed``, ``db_seed + 1``, …) |
    | | | on which a solution must match (Spider test-suite evaluation) |
    | ``cache_dir`` | ``None`` | where databases are built (``$PRM_GYM_CACHE/sql`` or |
    | | | ``~/.cache/prm_gym/sql``) |
    | ``max_turns`` | ``5`` | actions before truncation (``max_steps`` is an alias) |
    | ``match`` | ``"spider"`` | ``"spider"`` (multiset / ordered) or ``"bird"`` (set) |
    | ``float_tol`` | ``None`` | tolerance for float comparison (``None``: exact) |
    | ``query_timeout`` | ``2.0`` | seconds a query may run |
    | ``max_result_rows`` | ``20`` | rows shown for an exploratory query |
    | ``max_result_chars`` | ``4000`` | characters shown for an exploratory query |
    | ``sample_rows`` | ``3`` | sample rows per table in the prompt |
    | ``max_action_length`` | ``8192`` | longest valid action, in characters |
    | ``render_mode`` | ``None`` | ``"ansi"`` (``render()`` returns the transcript) or ``"human"`` |

    ## Version History
    * v0: initial release.

    Example:
        >>> import gymnasium as gym, tempfile
        >>> import prm_gym
        >>> env = gym.make("prm/SQL-v0", cache_dir=tempfile.mkdtemp(), schemas=("library",))
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(
        ...     "<sql>SELECT COUNT(*) FROM books</sql>"
        ... )
        >>> reward, terminated, info["action_valid"]
        (0.0, False, True)
        >>> gold = env.unwrapped.task.answer
        >>> obs, reward, terminated, truncated, info = env.step(f"<solution>{gold}</solution>")
        >>> reward, terminated, info["outcome"]
        (1.0, True, 1.0)
        >>> env.close()
    """

    def __init__(
        self,
        tasks: Any = None,
        *,
        schemas: tuple[str, ...] | None = None,
        patterns: tuple[str, ...] | None = None,
        levels: tuple[int, ...] | None = None,
        db_seed: int = 0,
        test_suite: int = 1,
        cache_dir: str | None = None,
        max_turns: int | None = None,
        max_steps: int | None = None,
        match: MatchMode = "spider",
        float_tol: float | None = None,
        query_timeout: float = 2.0,
        max_result_rows: int = 20,
        max_result_chars: int = 4000,
        sample_rows: int = 3,
        max_action_length: int = 8192,
        render_mode: str | None = None,
    ) -> None:
        config = SQLConfig(
            schemas=tuple(schemas) if schemas else SCHEMAS,
            patterns=tuple(patterns) if patterns else None,
            levels=tuple(levels) if levels else LEVELS,
            db_seed=db_seed,
            test_suite=test_suite,
            cache_dir=None if cache_dir is None else str(cache_dir),
            sample_rows=sample_rows,
        )
        max_turns = episode_limit(max_turns, max_steps, default=5)
        super().__init__(
            tasks,
            default_tasks=lambda: ProceduralSource(partial(generate, config)),
            parse_record=parse_sql_record,
            max_steps=max_turns,
            max_action_length=max_action_length,
            render_mode=render_mode,
        )
        self.config = config
        self.max_turns = max_turns
        self.max_result_rows = max_result_rows
        self.max_result_chars = max_result_chars
        self.checker = ExecutionChecker(match=match, float_tol=float_tol, timeout=query_timeout)
        self._queries: list[str] = []

    def _begin(self, task: Task) -> str:
        self._queries = []
        self.checker.database(task_database(task))  # fail at reset, not mid-episode
        return f"{task.prompt}\n\n{_INSTRUCTIONS}"

    def _act(self, action: str) -> ActResult:
        assert self.task is not None
        parsed = extract_sql(action)
        if parsed is None:
            return ActResult(f"Invalid action: {_FORMAT_HELP}.", action_valid=False,
                             error=_FORMAT_HELP)  # fmt: skip
        kind, query = parsed
        if not query:
            error = f"empty <{kind}> block: put a SQL query inside it"
            return ActResult(f"Invalid action: {error}.", action_valid=False, error=error)
        self._queries.append(query)
        info: dict[str, Any] = {"sql": query, "kind": kind}
        path = task_database(self.task)
        if kind == "solution":
            suite = task_test_suite(self.task)
            verdict = self.checker.check(path, str(self.task.answer), query, suite)
            info["match"] = verdict.match
            if verdict.error is not None:
                return ActResult(
                    f"Solution failed: {verdict.error}", terminated=True, outcome=0.0,
                    action_valid=False, error=verdict.error, info=info,
                )  # fmt: skip
            text = "matches" if verdict.match else "does not match"
            return ActResult(
                f"Solution submitted: its result {text} the expected result.",
                terminated=True, outcome=1.0 if verdict.match else 0.0, info=info,
            )  # fmt: skip
        try:
            result = self.checker.run(path, query, max_rows=1000, truncate=True)
        except QueryError as exc:
            return ActResult(f"Error: {exc}", action_valid=False, error=str(exc), info=info)
        info["row_count"] = len(result.rows)
        table = format_table(result, max_rows=self.max_result_rows, max_chars=self.max_result_chars)
        return ActResult(table, info=info)

    def _extra_state(self) -> Any:
        return {"queries": list(self._queries)}

    def _restore_extra_state(self, state: Any) -> None:
        self._queries = list(state["queries"])

    def _release(self) -> None:
        self.checker.close()
