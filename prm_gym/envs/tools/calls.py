"""Parsing tool calls and answers out of actions, and comparing answers.

An action holds one or more ``<tool_call>{"name": ..., "parameters": {...}}</tool_call>`` blocks
(``"arguments"`` is accepted for ``"parameters"``), or one ``<answer>...</answer>`` block.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ParsedAction",
    "answers_match",
    "canonical_call",
    "format_call",
    "normalize_text",
    "parse_action",
]

_TAG = re.compile(r"<(/?)(tool_call|answer)>", re.I)
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class ParsedAction:
    """The calls and answer in one action, with a reason for each block that did not parse.

    ``calls`` holds every well-formed call (``{"name": str, "parameters": dict}``), in order;
    ``errors`` one message per malformed block; ``answer`` the text of the last ``<answer>``
    block, if any.
    """

    calls: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answer: str | None = None
    num_blocks: int = 0

    @property
    def well_formed(self) -> bool:
        """Exactly one kind of block, every block parsed, and an answer that is not empty."""
        if self.errors or self.num_blocks == 0:
            return False
        if self.answer is not None:
            return not self.calls and self.num_blocks == 1 and bool(self.answer.strip())
        return True


def parse_action(action: str) -> ParsedAction:
    """Every ``<tool_call>`` and ``<answer>`` block of ``action`` (see :class:`ParsedAction`)."""
    parsed = ParsedAction()
    calls, answers = _blocks(action)
    for i, block in enumerate(calls, 1):
        parsed.num_blocks += 1
        try:
            payload = json.loads(block.strip())
        except json.JSONDecodeError as exc:
            parsed.errors.append(f"tool call {i}: malformed JSON ({exc.msg} at char {exc.pos})")
            continue
        except (ValueError, RecursionError) as exc:  # e.g. an integer of > 4300 digits
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            parsed.errors.append(f"tool call {i}: unreadable JSON ({reason})")
            continue
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            parsed.errors.append(f'tool call {i}: expected {{"name": str, "parameters": {{...}}}}')
            continue
        params = payload.get("parameters", payload.get("arguments", {}))
        if isinstance(params, str):  # OpenAI-style arguments serialised as a JSON string
            with contextlib.suppress(ValueError, RecursionError):
                params = json.loads(params)
        if not isinstance(params, dict):
            parsed.errors.append(f"tool call {i}: 'parameters' must be a JSON object")
            continue
        parsed.calls.append({"name": payload["name"], "parameters": params})
    parsed.num_blocks += len(answers)
    if answers:
        parsed.answer = answers[-1].strip()
    return parsed


def _blocks(action: str) -> tuple[list[str], list[str]]:
    """The ``<tool_call>`` and ``<answer>`` block contents, in order, in one linear pass.

    A block runs from its opening tag to the first closing tag of the same kind; opening tags
    inside it are content, and closing tags without an opening tag are ignored.
    """
    found: dict[str, list[str]] = {"tool_call": [], "answer": []}
    open_at: dict[str, int | None] = {"tool_call": None, "answer": None}
    for tag in _TAG.finditer(action):
        kind = "answer" if tag.group(2)[0] in "aA" else "tool_call"  # re.I also folds "ſ"
        start = open_at[kind]
        if not tag.group(1):
            if start is None:
                open_at[kind] = tag.end()
        elif start is not None:
            found[kind].append(action[start : tag.start()])
            open_at[kind] = None
    return found["tool_call"], found["answer"]


def format_call(call: dict[str, Any]) -> str:
    """A call as an action block."""
    body = {"name": call["name"], "parameters": call["parameters"]}
    return f"<tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>"


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return round(float(value), 6)
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    return repr(value)


def canonical_call(call: dict[str, Any]) -> tuple[str, Any]:
    """A hashable form of a call: numbers as rounded floats, strings normalised."""
    return str(call.get("name")), _canonical(call.get("parameters", {}))


def normalize_text(text: str) -> str:
    """Lower case, surrounding punctuation and repeated whitespace removed."""
    return " ".join(text.lower().replace("°", " ").split()).strip(" .,;:!?\"'")


def _to_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def answers_match(predicted: str, gold: Any, rel_tol: float = 1e-3, abs_tol: float = 0.011) -> bool:
    """Whether an answer is right.

    A numeric gold matches the last number in the answer within ``rel_tol`` (or ``abs_tol``;
    thousands separators are allowed). A date matches the same ``YYYY-MM-DD`` date in the answer;
    any other string matches after :func:`normalize_text`.
    """
    if isinstance(gold, bool):
        gold = str(gold)
    if isinstance(gold, (int, float)):
        numbers = [_to_number(m) for m in _NUMBER.findall(predicted)]
        values = [n for n in numbers if n is not None]
        return bool(values) and math.isclose(values[-1], gold, rel_tol=rel_tol, abs_tol=abs_tol)
    gold_text = normalize_text(str(gold))
    if _DATE.match(gold_text):
        return gold_text in re.findall(r"\d{4}-\d{2}-\d{2}", predicted)
    return normalize_text(predicted) == gold_text
