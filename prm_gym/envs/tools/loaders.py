"""Tool-use task records for ``ToolUseEnv(tasks=...)`` (a JSONL path, a list, a Dataset).

One JSON object per line::

    {"id": "trip-1",                                   optional (default "tools-<index>")
     "question": "How much is 120 EUR in USD?",        required (alias: "prompt")
     "answer": 129.6,                                  required: number or string
     "calls": [{"name": "convert_currency",            optional: the gold calls, in order
                "parameters": {"amount": 120, "from_currency": "EUR", "to_currency": "USD"}}],
     "level": 1}                                       optional (default: len(calls))

Gold calls feed the scorers (``ToolRLReward``, ``ToolCallASTMatch``) and the candidate actions;
``"arguments"`` is accepted for ``"parameters"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prm_gym.core.task import Task

__all__ = ["parse_tool_record"]


def parse_tool_record(record: Mapping[str, Any], index: int) -> Task:
    """Turn one tool-use record (schema above) into a :class:`Task`."""
    question = record.get("question", record.get("prompt"))
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"tool-use record {index} needs a non-empty 'question'")
    if "answer" not in record:
        raise ValueError(f"tool-use record {index} has keys {sorted(record)}; it needs 'answer'")
    calls = []
    for j, call in enumerate(record.get("calls") or []):
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise ValueError(f"tool-use record {index}: call {j} needs a string 'name'")
        params = call.get("parameters", call.get("arguments", {}))
        if not isinstance(params, Mapping):
            raise ValueError(f"tool-use record {index}: call {j} 'parameters' must be an object")
        calls.append({"name": call["name"], "parameters": dict(params)})
    return Task(
        id=str(record.get("id", f"tools-{index}")),
        prompt=question.strip(),
        answer={"calls": calls, "answer": record["answer"]},
        metadata={"level": int(record.get("level", len(calls))), "question": question.strip()},
    )
