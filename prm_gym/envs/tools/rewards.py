"""Step scorers for tool calls: ToolRL's rule reward, a BFCL-style AST match, call efficiency.

Each step is compared with the **step gold**: the gold calls (``task.answer["calls"]``) not yet
made earlier in the episode (an earlier action's call counts as made when it equals a gold call
after :func:`~prm_gym.envs.tools.calls.canonical_call`), the next ``max(1, k)`` of them for an
action with ``k`` calls, and none once every gold call has been made (the answer turn).

* :func:`toolrl_correctness` — ToolRL (Qian et al., "ToolRL: Reward is All Tool Learning Needs",
  2025, ``rlla.py``): ``S = Jaccard(names) + Σ_gold max over unused predicted calls with the same
  name [Jaccard(param keys) + #exactly equal values]``, ``S_max = 1 + Σ_gold (1 + |params|)``,
  ``R = 6·S/S_max − 3`` ∈ [−3, 3]; −3 when the action does not parse.
  :func:`toolrl_format` is 1 for a well-formed action, else 0. :class:`ToolRLReward` scores
  their sum (∈ [−3, 4]).
* :func:`ast_match` — BFCL's AST checker (Patil et al., Berkeley Function-Calling Leaderboard,
  ``ast_checker.py``): each call must match a gold call by name, have every required parameter,
  no unknown parameter, values of the right type (an ``int`` is accepted for a ``float``) and
  equal values (strings compared after normalisation: lower case, without spaces and
  ``,./-_*^``); several calls are matched order-free. :class:`ToolCallASTMatch` scores 1 or 0.
* :class:`ToolEfficiency` — −1 for every call that repeats a call made earlier in the episode
  (or earlier in the same action), −0.5 for every call beyond the gold calls still pending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.tools.calls import canonical_call, parse_action
from prm_gym.envs.tools.registry import ToolRegistry

__all__ = [
    "ToolCallASTMatch",
    "ToolEfficiency",
    "ToolRLReward",
    "ast_check",
    "ast_match",
    "step_gold_calls",
    "toolrl_correctness",
    "toolrl_format",
]

Call = Mapping[str, Any]


def _jaccard(a: set[Any], b: set[Any]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def toolrl_correctness(predicted: Sequence[Call] | None, gold: Sequence[Call]) -> float:
    """ToolRL's correctness reward in [−3, 3] (module docstring); ``predicted=None`` = parse
    failure (−3)."""
    if predicted is None:
        return -3.0
    score = _jaccard({c["name"] for c in predicted}, {c["name"] for c in gold})
    best_possible = 1.0
    used: set[int] = set()
    for g in gold:
        g_params = dict(g.get("parameters", {}))
        best_possible += 1 + len(g_params)
        best, best_index = 0.0, None
        for i, p in enumerate(predicted):
            if i in used or p["name"] != g["name"]:
                continue
            p_params = dict(p.get("parameters", {}))
            value = _jaccard(set(p_params), set(g_params)) + sum(
                1 for k, v in g_params.items() if k in p_params and p_params[k] == v
            )
            if best_index is None or value > best:
                best, best_index = value, i
        if best_index is not None:
            used.add(best_index)
            score += best
    return 6.0 * score / best_possible - 3.0


def toolrl_format(action: str) -> float:
    """1.0 when every block of ``action`` parses and it is either calls or one answer."""
    return float(parse_action(action).well_formed)


_STRIP = re.compile(r"[ ,./\-_*^]")


def _norm_string(s: str) -> str:
    return _STRIP.sub("", s.lower())


def _values_equal(pred: Any, gold: Any) -> bool:
    if isinstance(gold, bool) or isinstance(pred, bool):
        return type(pred) is type(gold) and pred == gold
    if isinstance(gold, float):
        return isinstance(pred, (int, float)) and abs(pred - gold) <= 1e-9 * max(1.0, abs(gold))
    if isinstance(gold, int):
        return type(pred) is int and pred == gold
    if isinstance(gold, str):
        return isinstance(pred, str) and _norm_string(pred) == _norm_string(gold)
    if isinstance(gold, list):
        return (
            isinstance(pred, list)
            and len(pred) == len(gold)
            and all(_values_equal(p, g) for p, g in zip(pred, gold, strict=True))
        )
    if isinstance(gold, dict):
        return (
            isinstance(pred, dict)
            and set(pred) == set(gold)
            and all(_values_equal(pred[k], gold[k]) for k in gold)
        )
    return bool(pred == gold)


def ast_check(
    predicted: Call, gold: Call, registry: ToolRegistry | None = None
) -> tuple[bool, str]:
    """Whether one call matches one gold call (BFCL rules), and why not.

    Parameter types and required parameters come from ``registry`` when it knows the tool, else
    from the gold call (every gold parameter then counts as required). A ``number`` parameter
    accepts an ``int``; an ``integer`` parameter does not accept a ``float``. An optional
    parameter absent from the gold call must be absent or equal to its default.
    """
    if predicted.get("name") != gold.get("name"):
        return False, f"wrong function: {predicted.get('name')!r} instead of {gold.get('name')!r}"
    pred_params = dict(predicted.get("parameters", {}))
    gold_params = dict(gold.get("parameters", {}))
    name = str(gold["name"])
    if registry is not None and name in registry:
        properties = registry[name].parameters
        required = registry[name].required
    else:
        properties = {k: {} for k in gold_params}
        required = list(gold_params)
    for key in required:
        if key not in pred_params:
            return False, f"missing required parameter {key!r}"
    for key, value in pred_params.items():
        if key not in properties:
            return False, f"unknown parameter {key!r}"
        kind = properties[key].get("type")
        if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return False, f"parameter {key!r} should be a number"
        if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            return False, f"parameter {key!r} should be an integer"
        if kind == "string" and not isinstance(value, str):
            return False, f"parameter {key!r} should be a string"
        if key in gold_params:
            expected = gold_params[key]
            if kind == "number" and isinstance(expected, int):
                expected = float(expected)
            if not _values_equal(value, expected):
                return False, f"parameter {key!r}: {value!r} instead of {gold_params[key]!r}"
        elif value != properties[key].get("default", object()):
            return False, f"parameter {key!r} is not in the gold call and differs from its default"
    return True, ""


def ast_match(
    predicted: Sequence[Call], gold: Sequence[Call], registry: ToolRegistry | None = None
) -> bool:
    """Whether the predicted calls match the gold calls one to one, in any order (BFCL's
    parallel-call rule)."""
    if len(predicted) != len(gold):
        return False
    ok = [[ast_check(p, g, registry)[0] for g in gold] for p in predicted]
    match_of_gold: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:  # Kuhn's bipartite matching
        for j in range(len(gold)):
            if ok[i][j] and j not in seen:
                seen.add(j)
                if j not in match_of_gold or augment(match_of_gold[j], seen):
                    match_of_gold[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(len(predicted)))


def _made_calls(previous_steps: Sequence[str]) -> list[Call]:
    return [c for step in previous_steps for c in parse_action(step).calls]


def step_gold_calls(context: StepContext, num_predicted: int = 1) -> list[dict[str, Any]]:
    """The step gold of a context (module docstring)."""
    task = context.task
    if task is None or not isinstance(getattr(task, "answer", None), Mapping):
        raise ValueError(
            "tool-call scorers need StepContext.task with task.answer['calls'] "
            "(ProcessReward passes env.unwrapped.task)"
        )
    made = {canonical_call(dict(c)) for c in _made_calls(context.previous_steps)}
    pending = [dict(c) for c in task.answer.get("calls", []) if canonical_call(c) not in made]
    return pending[: max(1, num_predicted)]


class ToolRLReward:
    """ToolRL's rule reward (format + correctness) as a batched scorer.

    Scores ``format + correctness`` ∈ [−3, 4] against the step gold (module docstring);
    ``score_components`` returns both terms. An action with a malformed block scores
    correctness −3 (parse failure).

    Example:
        >>> from prm_gym.core import StepContext, Task
        >>> gold = {"name": "add_days", "parameters": {"date": "2025-01-01", "days": 3}}
        >>> task = Task("t", "q", {"calls": [gold], "answer": "2025-01-04"})
        >>> call = '<tool_call>{"name": "add_days", "parameters": '
        >>> ctx = StepContext("q", (), call + '{"date": "2025-01-01", "days": 4}}</tool_call>',
        ...                   task=task)
        >>> ToolRLReward().score_components([ctx])
        [{'format': 1.0, 'correctness': 1.5}]
    """

    components = ("format", "correctness")

    def score_components(self, contexts: Sequence[StepContext]) -> list[dict[str, float]]:
        rows = []
        for context in contexts:
            parsed = parse_action(context.action)
            gold = step_gold_calls(context, len(parsed.calls))
            predicted = None if parsed.errors or parsed.num_blocks == 0 else parsed.calls
            rows.append(
                {
                    "format": float(parsed.well_formed),
                    "correctness": toolrl_correctness(predicted, gold),
                }
            )
        return rows

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        rows = self.score_components(contexts)
        return np.array([r["format"] + r["correctness"] for r in rows], dtype=np.float32)


class ToolCallASTMatch:
    """1.0 when the step's calls match the step gold by BFCL's AST rules, else 0.0.

    An answer step scores 1 when no gold call is pending (the answer comes at the right time);
    types and required parameters come from ``registry`` (default: the built-in tools).
    """

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        if registry is None:
            from prm_gym.envs.tools.builtin import default_registry

            registry = default_registry()
        self.registry = registry

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = []
        for context in contexts:
            parsed = parse_action(context.action)
            if parsed.errors or parsed.num_blocks == 0:
                out.append(0.0)
                continue
            if parsed.answer is not None and not parsed.calls:
                made = {canonical_call(dict(c)) for c in _made_calls(context.previous_steps)}
                gold_all = context.task.answer.get("calls", []) if context.task else []
                out.append(float(all(canonical_call(c) in made for c in gold_all)))
                continue
            gold = step_gold_calls(context, len(parsed.calls))
            out.append(float(ast_match(parsed.calls, gold, self.registry)))
        return np.array(out, dtype=np.float32)


class ToolEfficiency:
    """Penalises wasted calls: −1 per repeated call, −0.5 per call beyond the pending gold calls
    (module docstring); 0 for an efficient step."""

    def __init__(self, repeat_penalty: float = 1.0, excess_penalty: float = 0.5) -> None:
        self.repeat_penalty = repeat_penalty
        self.excess_penalty = excess_penalty

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = []
        for context in contexts:
            calls = parse_action(context.action).calls
            seen = {canonical_call(dict(c)) for c in _made_calls(context.previous_steps)}
            repeats = 0
            for call in calls:
                key = canonical_call(call)
                repeats += key in seen
                seen.add(key)
            excess = 0
            if context.task is not None and calls:
                made = {canonical_call(dict(c)) for c in _made_calls(context.previous_steps)}
                pending = [c for c in context.task.answer.get("calls", [])
                           if canonical_call(c) not in made]  # fmt: skip
                excess = max(0, len(calls) - len(pending))
            out.append(-self.repeat_penalty * repeats - self.excess_penalty * excess)
        return np.array(out, dtype=np.float32)
