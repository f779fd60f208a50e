"""Readers for maths datasets stored as JSONL (or rows of a ``datasets.Dataset``).

Record schemas (one JSON object per line; ``id`` is optional everywhere):

* GSM8K style: ``{"question": str, "answer": "worked solution ... #### 72"}``;
* MATH style: ``{"problem": str, "solution": "... \\boxed{\\frac{1}{2}} ..."}`` (optional
  ``answer``, ``level``, ``type``);
* plain: ``{"prompt": str, "answer": str}`` (``question`` or ``problem`` also accepted as prompt).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prm_gym.core.task import Task
from prm_gym.envs.math.answers import extract_final_answer

__all__ = ["parse_math_record"]

_CALC = re.compile(r"<<([^<>]*)>>")


def _gsm8k(record: Mapping[str, Any], index: int) -> Task:
    full = str(record["answer"])
    if "####" not in full:
        raise ValueError(f"GSM8K record {index}: 'answer' has no '#### <final answer>' line")
    solution, final = full.rsplit("####", 1)
    values = [expr.split("=")[-1].strip() for expr in _CALC.findall(solution) if "=" in expr]
    return Task(
        id=str(record.get("id", f"gsm8k-{index}")),
        prompt=str(record["question"]).strip(),
        answer=final.strip().replace(",", ""),
        metadata={
            "source": "gsm8k",
            "solution": _CALC.sub("", solution).strip(),
            "values": tuple(values),
        },
    )


def _math(record: Mapping[str, Any], index: int) -> Task:
    solution = str(record["solution"])
    answer = record.get("answer") or extract_final_answer(solution)
    if not answer:
        raise ValueError(f"MATH record {index}: no 'answer' and no \\boxed{{}} in 'solution'")
    meta = {k: record[k] for k in ("level", "type", "subject") if k in record}
    return Task(
        id=str(record.get("id", record.get("unique_id", f"math-{index}"))),
        prompt=str(record["problem"]).strip(),
        answer=str(answer).strip(),
        metadata={"source": "math", "solution": solution, **meta},
    )


def parse_math_record(record: Mapping[str, Any], index: int) -> Task:
    """Turn one GSM8K-, MATH- or plain-style record into a :class:`Task` (schema above)."""
    # Dataset rows of mixed schemas carry every column, with None where a row lacks it.
    record = {k: v for k, v in record.items() if v is not None}
    if "question" in record and "####" in str(record.get("answer", "")):
        return _gsm8k(record, index)
    if "problem" in record and "solution" in record:
        return _math(record, index)
    prompt = record.get("prompt", record.get("question", record.get("problem")))
    if prompt is None or "answer" not in record:
        raise ValueError(
            f"maths record {index} has keys {sorted(record)}; expected GSM8K "
            "(question, answer with '####'), MATH (problem, solution) or plain (prompt, answer)"
        )
    meta = {
        k: v
        for k, v in record.items()
        if k not in ("prompt", "question", "problem", "answer", "id")
    }
    return Task(
        id=str(record.get("id", f"task-{index}")),
        prompt=str(prompt).strip(),
        answer=str(record["answer"]).strip(),
        metadata=meta,
    )
