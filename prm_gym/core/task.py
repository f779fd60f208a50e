"""Tasks and task sources.

A :class:`Task` is one problem an episode is about; a :class:`TaskSource` hands tasks to an env at
``reset``. Every text env accepts ``tasks=`` in any form :func:`as_task_source` understands: a
procedural generator (the default: seeded, infinite), a JSONL path, a list of records or tasks, or
a Hugging Face ``datasets.Dataset``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DatasetSource",
    "ProceduralSource",
    "RecordParser",
    "Task",
    "TaskSource",
    "as_task_source",
    "load_jsonl",
    "open_text",
    "read_bytes",
    "read_text",
]


@dataclass(frozen=True)
class Task:
    """One problem.

    Attributes:
        id: Stable identifier (procedural tasks encode family, level and seed in it).
        prompt: What the agent is shown at ``reset``.
        answer: The gold: a final answer, gold SQL, gold calls, a reference solution. Oracle
            agents, tests and PRM training read it; the agent never sees it.
        metadata: Anything else the env or its scorers know (gold steps, intermediate values).
    """

    id: str
    prompt: str
    answer: Any
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TaskSource(Protocol):
    """Hands out tasks. ``sample`` must be a pure function of the generator's state."""

    def sample(self, rng: np.random.Generator) -> Task: ...


class ProceduralSource:
    """An infinite source backed by ``generate(seed) -> Task``, a pure function of the seed.

    ``sample`` draws a task seed from the env's generator, so ``reset(seed=s)`` fixes the task.
    ``get(seed)`` builds a given task directly.
    """

    def __init__(self, generate: Callable[[int], Task]) -> None:
        self._generate = generate

    def sample(self, rng: np.random.Generator) -> Task:
        return self._generate(int(rng.integers(0, 2**31 - 1)))

    def get(self, seed: int) -> Task:
        return self._generate(seed)


class DatasetSource:
    """A finite list of tasks, sampled uniformly; ``get(i)`` and ``find(task_id)`` pick one."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        if len(tasks) == 0:
            raise ValueError("a task dataset needs at least one task")
        self.tasks = list(tasks)
        self._by_id = {t.id: t for t in self.tasks}

    def __len__(self) -> int:
        return len(self.tasks)

    def sample(self, rng: np.random.Generator) -> Task:
        return self.tasks[int(rng.integers(0, len(self.tasks)))]

    def get(self, index: int) -> Task:
        return self.tasks[index]

    def find(self, task_id: str) -> Task:
        try:
            return self._by_id[task_id]
        except KeyError:
            raise KeyError(f"no task with id {task_id!r} in this dataset") from None


RecordParser = Callable[[Mapping[str, Any], int], Task]
"""Turns one raw record (a JSONL line, a dataset row) and its index into a :class:`Task`."""


_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: str | Path) -> bool:
    with Path(path).open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_text(path: str | Path) -> IO[str]:
    """Open a UTF-8 text file for reading, decompressing it on the fly when it is gzip
    (recognised by its content, so ``data.jsonl.gz`` and ``data.jsonl`` both work)."""
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8")
    return Path(path).open(encoding="utf-8")


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a file, decompressed when it is gzip (``.json.gz``)."""
    data = Path(path).read_bytes()
    if data[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (gzip.BadGzipFile, EOFError) as exc:
            raise ValueError(f"{path}: not a valid gzip file ({exc})") from None
    return data


def read_text(path: str | Path) -> str:
    """The UTF-8 text of a file, decompressed when it is gzip (``.json.gz``)."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc})") from None


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file (plain or gzip, e.g. ``tasks.jsonl.gz``) into a list of dicts, with the
    line number in any parse error."""
    records: list[dict[str, Any]] = []
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{path}:{lineno}: each line must be a JSON object")
                records.append(record)
    except (gzip.BadGzipFile, EOFError) as exc:  # a damaged or truncated .gz file
        raise ValueError(f"{path}: not a valid gzip file ({exc})") from None
    return records


def _parse_all(records: Iterable[Any], parse: RecordParser) -> list[Task]:
    tasks = []
    for i, record in enumerate(records):
        if isinstance(record, Task):
            tasks.append(record)
        elif isinstance(record, Mapping):
            tasks.append(parse(record, i))
        else:
            raise TypeError(f"task record {i} must be a Task or a mapping, got {type(record)}")
    return tasks


def as_task_source(
    tasks: Any, default: Callable[[], TaskSource], parse: RecordParser
) -> TaskSource:
    """Normalise the ``tasks=`` argument of a text env.

    Accepts ``None`` (the env's default procedural source), a :class:`TaskSource`, a callable
    ``seed -> Task``, a path to a JSONL file (or ``.jsonl.gz``), a sequence of records or
    :class:`Task`, or a ``datasets.Dataset`` (anything with ``column_names`` that iterates over
    row dicts).
    """
    if tasks is None:
        return default()
    if isinstance(tasks, TaskSource):
        return tasks
    if isinstance(tasks, (str, Path)):
        return DatasetSource(_parse_all(load_jsonl(tasks), parse))
    if callable(tasks):
        return ProceduralSource(tasks)
    if hasattr(tasks, "column_names"):  # datasets.Dataset, without importing datasets
        return DatasetSource(_parse_all(iter(tasks), parse))
    if isinstance(tasks, Sequence):
        return DatasetSource(_parse_all(tasks, parse))
    raise TypeError(
        "tasks= must be None, a TaskSource, a callable seed -> Task, a JSONL path, a list of "
        f"records or Tasks, or a datasets.Dataset; got {type(tasks).__name__}"
    )
