"""Readers for Spider- and BIRD-format text-to-SQL data a user has locally.

Directory layout (Spider; BIRD names its database folder ``dev_databases`` / ``train_databases``)::

    root/
      tables.json                     optional: checked for the questions' db_ids
      dev.json                        [{"db_id", "question", "query" (Spider) | "SQL" (BIRD),
                                        "evidence" (BIRD, optional), ...}, ...]
      database/<db_id>/<db_id>.sqlite

Records for ``tasks=`` (a JSONL path, a list, a ``datasets.Dataset``) use the same keys plus the
database location: ``{"question", "query" | "SQL" | "answer", "db_path"}`` or ``{"question",
"query", "db_id", "db_root"}`` (``db_root/<db_id>/<db_id>.sqlite``); ``id``, ``evidence`` and
``difficulty`` are optional.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prm_gym.core.task import Task, read_text
from prm_gym.envs.sql.databases import describe_database
from prm_gym.envs.sql.matching import gold_is_ordered

__all__ = ["load_spider", "parse_sql_record"]

_DATABASE_DIRS = ("database", "dev_databases", "train_databases", "test_database")


def _gold(record: Mapping[str, Any], index: int) -> str:
    for key in ("query", "SQL", "sql", "answer"):
        if record.get(key):
            return str(record[key]).strip()
    raise ValueError(
        f"SQL record {index} has keys {sorted(record)}; expected the gold query under "
        "'query' (Spider), 'SQL' (BIRD) or 'answer'"
    )


def _make_task(
    record: Mapping[str, Any],
    index: int,
    db_path: Path,
    sample_rows: int,
    test_suite: bool = False,
) -> Task:
    if not db_path.is_file():
        raise FileNotFoundError(f"SQL record {index}: no SQLite database at {db_path}")
    question = str(record["question"]).strip()
    evidence = str(record.get("evidence") or "").strip()
    if evidence:
        question += f"\nHint: {evidence}"
    db_id = str(record.get("db_id") or db_path.stem)
    gold = _gold(record, index)
    schema = describe_database(str(db_path.resolve()), sample_rows)
    meta: dict[str, Any] = {
        "source": str(record.get("source", "dataset")),
        "question": question,
        "db_id": db_id,
        "db_path": str(db_path.resolve()),
        "ordered": gold_is_ordered(gold),
    }
    if test_suite:  # the test-suite-sql-eval layout: variants next to <db_id>.sqlite
        others = sorted(p for p in db_path.parent.glob("*.sqlite") if p.name != db_path.name)
        meta["test_suite_paths"] = tuple(str(p.resolve()) for p in others)
    if "difficulty" in record:
        meta["difficulty"] = record["difficulty"]
    return Task(
        id=str(record.get("id", record.get("question_id", f"{db_id}-{index}"))),
        prompt=f"{question}\n\nDatabase '{db_id}' (SQLite) schema:\n\n{schema}",
        answer=gold,
        metadata=meta,
    )


def parse_sql_record(record: Mapping[str, Any], index: int) -> Task:
    """Turn one text-to-SQL record (schema above) into a :class:`Task`."""
    record = {k: v for k, v in record.items() if v is not None}
    if "question" not in record:
        raise ValueError(f"SQL record {index} has keys {sorted(record)}; it needs 'question'")
    if "db_path" in record:
        db_path = Path(str(record["db_path"]))
    elif "db_id" in record and "db_root" in record:
        db_id = str(record["db_id"])
        db_path = Path(str(record["db_root"])) / db_id / f"{db_id}.sqlite"
    else:
        raise ValueError(
            f"SQL record {index} needs 'db_path', or 'db_id' and 'db_root', to find its database"
        )
    return _make_task(record, index, db_path, int(record.get("sample_rows", 3)))


def load_spider(
    root: str | Path,
    questions: str | Path = "dev.json",
    *,
    database_dir: str | None = None,
    sample_rows: int = 3,
    limit: int | None = None,
    test_suite: bool = False,
) -> list[Task]:
    """Load a Spider- or BIRD-format directory into tasks for ``SQLEnv(tasks=...)``.

    Args:
        root: The dataset directory.
        questions: The question file, relative to ``root`` (or absolute); gzip files
            (``dev.json.gz``) are read too, as is ``tables.json.gz``.
        database_dir: Folder of ``<db_id>/<db_id>.sqlite`` under ``root``; found automatically
            among ``database``, ``dev_databases``, ``train_databases``, ``test_database``.
        sample_rows: Sample rows per table in each prompt.
        limit: Keep only the first ``limit`` questions.
        test_suite: Also check solutions on every other ``*.sqlite`` file in each database's
            folder (the layout of the Spider test suite, taoyds/test-suite-sql-eval).
    """
    root = Path(root)
    qpath = Path(questions) if Path(questions).is_absolute() else root / questions
    records = json.loads(read_text(qpath))
    if not isinstance(records, list):
        raise ValueError(f"{qpath}: expected a JSON list of question records")
    if database_dir is None:
        found = [d for d in _DATABASE_DIRS if (root / d).is_dir()]
        if not found:
            raise FileNotFoundError(f"{root}: no database folder (looked for {_DATABASE_DIRS})")
        database_dir = found[0]
    known: set[str] | None = None
    tables = next((p for p in (root / "tables.json", root / "tables.json.gz") if p.is_file()), None)
    if tables is not None:
        known = {str(t["db_id"]) for t in json.loads(read_text(tables))}
    tasks = []
    for i, record in enumerate(records[:limit]):
        db_id = str(record["db_id"])
        if known is not None and db_id not in known:
            raise ValueError(f"{qpath}: record {i} uses db_id {db_id!r}, absent from tables.json")
        db_path = root / database_dir / db_id / f"{db_id}.sqlite"
        record = {"source": root.name, **record}
        tasks.append(_make_task(record, i, db_path, sample_rows, test_suite))
    return tasks
