"""prm/ToolUse-v0: answer questions by chaining calls to deterministic tools."""

from __future__ import annotations

import json
import re
import zlib
from functools import partial
from typing import Any

import numpy as np

from prm_gym.core.task import ProceduralSource, Task
from prm_gym.core.text_env import ActResult, TextEnv
from prm_gym.envs.tools.bfcl import BFCLToolRegistry, bfcl_verdict, is_bfcl_task
from prm_gym.envs.tools.builtin import default_registry
from prm_gym.envs.tools.calls import (
    answers_match,
    canonical_call,
    format_call,
    parse_action,
)
from prm_gym.envs.tools.generator import LEVELS, TEMPLATES, ToolUseConfig, format_value, generate
from prm_gym.envs.tools.loaders import parse_tool_record
from prm_gym.envs.tools.registry import ToolCallError, ToolContext, ToolRegistry

__all__ = ["ToolUseEnv"]

_INSTRUCTIONS = (
    "Call tools by writing one or more blocks "
    '<tool_call>{"name": "<tool name>", "parameters": {...}}</tool_call>; they run in order and '
    "their results come back as JSON. When you know the answer, write <answer>...</answer>: "
    "that ends the episode."
)
_FORMAT_HELP = (
    'no <tool_call>{"name": ..., "parameters": {...}}</tool_call> or <answer>...</answer> block'
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _leaves(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, str(k))]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v, key)]
    return [(key, value)]


def _primary_value(item: Any) -> str | None:
    leaves = [(k, v) for k, v in _leaves(item) if k != "id" and not k.endswith("_id")]
    for _, v in leaves:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return format_value(v)
    strings = [v for _, v in leaves if isinstance(v, str)]
    for v in strings:
        if _DATE.match(v):
            return v
    for v in strings:
        numbers = _NUMBER.findall(v)
        if numbers:
            return numbers[0]
    return strings[0] if strings else None


class ToolUseEnv(TextEnv):
    """Answer a question by calling tools whose results feed the next call.

    ## Description
    Each episode is one question that needs 1–4 chained tool calls: by default a generated task
    (16 templates over four levels; level = number of chained calls, with ``level - 1``
    irrelevant distractor sentences in the question), or a record from a JSONL file (schema in
    :mod:`prm_gym.envs.tools.loaders`). The tools are deterministic typed Python functions in a
    :class:`~prm_gym.envs.tools.registry.ToolRegistry`: ``calculator``, ``convert_units``,
    ``convert_currency`` (fixed table), ``add_days``, ``days_between``, ``search_knowledge``
    (50 shipped facts), ``get_weather`` and ``find_flights`` (lookup tables), and an
    episode-local calendar (``create_event``, ``list_events``, ``delete_event``) that starts
    empty at every reset. Pass ``tools=`` to use your own registry.

    BFCL's single-turn questions (``tasks=prm_gym.envs.tools.load_bfcl(data_dir)``) bring their
    own function docs as the episode's tools; a call is recorded and answered ``"recorded"``, the
    first action with calls ends the episode and its outcome is BFCL's AST verdict on those calls
    (``info["bfcl_error"]`` says why it failed; :mod:`prm_gym.envs.tools.bfcl`).

    ## Action Space
    ``prm_gym.spaces.Text(max_action_length)``. An action holds one or more
    ``<tool_call>{"name": ..., "parameters": {...}}</tool_call>`` blocks, executed in order, or
    one ``<answer>...</answer>`` block. An action with neither, with both, with malformed JSON, an
    unknown tool, missing, unknown or wrongly typed arguments, or a call whose tool raises is
    invalid: ``info["action_valid"] = False`` and ``info["error"]`` say why, the observation
    carries the same error text, the well-formed calls of the action still run, and the episode
    goes on. A non-``str`` action raises ``TypeError``.

    ## Observation Space
    ``prm_gym.spaces.Text``. ``reset`` returns the tools' JSON schemas (OpenAI tools format), the
    instructions and the question. A tool-call step returns a JSON list with one object per call,
    ``{"name", "result"}`` or ``{"name", "error"}``; an answer returns whether it was correct.

    ## Rewards
    The native reward is the outcome only: 0 on every step, and on the final step 1.0 when the
    answer is right (numbers within 0.1 % or 0.011, dates exactly, other strings after
    normalisation) and 0.0 otherwise (or on truncation).

    Recommended dense stack: ``prm_gym.make_dense("prm/ToolUse-v0", coef=0.5)`` =
    ``ProgressReward(env, ToolProgress(env.tools), coef)`` (Φ = the share of the gold call
    multiset made by accepted calls, each gold call once, equal after BFCL-style normalisation;
    the answer adds nothing beyond the outcome) plus
    ``ProcessReward(…, ToolEfficiency(), 0.25 · coef)`` (−1 per repeated call, −0.5 per call
    beyond the pending gold calls). Repeating, duplicating or spamming calls earns nothing; the
    gold calls and the right answer return ``1 + coef`` and every hack of the integrity kit
    (``prm_gym.testing.check_reward_integrity``) less. Per-step scorers for ``ProcessReward``:
    ``ToolRLReward`` (ToolRL format + correctness, 2025, multiset name score, 0 correctness on
    the answer turn, as upstream), ``ToolCallASTMatch`` (BFCL AST match against the next gold
    calls); summed over turns, ``ToolRLReward`` pays a repeated near-miss call every turn.

    ## Starting State
    A task drawn from ``tasks`` with the env's seeded generator: ``reset(seed=s)`` fixes it;
    ``options={"task_seed": n}`` builds procedural task ``n``; ``{"task_index": i}`` or
    ``{"task_id": ...}`` pick from a dataset; ``{"task": Task}`` uses the given task. Episode
    state (calendar, calls made) starts empty and is part of ``get_state``/``set_state``.

    ## Episode End
    Terminates on an ``<answer>`` action; truncates after ``max_steps`` actions (outcome 0).

    ## Info
    ``task_id``, ``action_valid``, ``error`` (when invalid), ``outcome`` (final step),
    ``calls`` (the calls parsed from the action), ``answer`` and ``correct`` (answer steps),
    ``candidate_actions`` (every step and at reset: the next gold call among distractor calls and
    answers taken from the last tool results, shuffled deterministically, for
    :class:`~prm_gym.wrappers.ChoiceActions`; whole responses for BFCL tasks), ``correct`` and
    ``bfcl_error`` (BFCL tasks: the verdict and why it failed).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``tasks`` | ``None`` | generated (``None``), JSONL path, records, ``Task`` list, |
    | | | ``datasets.Dataset``, ``TaskSource`` or ``seed -> Task`` callable |
    | ``tools`` | built-ins | a :class:`ToolRegistry` (generated tasks need the built-ins) |
    | ``levels`` | ``(1, 2, 3, 4)`` | levels (chained calls) of generated tasks |
    | ``templates`` | all | task templates (``prm_gym.envs.tools.TEMPLATES``) |
    | ``distractors`` | ``None`` | distractor sentences per question (``None``: level − 1) |
    | ``max_steps`` | ``8`` | actions before truncation |
    | ``num_candidates`` | ``6`` | most candidate actions listed in ``info`` |
    | ``max_action_length`` | ``8192`` | longest valid action, in characters |
    | ``render_mode`` | ``None`` | ``"ansi"`` or ``"human"`` |

    ## Version History
    * v0: initial release.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/ToolUse-v0", levels=(2,))
        >>> obs, info = env.reset(seed=0)
        >>> gold = env.unwrapped.task.answer
        >>> obs, reward, terminated, truncated, info = env.step(
        ...     '<tool_call>{"name": "no_such_tool", "parameters": {}}</tool_call>'
        ... )
        >>> info["action_valid"], "unknown tool" in obs
        (False, True)
        >>> from prm_gym.envs.tools import format_call
        >>> for call in gold["calls"]:
        ...     obs, reward, terminated, truncated, info = env.step(format_call(call))
        >>> answer = f"<answer>{gold['answer']}</answer>"
        >>> obs, reward, terminated, truncated, info = env.step(answer)
        >>> reward, terminated, info["outcome"]
        (1.0, True, 1.0)
    """

    def __init__(
        self,
        tasks: Any = None,
        *,
        tools: ToolRegistry | None = None,
        levels: tuple[int, ...] | None = None,
        templates: tuple[str, ...] | None = None,
        distractors: int | None = None,
        max_steps: int = 8,
        num_candidates: int = 6,
        max_action_length: int = 8192,
        render_mode: str | None = None,
    ) -> None:
        config = ToolUseConfig(
            levels=tuple(levels) if levels else LEVELS,
            templates=tuple(templates) if templates else None,
            distractors=distractors,
        )
        super().__init__(
            tasks,
            default_tasks=lambda: ProceduralSource(partial(generate, config)),
            parse_record=parse_tool_record,
            max_steps=max_steps,
            max_action_length=max_action_length,
            render_mode=render_mode,
        )
        if num_candidates < 2:
            raise ValueError("num_candidates must be at least 2")
        self.config = config
        self.tools = tools if tools is not None else default_registry()
        self.num_candidates = num_candidates
        self._context = ToolContext()
        self._made: list[Any] = []  # canonical forms of the calls that ran
        self._last_results: list[Any] = []
        self._bfcl_tools: tuple[Task, ToolRegistry] | None = None

    def _task_tools(self) -> ToolRegistry:
        """The tools of the current episode: a BFCL task's own functions, else ``tools``."""
        if self.task is None or not is_bfcl_task(self.task):
            return self.tools
        if self._bfcl_tools is None or self._bfcl_tools[0] is not self.task:
            functions = self.task.answer["bfcl"]["functions"]
            self._bfcl_tools = (self.task, BFCLToolRegistry(functions))
        return self._bfcl_tools[1]

    # -- episode --------------------------------------------------------------------------
    def _begin(self, task: Task) -> str:
        self._context = ToolContext()  # fresh calendar every episode
        self._made = []
        self._last_results = []
        tools = self._task_tools()
        schemas = "\n".join(json.dumps(s, ensure_ascii=False) for s in tools.schemas())
        return f"Tools:\n{schemas}\n\n{_INSTRUCTIONS}\n\nQuestion: {task.prompt}"

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        observation, info = super().reset(seed=seed, options=options)
        info["candidate_actions"] = self.candidate_actions()
        return observation, info

    def step(self, action: str) -> tuple[str, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        info["candidate_actions"] = self.candidate_actions()
        return observation, reward, terminated, truncated, info

    def _act(self, action: str) -> ActResult:
        assert self.task is not None
        parsed = parse_action(action)
        info: dict[str, Any] = {"calls": parsed.calls}
        if parsed.num_blocks == 0:
            return ActResult(f"Invalid action: {_FORMAT_HELP}.", action_valid=False,
                             error=_FORMAT_HELP, info=info)  # fmt: skip
        if parsed.answer is not None and (parsed.calls or parsed.errors):
            error = "write either tool calls or an <answer>, not both in one action"
            return ActResult(f"Invalid action: {error}.", action_valid=False, error=error,
                             info=info)  # fmt: skip
        bfcl = is_bfcl_task(self.task)
        if parsed.answer is not None and bfcl:
            info.update(answer=parsed.answer, correct=False, bfcl_error="no function call")
            return ActResult("Answer submitted without a function call.", terminated=True,
                             outcome=0.0, info=info)  # fmt: skip
        if parsed.answer is not None:
            gold = self.task.answer["answer"]
            correct = bool(parsed.answer.strip()) and answers_match(parsed.answer, gold)
            info.update(answer=parsed.answer, correct=correct)
            text = "correct" if correct else "not correct"
            return ActResult(f"Answer submitted: it is {text}.", terminated=True,
                             outcome=float(correct), info=info)  # fmt: skip
        entries: list[dict[str, Any]] = [{"error": e} for e in parsed.errors]
        errors = list(parsed.errors)
        results = []
        tools = self._task_tools()
        for call in parsed.calls:
            try:
                result = tools.call(call["name"], call["parameters"], self._context)
            except ToolCallError as exc:
                entries.append({"name": call["name"], "error": str(exc)})
                errors.append(str(exc))
                continue
            self._made.append(canonical_call(call))
            results.append(result)
            entries.append({"name": call["name"], "result": result})
        if results:
            self._last_results = results
        observation = json.dumps(entries, ensure_ascii=False)
        if bfcl:  # BFCL judges one response: its calls end the episode (module bfcl)
            bfcl_info = self.task.answer["bfcl"]
            passed, reason = bfcl_verdict(
                parsed.calls, bfcl_info["functions"], bfcl_info["ground_truth"],
                bfcl_info["category"],
            )  # fmt: skip
            if parsed.errors:
                passed, reason = False, "; ".join(parsed.errors)
            info.update(correct=passed, bfcl_error=reason)
            return ActResult(observation, action_valid=not errors, error="; ".join(errors) or None,
                             terminated=True, outcome=float(passed), info=info)  # fmt: skip
        if errors:
            return ActResult(observation, action_valid=False, error="; ".join(errors), info=info)
        return ActResult(observation, info=info)

    # -- candidate actions for ChoiceActions ----------------------------------------------
    def candidate_actions(self) -> list[str]:
        """The actions :class:`~prm_gym.wrappers.ChoiceActions` offers now, shuffled
        deterministically: the next gold call not yet made, distractor calls (the gold call with
        one argument changed; another task's call), and ``<answer>`` blocks with the primary value
        of each item of the last tool results (none before the first successful call). For a
        BFCL task the gold and distractor candidates are whole responses (every gold call, the
        first one changed in the distractor)."""
        if self.task is None or self._done:
            return []
        rng = np.random.default_rng([zlib.crc32(self.task.id.encode()), self.num_steps, 17])
        gold_calls = list(self.task.answer.get("calls", []))
        made = set(self._made)
        pending = [c for c in gold_calls if canonical_call(c) not in made]
        calls: list[str] = []
        target = pending[0] if pending else (gold_calls[-1] if gold_calls else None)
        # a BFCL task is judged on one response: offer whole responses (all gold calls)
        rest = "".join(format_call(c) for c in pending[1:]) if is_bfcl_task(self.task) else ""
        if pending:
            calls.append(format_call(pending[0]) + rest)
        if target is not None:
            calls.append(format_call(self._perturb(target, rng)) + rest)
        other = TEMPLATES[sorted(TEMPLATES)[int(rng.integers(0, len(TEMPLATES)))]][1](rng)[1][0]
        if other["name"] in self._task_tools():  # a custom registry may lack the built-in tools
            calls.append(format_call(other))
        answers = [f"<answer>{v}</answer>" for v in self._answer_values()]
        out = list(dict.fromkeys(calls[:3] + answers[:3]))[: self.num_candidates]
        order = rng.permutation(len(out))
        return [out[int(i)] for i in order]

    def _answer_values(self) -> list[str]:
        """The primary value of each item of the last tool results (at most three): its first
        number, else its first date, else the first number in its text; ids are skipped."""
        values: list[str] = []
        for result in self._last_results:
            for item in (result if isinstance(result, list) else [result])[:3]:
                value = _primary_value(item)
                if value is not None:
                    values.append(value)
        return list(dict.fromkeys(values))[:3]

    def _perturb(self, call: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        params = dict(call["parameters"])
        tools = self._task_tools()
        if not params:
            return {"name": call["name"], "parameters": params}
        key = sorted(params)[int(rng.integers(0, len(params)))]
        value = params[key]
        schema = tools[call["name"]].parameters.get(key, {}) if call["name"] in tools else {}
        if isinstance(value, bool):
            params[key] = not value
        elif isinstance(value, (int, float)):
            params[key] = value * 2 if value else 1
        elif "enum" in schema:
            others = [v for v in schema["enum"] if v != value]
            params[key] = others[int(rng.integers(0, len(others)))] if others else value
        elif isinstance(value, str) and _DATE.match(value):
            params[key] = value[:-2] + f"{(int(value[-2:]) % 28) + 1:02d}"
        elif isinstance(value, str):
            numbers = _NUMBER.findall(value)
            params[key] = (
                value.replace(numbers[0], str(int(float(numbers[0])) + 1), 1)
                if numbers
                else value + " history"
            )
        return {"name": call["name"], "parameters": params}

    # -- snapshots ------------------------------------------------------------------------
    def _extra_state(self) -> Any:
        return {
            "context": self._context.store,
            "made": list(self._made),
            "last_results": list(self._last_results),
        }

    def _restore_extra_state(self, state: Any) -> None:
        self._context = ToolContext(state["context"])
        self._made = list(state["made"])
        self._last_results = list(state["last_results"])
