"""BFCL for ToolUse-v0: the loader on fixtures in BFCL's official layout (tests/data/bfcl, one
category gzipped), BFCL's AST verdict on the cases where a one-value gold call goes wrong, the
per-step scorer, the env's episodes, and (when bfcl-eval is installed) parity with BFCL's own
``ast_checker`` on every corruption of ``benchmarks/parity.py``."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.core import StepContext, Task
from prm_gym.envs.tools import (
    BFCLASTChecker,
    ToolCallASTMatch,
    bfcl_check_call,
    bfcl_verdict,
    format_call,
    load_bfcl,
)
from prm_gym.envs.tools.rewards import ToolProgress

DATA = Path(__file__).parent / "data" / "bfcl"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    return {t.id: t for t in load_bfcl(DATA)}


def _gold(task: Task) -> list[dict[str, Any]]:
    return [{"name": c["name"], "parameters": dict(c["parameters"])} for c in task.answer["calls"]]


def _verdict(task: Task, calls: list[dict[str, Any]]) -> bool:
    return BFCLASTChecker()(task, calls)[0]


def _one(task: Task, **changes: Any) -> list[dict[str, Any]]:
    """The gold response of a one-call task with parameters changed (None drops one)."""
    call = _gold(task)[0]
    for key, value in changes.items():
        if value is None:
            call["parameters"].pop(key)
        else:
            call["parameters"][key] = value
    return [call]


# -- loader ---------------------------------------------------------------------------------
def test_loader_reads_every_category_in_order_including_gzip(tasks: dict[str, Task]) -> None:
    loaded = load_bfcl(DATA)
    assert [t.id for t in loaded][:4] == ["simple_0", "simple_1", "simple_2", "simple_3"]
    assert len(loaded) == 13
    pm = tasks["parallel_multiple_2"]  # from BFCL_v4_parallel_multiple.json.gz
    assert pm.answer["bfcl"]["category"] == "parallel_multiple"
    assert [c["name"] for c in pm.answer["calls"]] == ["hotel.cancel", "hotel.cancel", "hotel.book"]
    simple = tasks["simple_0"]
    assert simple.prompt.startswith("What is the area of a triangle")
    assert simple.answer["bfcl"]["ground_truth"][0]["geometry.triangle_area"]["unit"] == [
        "cm",
        "centimeters",
        "",
    ]
    # one representative gold call: first allowed value; an allowed dict becomes a plain dict
    assert tasks["multiple_0"].answer["calls"][0]["parameters"] == {
        "hotel": "Grand Hotel",
        "nights": 2,
        "guests": [{"name": "Ann"}, {"name": "Bo"}],
    }
    assert tasks["simple_3"].answer["calls"][0]["parameters"] == {"rate": 1e-7, "seconds": 20}
    only = load_bfcl(DATA, categories=("parallel",))
    assert [t.id for t in only] == ["parallel_0", "parallel_1", "parallel_2"]


def test_loader_reads_one_file_and_v3_names(tmp_path: Path) -> None:
    single = load_bfcl(DATA / "BFCL_v4_parallel_multiple.json.gz")
    assert [t.metadata["category"] for t in single] == ["parallel_multiple"] * 3
    (tmp_path / "possible_answer").mkdir()
    for name in ("BFCL_v4_simple_python.json", "possible_answer/BFCL_v4_simple_python.json"):
        shutil.copy(DATA / name, tmp_path / name.replace("v4_simple_python", "v3_simple"))
    v3 = load_bfcl(tmp_path, categories=("simple",))
    assert [t.id for t in v3] == ["simple_0", "simple_1", "simple_2", "simple_3"]
    assert v3[0].answer["bfcl"]["category"] == "simple"


def test_loader_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown BFCL categories"):
        load_bfcl(DATA, categories=("multi_turn_base",))
    with pytest.raises(ValueError, match="no BFCL question file for 'live_simple'"):
        load_bfcl(DATA, categories=("live_simple",))
    (tmp_path / "BFCL_v4_parallel.json").write_text((DATA / "BFCL_v4_parallel.json").read_text())
    with pytest.raises(ValueError, match="no possible answers"):
        load_bfcl(tmp_path / "BFCL_v4_parallel.json")
    (tmp_path / "possible_answer").mkdir()
    (tmp_path / "possible_answer" / "BFCL_v4_parallel.json").write_text('{"id": "parallel_0"}\n')
    with pytest.raises(ValueError, match="ground_truth"):
        load_bfcl(tmp_path / "BFCL_v4_parallel.json")
    shutil.copy(DATA / "possible_answer/BFCL_v4_multiple.json", tmp_path / "possible_answer")
    with gzip.open(tmp_path / "BFCL_v4_multiple.json.gz", "wt") as fh:
        fh.write("{not json\n")
    with pytest.raises(ValueError, match=r"BFCL_v4_multiple\.json\.gz:1"):
        load_bfcl(tmp_path / "BFCL_v4_multiple.json.gz")


# -- verdict --------------------------------------------------------------------------------
def test_possible_answer_lists_and_optional_parameters(tasks: dict[str, Task]) -> None:
    area, forecast = tasks["simple_0"], tasks["simple_1"]
    assert _verdict(area, _gold(area))
    assert _verdict(area, _one(area, unit="centimeters"))  # another allowed value
    assert _verdict(area, _one(area, unit=None))  # "" allowed: may be omitted
    assert not _verdict(area, _one(area, unit="mm"))
    assert not _verdict(area, _one(area, height=None))  # required by the doc
    # include_wind is optional in the doc but the possible answers hold no "": BFCL requires it
    assert not _verdict(forecast, _one(forecast, include_wind=None))
    assert _verdict(forecast, _one(forecast, city="Paris, France"))
    assert not _verdict(forecast, _one(forecast, extra=1))  # unknown parameter
    assert not _verdict(tasks["multiple_2"], _one(tasks["multiple_2"], include_wind=True))
    assert _verdict(tasks["multiple_2"], _one(tasks["multiple_2"], include_wind=False))


def test_types_as_bfcl(tasks: dict[str, Task]) -> None:
    area, forecast = tasks["simple_0"], tasks["simple_1"]
    assert _verdict(area, _one(area, base=10, height=5))  # int accepted for float
    assert not _verdict(forecast, _one(forecast, days=3.0))  # float not accepted for integer
    assert not _verdict(forecast, _one(forecast, include_wind=1))  # 1 is not a boolean
    assert not _verdict(forecast, _one(forecast, days=True))  # True is not an integer
    assert not _verdict(forecast, _one(forecast, city=7))
    rebalance = tasks["simple_2"]
    assert _verdict(rebalance, _one(rebalance, window=[2020, 2024]))  # tuple doc type: a list
    assert not _verdict(rebalance, _one(rebalance, window=[2020, "2024"]))  # items: integer
    assert _verdict(rebalance, _one(rebalance, window=[]))  # BFCL: [] matches the "" option


def test_nested_values(tasks: dict[str, Task]) -> None:
    rebalance, book = tasks["simple_2"], tasks["multiple_0"]
    assert _verdict(rebalance, _one(rebalance, tickers=["msft", "AAPL"]))  # allowed order
    assert not _verdict(rebalance, _one(rebalance, tickers=["AAPL"]))
    assert _verdict(rebalance, _one(rebalance, weights={"stocks": 0.6, "bonds": 0.4}))
    assert not _verdict(rebalance, _one(rebalance, weights={"stocks": 0.6}))  # bonds not optional
    assert not _verdict(rebalance, _one(rebalance, weights={"stocks": 0.6, "bonds": 0.4, "x": 0}))
    assert _verdict(book, _one(book, guests=[{"name": "ann"}, {"name": "BO"}]))
    assert not _verdict(book, _one(book, guests=[{"name": "Bo"}, {"name": "Ann"}]))  # by index
    assert _verdict(book, _one(book, guests=None))


def test_string_normalisation_and_case(tasks: dict[str, Task]) -> None:
    forecast, quotes = tasks["simple_1"], tasks["parallel_1"]
    for city in ("PARIS", "paris", "Pa-ris.", " Paris, France "):
        assert _verdict(forecast, _one(forecast, city=city)), city
    assert not _verdict(forecast, _one(forecast, city="'Paris'"))  # quotes are kept
    doc = {"name": "f", "parameters": {"type": "dict", "properties": {"s": {"type": "string"}}}}
    call = {"name": "f", "parameters": {"s": "O'Neil"}}
    assert bfcl_check_call(call, doc, {"s": ['O"Neil']})[0]  # ' and " are the same quote
    gold = _gold(quotes)
    lower = [{**gold[0], "parameters": {**gold[0]["parameters"], "symbol": "aa"}}, *gold[1:]]
    assert _verdict(quotes, lower)  # BFCL compares string values in lower case
    renamed = [{"name": "STOCK_QUOTE", "parameters": gold[0]["parameters"]}, *gold[1:]]
    assert not _verdict(quotes, renamed)  # function names are exact
    key = [{"name": gold[0]["name"], "parameters": {"Symbol": "AA", "exchange": "NYSE"}}]
    assert not _verdict(quotes, key + gold[1:])  # so are parameter names


def test_numbers_are_compared_exactly(tasks: dict[str, Task]) -> None:
    decay = tasks["simple_3"]
    assert _verdict(decay, _one(decay, rate=1e-7))
    for rate in (2e-7, 1e-7 * (1 + 1e-12), 1.0000001e-7):
        assert not _verdict(decay, _one(decay, rate=rate)), rate
    assert _verdict(decay, _one(decay, label=""))  # "" is the allowed "omitted" marker
    assert not _verdict(decay, _one(decay, label="x"))


def test_parallel_is_order_free_and_complete(tasks: dict[str, Task]) -> None:
    for task_id in ("parallel_0", "parallel_1", "parallel_multiple_0", "parallel_multiple_2"):
        task = tasks[task_id]
        gold = _gold(task)
        assert _verdict(task, gold) and _verdict(task, gold[::-1]), task_id
        assert not _verdict(task, gold[:-1]), task_id  # missing its last call
        assert not _verdict(task, gold[1:]), task_id
        assert not _verdict(task, [*gold, gold[0]]), task_id  # an extra call
        assert not _verdict(task, [gold[0]] * len(gold)), task_id  # one call repeated
    simple = tasks["simple_0"]
    assert not _verdict(simple, _gold(simple) * 2)
    multiple = tasks["multiple_1"]
    wrong = [{"name": "hotel.book", "parameters": {"hotel": "B-17", "nights": 1}}]
    assert not _verdict(multiple, wrong)
    assert bfcl_verdict([], [], [], "parallel") == (True, "")


# -- per-step scorer, progress and env ------------------------------------------------------
def _ctx(task: Task, *steps: str) -> StepContext:
    return StepContext(task.prompt, tuple(steps[:-1]), steps[-1], task=task)


def test_step_scorer_never_accepts_an_incomplete_parallel_answer(tasks: dict[str, Task]) -> None:
    scorer = ToolCallASTMatch()
    task = tasks["parallel_0"]
    gold = _gold(task)
    full = "".join(format_call(c) for c in gold)
    partial = format_call(gold[0])
    scores = scorer.score(
        [
            _ctx(task, full),
            _ctx(task, partial),  # the response missing its last call
            _ctx(task, partial, format_call(gold[1])),  # completed on a second step
            _ctx(task, full, format_call(gold[0])),  # then an extra call
            _ctx(task, "<answer>done</answer>"),
        ]
    )
    assert scores.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    one = _gold(tasks["simple_1"])[0]
    one["parameters"].pop("include_wind")
    assert scorer.score([_ctx(tasks["simple_1"], format_call(one))]).tolist() == [0.0]


def test_progress_covers_gold_calls_by_bfcl_rules(tasks: dict[str, Task]) -> None:
    task = tasks["parallel_multiple_0"]
    alt = {"name": "music.play", "parameters": {"artist": "johann sebastian bach", "minutes": 10}}
    wrong = {"name": "stock_quote", "parameters": {"symbol": "MSFT", "exchange": "NYSE"}}
    values = ToolProgress().progress(
        [_ctx(task, format_call(alt)), _ctx(task, format_call(alt) + format_call(wrong))]
    )
    assert values.tolist() == [0.5, 0.5]


def test_env_runs_bfcl_tasks(tasks: dict[str, Task]) -> None:
    env = gym.make("prm/ToolUse-v0", tasks=list(tasks.values()))
    obs, _ = env.reset(options={"task_id": "simple_0"})
    schema = json.loads(obs.split("\n")[1])
    props = schema["function"]["parameters"]["properties"]
    assert schema["function"]["name"] == "geometry.triangle_area"
    assert props["base"]["type"] == "number"
    assert schema["function"]["parameters"]["type"] == "object"
    # no block: invalid, the episode goes on
    _, reward, terminated, _, info = env.step("I think the area is 25.")
    assert not terminated and not info["action_valid"]
    obs, reward, terminated, _, info = env.step(format_call(_gold(tasks["simple_0"])[0]))
    assert terminated and reward == 1.0 and info["outcome"] == 1.0
    assert json.loads(obs) == [{"name": "geometry.triangle_area", "result": "recorded"}]

    _, info = env.reset(options={"task_id": "parallel_2"})
    full = "".join(format_call(c) for c in tasks["parallel_2"].answer["calls"])
    assert full in info["candidate_actions"]  # a whole response, for ChoiceActions
    state = env.unwrapped.get_state()
    gold = _gold(tasks["parallel_2"])
    _, reward, terminated, _, info = env.step(format_call(gold[0]))  # missing a call
    assert terminated and reward == 0.0 and "wrong number of calls" in info["bfcl_error"]
    env.unwrapped.set_state(state)
    _, reward, terminated, _, _ = env.step("".join(format_call(c) for c in gold[::-1]))
    assert terminated and reward == 1.0

    env.reset(options={"task_id": "multiple_1"})
    bad = format_call({"name": "hotel.delete", "parameters": {"booking_id": "B-17"}})
    obs, reward, terminated, _, info = env.step(bad)
    assert terminated and reward == 0.0 and not info["action_valid"]
    assert "unknown function" in obs
    env.reset(options={"task_id": "multiple_1"})
    _, reward, terminated, _, info = env.step("<answer>B-17</answer>")
    assert terminated and reward == 0.0
    env.close()


# -- parity with BFCL's own checker ---------------------------------------------------------
def test_fixture_verdicts_equal_bfcls_ast_checker(tasks: dict[str, Task]) -> None:
    pytest.importorskip("bfcl_eval", reason="pip install --no-deps bfcl-eval (parity extra)")
    spec = importlib.util.spec_from_file_location("_bench_parity", REPO / "benchmarks/parity.py")
    assert spec is not None and spec.loader is not None
    parity = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = parity
    spec.loader.exec_module(parity)
    official = parity._official_bfcl()
    cases = [case for task in tasks.values() for case in parity.corruptions(task)]
    assert len(cases) > 300
    disagreements = []
    for case in cases:
        info = case.task.answer["bfcl"]
        ref = official(info["functions"], case.calls, info["ground_truth"], info["category"])
        if bool(ref["valid"]) != _verdict(case.task, case.calls):
            disagreements.append((case.task.id, case.kind, ref["error"]))
    assert disagreements == []
