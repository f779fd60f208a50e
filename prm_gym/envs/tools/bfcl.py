"""BFCL (Berkeley Function Calling Leaderboard) data and its AST verdict for ToolUse-v0.

Patil et al., "The Berkeley Function Calling Leaderboard (BFCL): From Tool Use to Agentic
Evaluation of Large Language Models", 2025; the ``bfcl-eval`` package on PyPI ships the data
(``bfcl_eval/data``) and the official checker (``bfcl_eval/eval_checker/ast_eval/ast_checker.py``).
This module reads the official files and re-implements that checker's verdict (own code).

**Files.** :func:`load_bfcl` reads the official layout: one JSON object per line in
``BFCL_v4_<category>.json`` (``BFCL_v3_<category>.json`` for the older release; v4 names the
simple category ``simple_python``) with ``id``, ``question`` (a list of turns, each a list of
``{"role", "content"}`` messages) and ``function`` (function docs: ``name``, ``description``,
``parameters`` = ``{"type": "dict", "properties": {...}, "required": [...]}``), and the possible
answers in ``possible_answer/<same file name>``, one ``{"id", "ground_truth"}`` per line, where
``ground_truth`` is a list of ``{function_name: {parameter: [allowed values]}}``. Every file may
also be gzipped (``.json.gz``) or named ``.jsonl``.

**Categories** (the single-turn Python AST categories; ``live_*`` are the same checks on
user-contributed questions):

* ``simple`` — one function doc, exactly one call expected, judged against the first doc.
* ``multiple`` — several docs, exactly one call expected (the ground truth names the function).
* ``parallel`` — one doc, several calls of it expected in one response, in any order.
* ``parallel_multiple`` — several docs, several calls expected, in any order.

Java/JavaScript categories (BFCL converts string values to those languages' types) and the
``irrelevance``/``relevance`` categories are not loaded. The ``multi_turn_*`` categories are not
loaded either: their verdict replays the calls on BFCL's stateful Python simulators (file system,
trading, travel APIs) and compares the resulting state with the gold run, which needs BFCL's
own executable classes, not data.

**Verdict** (:func:`bfcl_check_call`, :func:`bfcl_verdict`, :class:`BFCLASTChecker`). A call
matches one ground-truth entry when:

* its name equals the entry's function name;
* every parameter the function doc lists as ``required`` is present;
* every parameter it passes is both in the doc and in the ground-truth entry (a parameter the
  doc has but the ground truth omits is *unexpected*);
* every value has the doc's type — ``string`` str, ``integer`` int (a bool is not an int),
  ``float`` float (an int is accepted and compared as a float), ``boolean`` bool, ``array`` and
  ``tuple`` list, ``dict`` dict, ``any`` str (JSON-schema ``number``/``object`` are read as
  ``float``/``dict``) — and, for ``array``/``tuple``, each element has the doc's ``items`` type,
  checked one level deep; a value whose type equals that of the first allowed value is
  accepted instead (BFCL's "variable" case) and is then compared as is;
* every value is one of the allowed values: strings after BFCL's normalisation
  (:func:`bfcl_normalize`: spaces and ``,./-_*^`` removed, lower case, ``'`` read as ``"``);
  lists element-wise with string elements normalised (nested lists compared exactly); dicts
  key by key against an allowed dict (keys exact, string values normalised, missing keys
  allowed only where ``""`` is allowed); lists of dicts index by index; numbers and booleans by
  Python equality — **exactly**: BFCL has no float tolerance, so ``0.1`` does not match
  ``0.1000001``;
* every ground-truth parameter it omits allows ``""`` (``""`` marks "may be omitted"; a
  normalised string or an empty list equal to ``""`` also matches it, as in BFCL).

The response (all calls) passes when: ``simple`` — exactly one call, matching the only entry;
``multiple`` — exactly as many calls as entries (one), the first matching the first entry;
``parallel*`` — as many calls as entries and a one-to-one matching of calls to entries in any
order. BFCL assigns each entry, in order, the first unused call that matches it (a greedy
match); we take a maximum matching instead, which accepts the same responses except where the
greedy choice strands a later entry (a response BFCL rejects although a valid assignment exists).

**In the env.** Each BFCL task carries its function docs; ``ToolUseEnv`` shows them as the
episode's tools (JSON schema: ``float`` → ``number``, ``dict`` → ``object``, ``tuple`` →
``array``, ``any`` → untyped). The functions have no implementation: a call to a listed function
is recorded and answered ``{"name": ..., "result": "recorded"}`` (unknown names and malformed
blocks are reported as errors). As BFCL judges one response, the first action holding a
``<tool_call>`` block ends the episode, and its outcome is 1.0 when its calls pass the verdict
above (0.0 when a block is malformed); an ``<answer>`` without calls ends it with outcome 0.0.
The gold calls of ``task.answer["calls"]`` (the first allowed value of each parameter, optional
parameters left out when ``""`` is allowed) also carry their allowed values and function doc,
so :class:`~prm_gym.envs.tools.rewards.ToolProgress` and the other scorers use the verdict's
per-call rule, and :class:`~prm_gym.envs.tools.rewards.ToolCallASTMatch` scores a BFCL task's
step by the whole verdict over the episode's calls: an incomplete parallel answer scores 0.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prm_gym.core.task import Task
from prm_gym.envs.tools.registry import Tool, ToolCallError, ToolRegistry

__all__ = [
    "BFCL_CATEGORIES",
    "BFCLASTChecker",
    "BFCLToolRegistry",
    "bfcl_check_call",
    "bfcl_json_schema",
    "bfcl_normalize",
    "bfcl_verdict",
    "is_bfcl_task",
    "load_bfcl",
]

BFCL_CATEGORIES = (
    "simple",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
_STRIP = re.compile(r"[ ,./\-_*^]")
_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": str,
}
_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "tuple": "array",
    "dict": "object",
    "object": "object",
}

Call = Mapping[str, Any]


# -- the verdict ----------------------------------------------------------------------------
def bfcl_normalize(text: str) -> str:
    """BFCL's string normalisation: spaces and ``,./-_*^`` removed, lower case, ``'`` → ``"``.

    Example:
        >>> bfcl_normalize("April 1, 2024") == bfcl_normalize("april 1,2024")
        True
        >>> bfcl_normalize("O'Brien") == bfcl_normalize('O"Brien')
        True
    """
    return _STRIP.sub("", text).lower().replace("'", '"')


def _norm_items(values: Any) -> list[Any]:
    if not isinstance(values, (list, tuple, str)):
        return []
    return [bfcl_normalize(v) if type(v) is str else v for v in values]


def _allows_empty(values: Any) -> bool:
    return isinstance(values, (list, tuple, str)) and "" in values


def _first_type(allowed: Any) -> type | None:
    """The type of the first allowed value that is not ``""`` (None when there is none)."""
    for value in allowed if isinstance(allowed, (list, str)) else []:
        if value != "":
            return type(value)
    return None


def _type_ok(
    value: Any, expected: type, nested: type | None, allowed: list[Any]
) -> tuple[bool, bool]:
    """(type accepted, compare as a variable) for one value (module docstring)."""
    first = _first_type(allowed)
    variable = first is not None and first is not expected
    if type(value) is expected:
        if nested is None:
            return True, variable
        items: list[Any] = list(value) if isinstance(value, (list, tuple)) else []
        for option in allowed:
            if not isinstance(option, list):
                return True, variable  # BFCL checks element types only against list options
            option_type = _first_type(option)
            if all(type(v) is nested or type(v) is option_type for v in items):
                return True, variable
        return False, variable
    if first is not None and type(value) is first:
        return True, True
    return False, variable


def _dict_ok(value: Mapping[str, Any], allowed: list[Any]) -> bool:
    for option in allowed:
        if not isinstance(option, Mapping):
            continue
        keys_ok = all(
            key in option
            and (bfcl_normalize(v) if type(v) is str else v) in _norm_items(option[key])
            for key, v in value.items()
        )
        if keys_ok and all(k in value or _allows_empty(vs) for k, vs in option.items()):
            return True
    return False


def _list_of_dicts_ok(value: list[Any], allowed: list[Any]) -> bool:
    for option in allowed:
        if not isinstance(option, (list, str)) or len(option) != len(value):
            continue
        if all(
            isinstance(v, Mapping) and _dict_ok(v, [o]) for v, o in zip(value, option, strict=True)
        ):
            return True
    return False


def _list_ok(value: list[Any], allowed: list[Any]) -> bool:
    normalised = _norm_items(value)
    return any(
        isinstance(option, (list, str)) and normalised == _norm_items(option) for option in allowed
    )


def bfcl_check_call(
    call: Call, function: Mapping[str, Any], possible: Mapping[str, Sequence[Any]]
) -> tuple[bool, str]:
    """Whether one call matches one ground-truth entry by BFCL's rules, and why not.

    Args:
        call: ``{"name": str, "parameters": {...}}``.
        function: The BFCL function doc of the entry's function.
        possible: The entry's allowed values, ``{parameter: [allowed values]}`` (``""`` = may
            be omitted).

    Example:
        >>> doc = {"name": "area", "parameters": {"type": "dict", "required": ["base"],
        ...        "properties": {"base": {"type": "float"}, "unit": {"type": "string"}}}}
        >>> bfcl_check_call({"name": "area", "parameters": {"base": 3}}, doc,
        ...                 {"base": [3.0], "unit": ["cm", ""]})
        (True, '')
        >>> bfcl_check_call({"name": "area", "parameters": {"base": 3.0000001}}, doc,
        ...                 {"base": [3.0], "unit": ["cm", ""]})[0]
        False
    """
    name = function.get("name")
    if call.get("name") != name:
        return False, f"wrong function: {call.get('name')!r} instead of {name!r}"
    params = call.get("parameters", {})
    if not isinstance(params, Mapping):
        return False, "parameters must be an object"
    schema = function.get("parameters", {}) or {}
    properties = schema.get("properties", {}) or {}
    for key in schema.get("required", []) or []:
        if key not in params:
            return False, f"missing required parameter {key!r}"
    for key, value in params.items():
        if key not in properties or key not in possible:
            return False, f"unexpected parameter {key!r}"
        allowed = list(possible[key])
        spec = properties[key]
        kind = spec.get("type")
        expected = _TYPES.get(kind) if isinstance(kind, str) else None
        if expected is None:
            return False, f"parameter {key!r}: unsupported type {kind!r} in the function doc"
        nested = None
        if kind in ("array", "tuple"):
            items = spec.get("items", {})
            item_kind = items.get("type") if isinstance(items, Mapping) else None
            nested = _TYPES.get(item_kind) if isinstance(item_kind, str) else None
        if kind in ("float", "number") and type(value) is int:
            value = float(value)
        type_ok, variable = _type_ok(value, expected, nested, allowed)
        if not type_ok:
            return False, f"parameter {key!r}: {value!r} is not of type {kind}"
        if not variable:
            if expected is dict:
                ok = _dict_ok(value, allowed)
            elif expected is list and nested is dict:
                ok = _list_of_dicts_ok(value, allowed)
            elif expected is str:
                ok = bfcl_normalize(value) in [bfcl_normalize(a) for a in allowed if type(a) is str]
            elif expected is list:
                ok = _list_ok(value, allowed)
            else:
                ok = value in allowed
        else:
            ok = value in allowed
        if not ok:
            return False, f"parameter {key!r}: {value!r} is not one of {allowed!r}"
    for key, omissible in possible.items():
        if key not in params and "" not in omissible:
            return (
                False,
                f"missing parameter {key!r} (the possible answers do not allow omitting it)",
            )
    return True, ""


def _find_doc(functions: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((f for f in functions if f.get("name") == name), None)


def _entry(entry: Mapping[str, Any]) -> tuple[str, Mapping[str, Sequence[Any]]]:
    ((name, possible),) = entry.items()
    return str(name), possible


def max_bipartite_matching(ok: list[list[bool]], num_right: int) -> dict[int, int]:
    """Kuhn's maximum bipartite matching of rows to columns: column -> row."""
    match_of: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in range(num_right):
            if ok[i][j] and j not in seen:
                seen.add(j)
                if j not in match_of or augment(match_of[j], seen):
                    match_of[j] = i
                    return True
        return False

    for i in range(len(ok)):
        augment(i, set())
    return match_of


def _greedy_matching(ok: list[list[bool]]) -> dict[int, int]:
    """BFCL's assignment: each column in order takes the first unused row that matches it."""
    match_of: dict[int, int] = {}
    for j in range(len(ok[0]) if ok else 0):
        row = next((i for i in range(len(ok)) if ok[i][j] and i not in match_of.values()), None)
        if row is None:
            break
        match_of[j] = row
    return match_of


def bfcl_verdict(
    calls: Sequence[Call],
    functions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]],
    category: str,
    *,
    greedy: bool = False,
) -> tuple[bool, str]:
    """BFCL's AST verdict on a whole response (module docstring), and why it fails.

    ``category`` picks the rule as BFCL does: a name containing ``parallel`` is matched order-free,
    else one containing ``multiple`` as ``multiple``, else as ``simple``. Parallel calls are
    matched by a maximum matching; ``greedy=True`` reproduces BFCL's greedy assignment exactly
    (each entry, in order, takes the first unused call that matches it).

    Example:
        >>> doc = {"name": "quote", "parameters": {"type": "dict", "required": ["symbol"],
        ...        "properties": {"symbol": {"type": "string"}}}}
        >>> truth = [{"quote": {"symbol": ["AA", "IBM"]}}, {"quote": {"symbol": ["AA"]}}]
        >>> calls = [{"name": "quote", "parameters": {"symbol": s}} for s in ("AA", "IBM")]
        >>> bfcl_verdict(calls, [doc], truth, "parallel")[0]
        True
        >>> bfcl_verdict(calls, [doc], truth, "parallel", greedy=True)[0]  # entry 0 took "AA"
        False
    """
    if "parallel" in category:
        if len(calls) != len(ground_truth):
            return False, f"wrong number of calls: {len(calls)} instead of {len(ground_truth)}"
        reasons: list[str] = []
        ok = [[False] * len(ground_truth) for _ in calls]
        for j, entry in enumerate(ground_truth):
            name, possible = _entry(entry)
            doc = _find_doc(functions, name)
            for i, call in enumerate(calls):
                if doc is None:
                    reasons.append(f"no function doc for {name!r}")
                    continue
                ok[i][j], reason = bfcl_check_call(call, doc, possible)
                if reason:
                    reasons.append(f"call {i} vs entry {j}: {reason}")
        matched = _greedy_matching(ok) if greedy else max_bipartite_matching(ok, len(ground_truth))
        missing = [j for j in range(len(ground_truth)) if j not in matched]
        if missing:
            hint = "; ".join(r for r in reasons if f"entry {missing[0]}:" in r)
            return False, f"no call matches entry {missing[0]} ({hint})"
        return True, ""
    expected = len(ground_truth) if "multiple" in category else 1
    if len(calls) != expected:
        return False, f"wrong number of calls: {len(calls)} instead of {expected}"
    if not ground_truth:
        return False, "the task has no ground truth"
    name, possible = _entry(ground_truth[0])
    doc = _find_doc(functions, name) if "multiple" in category else functions[0]
    if doc is None:
        return False, f"no function doc for {name!r}"
    return bfcl_check_call(calls[0], doc, possible)


def is_bfcl_task(task: Any) -> bool:
    """Whether ``task`` came from :func:`load_bfcl` (its answer carries ``"bfcl"``)."""
    answer = getattr(task, "answer", None)
    return isinstance(answer, Mapping) and isinstance(answer.get("bfcl"), Mapping)


class BFCLASTChecker:
    """BFCL's AST verdict for a task from :func:`load_bfcl` (module docstring).

    Example:
        >>> task = load_bfcl("tests/data/bfcl", categories=("parallel",))[0]
        >>> checker = BFCLASTChecker()
        >>> gold = [dict(c) for c in task.answer["calls"]]
        >>> checker(task, gold)
        (True, '')
        >>> checker(task, gold[:-1])[0]  # a parallel answer missing a call
        False
    """

    def __call__(self, task: Any, calls: Sequence[Call]) -> tuple[bool, str]:
        if not is_bfcl_task(task):
            raise ValueError("BFCLASTChecker needs a task from load_bfcl (task.answer['bfcl'])")
        info = task.answer["bfcl"]
        return bfcl_verdict(calls, info["functions"], info["ground_truth"], info["category"])


# -- tools ----------------------------------------------------------------------------------
def bfcl_json_schema(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A BFCL parameter doc as JSON schema (``float`` → ``number``, ``dict`` → ``object``,
    ``tuple`` → ``array``, ``any`` → untyped), recursively through ``items``/``properties``."""
    out: dict[str, Any] = {}
    kind = spec.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES:
        out["type"] = _JSON_TYPES[kind]
    for key, value in spec.items():
        if key == "type":
            continue
        if key == "items" and isinstance(value, Mapping):
            out[key] = bfcl_json_schema(value)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {
                k: bfcl_json_schema(v) if isinstance(v, Mapping) else v for k, v in value.items()
            }
        else:
            out[key] = value
    return out


def _acknowledge(**_: Any) -> str:
    return "recorded"


class BFCLToolRegistry(ToolRegistry):
    """The function docs of one BFCL task as tools without implementation.

    :meth:`check` only requires a listed name and a parameters object (BFCL's verdict judges
    the rest at the end), and a call returns ``"recorded"``.
    """

    def __init__(self, functions: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        for doc in functions:
            name = str(doc.get("name"))
            if name in self:
                continue  # BFCL judges against the first doc of a name
            parameters = bfcl_json_schema(doc.get("parameters", {}) or {})
            parameters.setdefault("properties", {})
            parameters.setdefault("required", [])
            schema = {
                "type": "function",
                "function": {
                    "name": name,
                    "description": str(doc.get("description", "")),
                    "parameters": parameters,
                },
            }
            self._tools[name] = Tool(name=name, fn=_acknowledge, schema=schema)

    def check(self, name: Any, arguments: Any) -> Tool:
        if not isinstance(name, str) or name not in self:
            raise ToolCallError(f"unknown function {name!r}; available: {', '.join(self.names)}")
        if not isinstance(arguments, dict):
            raise ToolCallError(f"{name}: 'parameters' must be a JSON object")
        return self[name]


# -- loading --------------------------------------------------------------------------------
def _read_lines(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read BFCL file {path}: {exc}") from exc
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict) or "id" not in record:
            raise ValueError(f"{path}:{number}: expected a JSON object with an 'id'")
        records.append(record)
    return records


def _stems(category: str) -> list[str]:
    names = [category, "simple_python"] if category == "simple" else [category]
    return [f"BFCL_v{v}_{n}" for v in (4, 3) for n in names]


def _find(directory: Path, stems: Sequence[str]) -> Path | None:
    for stem in stems:
        for suffix in _SUFFIXES:
            if (directory / f"{stem}{suffix}").is_file():
                return directory / f"{stem}{suffix}"
    return None


def _category_of(path: Path) -> str:
    stem = path.name
    for suffix in _SUFFIXES:
        stem = stem.removesuffix(suffix)
    match = re.match(r"BFCL_v\d+_(.+)$", stem)
    category = match.group(1) if match else stem
    return "simple" if category == "simple_python" else category


def _prompt(question: Any, index: str) -> str:
    if not isinstance(question, list) or not question or not isinstance(question[0], list):
        raise ValueError(f"BFCL entry {index}: 'question' must be a list of turns")
    if len(question) > 1:
        raise ValueError(f"BFCL entry {index}: multi-turn questions are not supported")
    parts = [str(m.get("content", "")) for m in question[0] if isinstance(m, Mapping)]
    text = "\n\n".join(p for p in parts if p.strip())
    if not text.strip():
        raise ValueError(f"BFCL entry {index}: the question is empty")
    return text


def _first_allowed(allowed: Any) -> Any:
    values = [v for v in allowed if v != ""] if isinstance(allowed, list) else []
    return values[0] if values else None


def _concrete(value: Any, spec: Any) -> Any:
    """An allowed value as a call would pass it: an allowed dict ``{key: [values]}`` becomes
    ``{key: first value}`` (keys that may be omitted and have no value are left out)."""
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    if kind in ("dict", "object") and isinstance(value, Mapping):
        return {k: _first_allowed(v) for k, v in value.items() if _first_allowed(v) is not None}
    items = spec.get("items") if isinstance(spec, Mapping) else None
    if kind == "array" and isinstance(items, Mapping) and isinstance(value, list):
        return [_concrete(v, items) for v in value]
    return value


def _gold_call(name: str, possible: Mapping[str, Sequence[Any]], doc: Any) -> dict[str, Any]:
    properties = (doc or {}).get("parameters", {}).get("properties", {}) or {}
    params = {}
    for key, allowed in possible.items():
        values = [v for v in allowed if v != ""]
        if values:
            params[key] = _concrete(values[0], properties.get(key))
    return {"name": name, "parameters": params, "possible": dict(possible), "function": doc}


def _task(record: Mapping[str, Any], answer: Mapping[str, Any], category: str) -> Task:
    index = str(record["id"])
    functions = record.get("function")
    if isinstance(functions, Mapping):
        functions = [functions]
    if not isinstance(functions, list) or not all(isinstance(f, Mapping) for f in functions):
        raise ValueError(f"BFCL entry {index}: 'function' must be a list of function docs")
    truth = answer.get("ground_truth")
    if isinstance(truth, Mapping):
        truth = [{k: v} for k, v in truth.items()]
    if not isinstance(truth, list) or not all(
        isinstance(e, Mapping) and len(e) == 1 and isinstance(next(iter(e.values())), Mapping)
        for e in truth
    ):
        raise ValueError(
            f"BFCL entry {index}: 'ground_truth' must be a list of "
            "{function_name: {parameter: [allowed values]}}"
        )
    calls = []
    for entry in truth:
        name, possible = _entry(entry)
        doc = _find_doc(functions, name)
        calls.append(_gold_call(name, possible, dict(doc) if doc is not None else None))
    prompt = _prompt(record.get("question"), index)
    return Task(
        id=index,
        prompt=prompt,
        answer={
            "calls": calls,
            "answer": None,
            "bfcl": {"category": category, "functions": functions, "ground_truth": truth},
        },
        metadata={"level": len(calls), "question": prompt, "category": category},
    )


def load_bfcl(
    path_or_dir: str | Path,
    categories: Sequence[str] = ("simple", "multiple", "parallel", "parallel_multiple"),
) -> list[Task]:
    """BFCL's single-turn AST questions as ToolUse-v0 tasks (module docstring).

    Args:
        path_or_dir: BFCL's data directory (``bfcl_eval/data`` of the ``bfcl-eval`` package,
            holding ``BFCL_v4_*.json`` and ``possible_answer/``), or one question file, whose
            category is read from its name and whose possible answers are read from
            ``possible_answer/`` next to it.
        categories: For a directory, the categories to load, in order (names in
            :data:`BFCL_CATEGORIES`; ``simple`` reads v4's ``simple_python``).

    Returns:
        One :class:`~prm_gym.core.task.Task` per question: ``prompt`` the question,
        ``answer["bfcl"]`` the category, function docs and ground truth, ``answer["calls"]``
        one representative gold call per ground-truth entry. Pass them to
        ``gym.make("prm/ToolUse-v0", tasks=...)``.

    Raises:
        ValueError: an unknown category, a missing file or possible answer, or a malformed
            entry (the message names the file and entry).

    Example:
        >>> tasks = load_bfcl("tests/data/bfcl", categories=("simple",))
        >>> tasks[0].answer["bfcl"]["category"], len(tasks[0].answer["calls"])
        ('simple', 1)
    """
    path = Path(path_or_dir)
    if path.is_dir():
        unknown = [c for c in categories if c not in BFCL_CATEGORIES]
        if unknown:
            raise ValueError(f"unknown BFCL categories {unknown}; supported: {BFCL_CATEGORIES}")
        files = []
        for category in categories:
            found = _find(path, _stems(category))
            if found is None:
                raise ValueError(f"no BFCL question file for {category!r} in {path}")
            files.append((found, category))
    elif path.is_file():
        category = _category_of(path)
        if category not in BFCL_CATEGORIES:
            raise ValueError(f"{path.name}: category {category!r} is not supported")
        files = [(path, category)]
    else:
        raise ValueError(f"no BFCL file or directory at {path}")
    tasks = []
    for file, category in files:
        answer_file = _find(file.parent / "possible_answer", [_category_stem(file)])
        if answer_file is None:
            raise ValueError(
                f"no possible answers for {file.name} in {file.parent}/possible_answer"
            )
        answers = {str(r["id"]): r for r in _read_lines(answer_file)}
        for record in _read_lines(file):
            index = str(record["id"])
            if index not in answers:
                raise ValueError(f"{answer_file.name}: no possible answer for {index!r}")
            tasks.append(_task(record, answers[index], category))
    return tasks


def _category_stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name
