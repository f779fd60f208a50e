"""Step scorers and the progress measure for tool calls.

**Which calls count as made.** A call made earlier in the episode *covers* a gold call
(``task.answer["calls"]``) when it equals it after :func:`~prm_gym.envs.tools.calls.canonical_call`
or matches it by BFCL's AST rules (:func:`ast_check`); each gold call is covered at most once
(a maximum bipartite matching, so the gold calls form a multiset). The **step gold** of an
action with ``k`` calls is the next ``max(1, k)`` gold calls not yet covered, and nothing once
every gold call is covered (the answer turn). Every scorer here uses this one rule, so a call
that a scorer rates as right also stops being pending: repeating it earns nothing more.

* :class:`ToolProgress` — the recommended dense signal (a
  :class:`~prm_gym.core.scorer.ProgressMeasure` for :class:`~prm_gym.wrappers.ProgressReward`):
  Φ = the share of the gold call multiset covered by the calls of the episode's valid actions.
  The final answer adds nothing (the outcome pays for it); repeated or duplicate calls add
  nothing.
* :func:`toolrl_correctness` — ToolRL's rule reward (Qian et al., "ToolRL: Reward is All Tool
  Learning Needs", 2025, ``verl/utils/reward_score/rlla.py``), against the step gold:
  ``S = match(names) + Σ_gold max over unused predicted calls with the same name
  [match(param keys) + #exactly equal values]`` where ``match`` is ToolRL's *multiset*
  similarity (:func:`toolrl_match_score`: ``|A ∩ B| / (|A| + |B| − |A ∩ B|)`` over counts, so
  the same call ten times against one gold call scores 1/10 on names), a prediction is used
  only when its score is positive, ``S_max = 1 + Σ_gold (1 + |params|)`` and
  ``R = 6·S/S_max − 3`` ∈ [−3, 3]; −3 when the action does not parse or holds no call while a
  gold call is pending; **0** on a turn whose step gold holds no call (the answer turn), as
  upstream scores a response turn.
  :func:`toolrl_format` is 1 for a well-formed action of the kind the step gold expects (calls
  while a gold call is pending, one answer once none is), as ToolRL's format reward, which
  checks the response against the gold turn's layout. :class:`ToolRLReward` scores their sum
  (∈ [−3, 4]).
* :func:`ast_match` — BFCL-style AST match against gold calls holding one value per parameter
  (Patil et al., "The Berkeley Function Calling Leaderboard (BFCL)", 2025, ``ast_checker.py``):
  each call must match a gold call by name, have every required parameter, no unknown
  parameter, values of the right type (an ``int`` is accepted for a ``float``) and equal values
  (strings compared after BFCL's normalisation: lower case, without spaces and ``,./-_*^``,
  ``'`` read as ``"``; floats within a relative 1e-9); several calls are matched order-free.
  :class:`ToolCallASTMatch` scores 1 or 0. Tasks from :func:`~prm_gym.envs.tools.bfcl.load_bfcl`
  are judged by BFCL's own rules instead (:mod:`prm_gym.envs.tools.bfcl`: lists of allowed
  values, ``""`` for "may be omitted", the function doc's types, exact numbers): a gold call
  carrying ``"possible"`` and ``"function"`` is covered by a call that passes
  :func:`~prm_gym.envs.tools.bfcl.bfcl_check_call`, and :class:`ToolCallASTMatch` scores the
  whole BFCL verdict.
* :class:`ToolEfficiency` — −1 for every call that repeats an earlier call of the episode (or of
  the same action) more often than the gold calls hold it, −0.5 for every call beyond the gold
  calls still pending. Never positive, so it cannot be farmed.

**Hazard of the per-step scorers.** Under :class:`~prm_gym.wrappers.ProcessReward` (the raw
per-step sum) :class:`ToolRLReward` pays every turn again: a near-miss call (right tool, one
wrong argument) never covers its gold call, so repeating it scores about +2.5 per turn, more
than making the right calls. Use ``prm_gym.make_dense("prm/ToolUse-v0")`` (``ProgressReward``
with :class:`ToolProgress` plus :class:`ToolEfficiency`) for a dense signal that cannot be
farmed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.envs.tools.bfcl import (
    bfcl_check_call,
    bfcl_verdict,
    is_bfcl_task,
    max_bipartite_matching,
)
from prm_gym.envs.tools.calls import canonical_call, parse_action
from prm_gym.envs.tools.registry import ToolRegistry

__all__ = [
    "ToolCallASTMatch",
    "ToolEfficiency",
    "ToolProgress",
    "ToolRLReward",
    "ast_check",
    "ast_match",
    "covered_gold",
    "step_gold_calls",
    "toolrl_correctness",
    "toolrl_format",
    "toolrl_match_score",
]

Call = Mapping[str, Any]


@lru_cache(maxsize=1)
def _builtin_registry() -> ToolRegistry:
    from prm_gym.envs.tools.builtin import default_registry

    return default_registry()


def toolrl_match_score(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """ToolRL's multiset similarity of two lists: 1 when equal, 0 when either is empty, else
    ``|P ∩ G| / (|P| + |G| − |P ∩ G|)`` with the intersection counted with multiplicity."""
    if list(predicted) == list(gold):
        return 1.0
    if not predicted or not gold:
        return 0.0
    common = sum((Counter(predicted) & Counter(gold)).values())
    return common / (len(predicted) + len(gold) - common)


def toolrl_correctness(predicted: Sequence[Call] | None, gold: Sequence[Call]) -> float:
    """ToolRL's correctness reward in [−3, 3] (module docstring).

    ``predicted=None`` is a parse failure (−3); an empty ``gold`` (the step expects no call)
    scores 0 whatever was predicted, as upstream.

    Example:
        >>> call = {"name": "add_days", "parameters": {"date": "2025-01-01", "days": 3}}
        >>> toolrl_correctness([call], [call])
        3.0
        >>> round(toolrl_correctness([call] * 10, [call]), 2)  # names 1/10: 6·3.1/4 − 3
        1.65
    """
    if predicted is None:
        return -3.0
    if not gold:
        return 0.0
    score = toolrl_match_score([c["name"] for c in predicted], [c["name"] for c in gold])
    best_possible = 1.0
    used: set[int] = set()
    for g in gold:
        g_params = dict(g.get("parameters", {}))
        best_possible += 1 + len(g_params)
        best, best_index = 0.0, -1
        for i, p in enumerate(predicted):
            if i in used or p["name"] != g["name"]:
                continue
            p_params = dict(p.get("parameters", {}))
            value = toolrl_match_score(list(p_params), list(g_params)) + sum(
                1 for k, v in g_params.items() if k in p_params and p_params[k] == v
            )
            if value > best:
                best, best_index = value, i
        if best_index >= 0:
            used.add(best_index)
            score += best
    return 6.0 * score / best_possible - 3.0


def toolrl_format(action: str, expect: Literal["call", "answer"] | None = None) -> float:
    """1.0 when every block of ``action`` parses and it is either calls or one answer, and (when
    ``expect`` is given) of that kind; else 0.0."""
    parsed = parse_action(action)
    if not parsed.well_formed:
        return 0.0
    if expect is None:
        return 1.0
    kind = "answer" if parsed.answer is not None else "call"
    return float(kind == expect)


_STRIP = re.compile(r"[ ,./\-_*^]")


def _norm_string(s: str) -> str:
    return _STRIP.sub("", s.lower()).replace("'", '"')


def _values_equal(pred: Any, gold: Any) -> bool:
    if isinstance(gold, bool) or isinstance(pred, bool):
        return type(pred) is type(gold) and pred == gold
    if isinstance(gold, float):
        return isinstance(pred, (int, float)) and abs(pred - gold) <= 1e-9 * abs(gold)
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
    return len(max_bipartite_matching(ok, len(gold))) == len(gold)


def _covers(call: Call, gold: Call, registry: ToolRegistry | None) -> bool:
    if "possible" in gold and isinstance(gold.get("function"), Mapping):  # a BFCL gold call
        return bfcl_check_call(call, gold["function"], gold["possible"])[0]
    if canonical_call(dict(call)) == canonical_call(dict(gold)):
        return True
    return ast_check(call, gold, registry)[0]


def covered_gold(
    made: Sequence[Call], gold: Sequence[Call], registry: ToolRegistry | None = None
) -> list[bool]:
    """For each gold call, whether a distinct made call covers it (module docstring): a
    maximum matching, so each made call covers at most one gold call and vice versa."""
    ok = [[_covers(m, g, registry) for g in gold] for m in made]
    matched = max_bipartite_matching(ok, len(gold))
    return [j in matched for j in range(len(gold))]


def _made_calls(previous_steps: Sequence[str]) -> list[dict[str, Any]]:
    return [c for step in previous_steps for c in parse_action(step).calls]


def _gold_calls(task: Any) -> list[dict[str, Any]]:
    answer = getattr(task, "answer", None)
    if task is None or not isinstance(answer, Mapping):
        raise ValueError(
            "tool-call scorers need StepContext.task with task.answer['calls'] "
            "(ProcessReward and ProgressReward pass env.unwrapped.task)"
        )
    return [dict(c) for c in answer.get("calls", [])]


def _pending(context: StepContext, registry: ToolRegistry | None) -> list[dict[str, Any]]:
    gold = _gold_calls(context.task)
    covered = covered_gold(_made_calls(context.previous_steps), gold, registry)
    return [g for g, done in zip(gold, covered, strict=True) if not done]


def step_gold_calls(
    context: StepContext, num_predicted: int = 1, registry: ToolRegistry | None = None
) -> list[dict[str, Any]]:
    """The step gold of a context (module docstring): the next ``max(1, num_predicted)`` gold
    calls that no call of ``context.previous_steps`` covers."""
    return _pending(context, registry)[: max(1, num_predicted)]


class ToolProgress:
    """Φ = the share of the gold calls the episode's valid calls have made (a progress measure).

    For :class:`~prm_gym.wrappers.ProgressReward`: ``progress(contexts)[i]`` is the fraction of
    the gold call multiset (``task.answer["calls"]``) covered, each gold call once, by the calls
    in ``previous_steps`` and ``action`` (covering = equal after
    :func:`~prm_gym.envs.tools.calls.canonical_call`, or a BFCL AST match with the tool types of
    ``registry``; module docstring). ProgressReward feeds it only the actions the env accepted,
    so only calls that ran count. The answer adds nothing (the outcome pays for it); a task
    without gold calls has Φ = 0. Repeating a call, duplicating the gold calls or calling other
    tools never raises Φ, so under ProgressReward they earn nothing.

    Args:
        registry: Tool types and defaults for the AST match (default: the built-in tools).

    Example:
        >>> from prm_gym.core import StepContext, Task
        >>> from prm_gym.envs.tools import format_call
        >>> a = {"name": "add_days", "parameters": {"date": "2025-01-01", "days": 3}}
        >>> b = {"name": "get_weather", "parameters": {"city": "Paris", "date": "2025-01-04"}}
        >>> task = Task("t", "q", {"calls": [a, b], "answer": 7})
        >>> steps = [format_call(a), format_call(a), format_call(b), "<answer>7</answer>"]
        >>> ctxs = [StepContext("q", tuple(steps[:i]), s, task=task) for i, s in enumerate(steps)]
        >>> ToolProgress().progress(ctxs).tolist()
        [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        self.registry = registry if registry is not None else _builtin_registry()

    def progress(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """Φ of each context's prefix (class docstring)."""
        out = []
        for context in contexts:
            gold = _gold_calls(context.task)
            if not gold:
                out.append(0.0)
                continue
            made = _made_calls((*context.previous_steps, context.action))
            out.append(sum(covered_gold(made, gold, self.registry)) / len(gold))
        return np.array(out, dtype=np.float64)


class ToolRLReward:
    """ToolRL's rule reward (format + correctness) as a batched scorer.

    Scores ``format + correctness`` ∈ [−3, 4] against the step gold (module docstring);
    ``score_components`` returns both terms. An action with a malformed block scores
    correctness −3 (parse failure). Which calls cover a gold call uses the tool types of
    ``registry`` (default: the built-in tools). The answer turn (no gold call pending) scores
    format 1 for a well-formed answer and correctness 0. Per-step: see the module docstring for
    the hazard of summing it over turns.

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

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        self.registry = registry if registry is not None else _builtin_registry()

    def score_components(self, contexts: Sequence[StepContext]) -> list[dict[str, float]]:
        rows = []
        for context in contexts:
            parsed = parse_action(context.action)
            gold = step_gold_calls(context, len(parsed.calls), self.registry)
            predicted = None if parsed.errors or parsed.num_blocks == 0 else parsed.calls
            expect: Literal["call", "answer"] = "call" if gold else "answer"
            rows.append(
                {
                    "format": toolrl_format(context.action, expect),
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
    types and required parameters come from ``registry`` (default: the built-in tools). A call
    that matches covers its gold call, so repeating it scores 0.

    **BFCL tasks** (from :func:`~prm_gym.envs.tools.bfcl.load_bfcl`): a step scores 1.0 only
    when every call of the episode up to and including it passes BFCL's verdict for the task's
    category (:func:`~prm_gym.envs.tools.bfcl.bfcl_verdict`: the right number of calls, each
    matching its own ground-truth entry). A parallel answer missing a call, or with an extra
    one, scores 0; so does a step without calls or with a malformed block.
    """

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        self.registry = registry if registry is not None else _builtin_registry()

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = []
        for context in contexts:
            parsed = parse_action(context.action)
            if parsed.errors or parsed.num_blocks == 0:
                out.append(0.0)
                continue
            if is_bfcl_task(context.task):
                info = context.task.answer["bfcl"]
                made = [*_made_calls(context.previous_steps), *parsed.calls]
                verdict = bfcl_verdict(
                    made, info["functions"], info["ground_truth"], info["category"]
                )
                out.append(float(verdict[0]))
                continue
            if parsed.answer is not None and not parsed.calls:
                out.append(float(not _pending(context, self.registry)))
                continue
            gold = step_gold_calls(context, len(parsed.calls), self.registry)
            out.append(float(ast_match(parsed.calls, gold, self.registry)))
        return np.array(out, dtype=np.float32)


class ToolEfficiency:
    """Penalises wasted calls (never positive, so it cannot be farmed).

    −``repeat_penalty`` for every call whose canonical form
    (:func:`~prm_gym.envs.tools.calls.canonical_call`) was made before in the episode or earlier
    in the same action more often than the gold calls hold it (once, for a call not in the
    gold), and −``excess_penalty`` for every call beyond the number of gold calls still pending;
    0 for an efficient step. Pending gold calls use the tool types of ``registry`` (default:
    the built-in tools).
    """

    def __init__(
        self,
        repeat_penalty: float = 1.0,
        excess_penalty: float = 0.5,
        registry: ToolRegistry | None = None,
    ) -> None:
        self.repeat_penalty = repeat_penalty
        self.excess_penalty = excess_penalty
        self.registry = registry if registry is not None else _builtin_registry()

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = []
        for context in contexts:
            calls = parse_action(context.action).calls
            if not calls:
                out.append(0.0)
                continue
            gold = _gold_calls(context.task) if context.task is not None else []
            allowed = Counter(canonical_call(c) for c in gold)
            seen = Counter(canonical_call(c) for c in _made_calls(context.previous_steps))
            repeats = 0
            for call in calls:
                key = canonical_call(call)
                repeats += seen[key] >= max(1, allowed[key])
                seen[key] += 1
            excess = 0
            if context.task is not None:
                excess = max(0, len(calls) - len(_pending(context, self.registry)))
            out.append(-self.repeat_penalty * repeats - self.excess_penalty * excess)
        return np.array(out, dtype=np.float32)
