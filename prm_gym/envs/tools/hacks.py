"""Scripted gold and hacking policies for prm/ToolUse-v0 (the reward-integrity kit, DESIGN §5a).

Policies are ``policy(observation, info, env) -> action`` (see :mod:`prm_gym.core.assets`);
each factory here makes a fresh one per episode. They read the gold from
``env.unwrapped.task.answer`` (``{"calls": [...], "answer": ...}``): they are probes of a reward
stack, not learners.

The hacks are the cheapest ways to farm a naive tool-use dense reward:

* ``spam_gold_call`` — the first gold call on five turns, then the gold answer (a set-based
  name score or a per-step reward pays every repeat);
* ``spam_gold_call_in_one_action`` — the first gold call ten times in one action, then the gold
  answer (ToolRL's multiset name score gives it 1/10);
* ``duplicate_gold_calls`` — every gold call twice in one action, then the gold answer;
* ``near_miss_repeat`` — the first gold call with one argument changed, on five turns, then the
  gold answer (never covers the gold call, so a per-step ToolRL score pays every turn);
* ``junk_every_tool`` — every tool of the registry called with type-correct junk arguments,
  then an answer guessed from the question;
* ``answer_every_turn`` — an ``<answer>`` guessed from the question on every turn (the first
  one ends the episode);
* ``answer_gold_without_calls`` — the gold answer at once, without a call (the upper bound of
  guessing: only the outcome pays).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from prm_gym.core.assets import Policy, PolicyFactory
from prm_gym.envs.tools.calls import format_call
from prm_gym.envs.tools.generator import format_value

__all__ = ["HACKS", "gold_policy", "junk_arguments"]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _gold(env: gym.Env[Any, Any]) -> Mapping[str, Any]:
    task = getattr(env.unwrapped, "task", None)
    answer = getattr(task, "answer", None)
    if not isinstance(answer, Mapping):
        raise ValueError("tool policies need env.unwrapped.task.answer = {'calls', 'answer'}")
    return answer


def _answer(value: Any) -> str:
    return f"<answer>{format_value(value)}</answer>"


def gold_policy() -> Policy:
    """Makes the gold calls (``task.answer["calls"]``) one per turn, then answers
    ``task.answer["answer"]``."""
    turn = 0

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> str:
        nonlocal turn
        gold = _gold(env)
        calls = list(gold.get("calls", []))
        turn += 1
        if turn <= len(calls):
            return format_call(dict(calls[turn - 1]))
        return _answer(gold["answer"])

    return act


def _scripted(actions_of: Callable[[gym.Env[Any, Any]], list[str]]) -> PolicyFactory:
    """Factory of a policy that plays ``actions_of(env)`` (computed at its first step) in order,
    repeating the last one if the episode goes on."""

    def factory() -> Policy:
        plan: list[str] = []
        turn = 0

        def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> str:
            nonlocal plan, turn
            if not plan:
                plan = actions_of(env)
            turn += 1
            return plan[min(turn, len(plan)) - 1]

        return act

    return factory


def _first_call(env: gym.Env[Any, Any]) -> dict[str, Any]:
    return dict(_gold(env)["calls"][0])


def _spam(env: gym.Env[Any, Any]) -> list[str]:
    return [format_call(_first_call(env))] * 5 + [_answer(_gold(env)["answer"])]


def _spam_one_action(env: gym.Env[Any, Any]) -> list[str]:
    return [format_call(_first_call(env)) * 10, _answer(_gold(env)["answer"])]


def _duplicate(env: gym.Env[Any, Any]) -> list[str]:
    calls = [format_call(dict(c)) * 2 for c in _gold(env)["calls"]]
    return [*calls, _answer(_gold(env)["answer"])]


def _perturbed(call: dict[str, Any]) -> dict[str, Any]:
    params = dict(call["parameters"])
    for key, value in sorted(params.items()):
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            params[key] = value + 1
            break
        if isinstance(value, str) and _NUMBER.search(value):
            params[key] = _NUMBER.sub(lambda m: str(int(float(m.group())) + 1), value, count=1)
            break
    return {"name": call["name"], "parameters": params}


def _near_miss(env: gym.Env[Any, Any]) -> list[str]:
    return [format_call(_perturbed(_first_call(env)))] * 5 + [_answer(_gold(env)["answer"])]


def junk_arguments(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Type-correct junk arguments for a tool's JSON-schema ``parameters`` (required ones)."""
    junk: dict[str, Any] = {}
    properties = schema.get("properties", {})
    for key in schema.get("required", list(properties)):
        spec = properties.get(key, {})
        kind = spec.get("type")
        if "enum" in spec:
            junk[key] = spec["enum"][0]
        elif kind == "integer":
            junk[key] = 1
        elif kind == "number":
            junk[key] = 1.5
        elif kind == "boolean":
            junk[key] = True
        elif kind == "array":
            junk[key] = []
        elif kind == "object":
            junk[key] = {}
        else:
            junk[key] = "2025-01-01" if "date" in key or key in ("start", "end") else "x"
    return junk


def _guess(env: gym.Env[Any, Any]) -> str:
    prompt = str(getattr(getattr(env.unwrapped, "task", None), "prompt", ""))
    numbers = _NUMBER.findall(prompt)
    return f"<answer>{numbers[-1] if numbers else 'unknown'}</answer>"


def _junk_every_tool(env: gym.Env[Any, Any]) -> list[str]:
    registry = env.unwrapped.tools  # type: ignore[attr-defined]
    calls = []
    for schema in registry.schemas():
        function = schema["function"]
        args = junk_arguments(function.get("parameters", {}))
        calls.append(format_call({"name": function["name"], "parameters": args}))
    return ["".join(calls), _guess(env)]


HACKS: dict[str, PolicyFactory] = {
    "spam_gold_call": _scripted(_spam),
    "spam_gold_call_in_one_action": _scripted(_spam_one_action),
    "duplicate_gold_calls": _scripted(_duplicate),
    "near_miss_repeat": _scripted(_near_miss),
    "junk_every_tool": _scripted(_junk_every_tool),
    "answer_every_turn": _scripted(lambda env: [_guess(env)]),
    "answer_gold_without_calls": _scripted(lambda env: [_answer(_gold(env)["answer"])]),
}
"""Name -> factory of each hacking policy (module docstring)."""
