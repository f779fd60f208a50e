"""Scripted gold and hacking policies for prm/SQL-v0 (the reward-integrity kit, DESIGN §5a).

Policies are ``policy(observation, info, env) -> action`` (see :mod:`prm_gym.core.assets`);
each factory here makes a fresh one per episode. They read the gold query from
``env.unwrapped.task.answer`` and the database from ``task.metadata["db_path"]``: they are
probes of a reward stack, not learners.

The hacks are the cheapest ways to farm a naive text-to-SQL dense reward:

* ``stall_with_gold_exploration`` — the right query as ``<sql>`` on every turn but the last,
  then submitted (paid on every turn when exploration is scored against the gold);
* ``resubmit_near_miss`` — a near miss (the gold query wrapped so it returns no rows: same
  tables, columns and most n-grams) run again and again, then submitted (the closest thing to
  resubmitting, since a submission ends the episode);
* ``schema_dump`` — a junk query that names every table and column of the database (farms a
  recall-only schema-linking score), explored every turn, then submitted;
* ``submit_wrong`` — submits ``SELECT *`` from the gold query's first table at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from prm_gym.core.assets import Policy, PolicyFactory
from prm_gym.envs.sql.checker import task_database
from prm_gym.envs.sql.rewards import schema_items

__all__ = ["HACKS", "gold_policy", "schema_dump_query"]


def _task(env: gym.Env[Any, Any]) -> Any:
    task = getattr(env.unwrapped, "task", None)
    if task is None or not getattr(task, "answer", None):
        raise ValueError("SQL policies need env.unwrapped.task with the gold query in .answer")
    return task


def _max_turns(env: gym.Env[Any, Any]) -> int:
    return int(getattr(env.unwrapped, "max_turns", 5))


def gold_policy() -> Policy:
    """Submits the gold query (``task.answer``) on the first turn."""

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> str:
        return f"<solution>{_task(env).answer}</solution>"

    return act


def _explore_then_submit(query_of: Any) -> PolicyFactory:
    """Factory: ``query_of(env)`` as ``<sql>`` on every turn but the last, then submitted."""

    def factory() -> Policy:
        turn = 0

        def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> str:
            nonlocal turn
            turn += 1
            query = query_of(env)
            tag = "solution" if turn >= _max_turns(env) else "sql"
            return f"<{tag}>{query}</{tag}>"

        return act

    return factory


def _gold_query(env: gym.Env[Any, Any]) -> str:
    return str(_task(env).answer)


def _near_miss(env: gym.Env[Any, Any]) -> str:
    gold = _gold_query(env).strip().rstrip(";")
    return f"SELECT * FROM ({gold}) WHERE 0"


def schema_dump_query(path: str) -> str:
    """A query that names every table and column of the database at ``path`` and returns no
    rows at once (``WHERE 0``)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        columns = [
            f'"{t}"."{c[1]}"' for t in tables for c in conn.execute(f'PRAGMA table_info("{t}")')
        ]
    finally:
        conn.close()
    froms = ", ".join(f'"{t}"' for t in tables)
    return f"SELECT {', '.join(columns) or '1'} FROM {froms} WHERE 0"


def _schema_dump(env: gym.Env[Any, Any]) -> str:
    return schema_dump_query(task_database(_task(env)))


def _submit_wrong() -> Policy:
    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> str:
        items = sorted(i for i in schema_items(_gold_query(env)) or () if i.startswith("table:"))
        table = items[0].split(":", 1)[1] if items else "sqlite_master"
        return f'<solution>SELECT * FROM "{table}"</solution>'

    return act


HACKS: dict[str, PolicyFactory] = {
    "stall_with_gold_exploration": _explore_then_submit(_gold_query),
    "resubmit_near_miss": _explore_then_submit(_near_miss),
    "schema_dump": _explore_then_submit(_schema_dump),
    "submit_wrong": _submit_wrong,
}
"""Name -> factory of each hacking policy (module docstring)."""
