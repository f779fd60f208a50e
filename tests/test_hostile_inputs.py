"""Hostile actions end in bounded time, in the test process itself (issue 15, the hangs).

Every hostile input here used to freeze the process or take minutes: an answer whose check
builds a gigantic integer inside sympy, a calculator call such as ``round(1, -10**18)``, SQLite
built-ins that are quadratic in their arguments, and action parsers that were quadratic in the
length of the action. Each test asserts a generous wall-clock bound (5 s) and that legitimate
inputs keep their answers. The gzip loaders (issue 16) are tested at the end.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import prm_gym  # noqa: F401  (registers the envs)
from prm_gym.core.task import load_jsonl
from prm_gym.envs.math import MathEnv
from prm_gym.envs.math.answers import (
    AnswerTimeout,
    answers_match,
    call_with_time_limit,
    evaluation_too_costly,
    extract_final_answer,
    text_too_costly,
)
from prm_gym.envs.math.steps import split_steps
from prm_gym.envs.sql import SQLEnv, load_spider
from prm_gym.envs.sql.env import extract_sql
from prm_gym.envs.sql.safety import QueryError, SafeDatabase, _install_linear_functions
from prm_gym.envs.tools.builtin import calculator, default_registry
from prm_gym.envs.tools.calls import parse_action
from prm_gym.envs.tools.registry import ToolCallError

BOUND = 5.0  # seconds; the fixed code takes well under 1 s for every input below


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


@pytest.fixture(scope="module")
def warm_math_verify() -> None:
    """math-verify's first call builds its grammar (seconds); keep it out of the bounds."""
    assert answers_match("x + 1", "1 + x")


# -- Math-v0 ------------------------------------------------------------------------------------
EXPLODING_ANSWERS = [
    r"10^{10^{10}}",
    r"9^{9^{9^{9}}}",
    r"\frac{1}{10^{10^{10}}}",
    r"(10^{10})!",
    r"\binom{10^{10}}{10^{5}}",
    r"\sum_{i=1}^{10^{9}} i^i",
    r"\prod_{i=1}^{10^{6}} i",
    r"x = 10^{10^{10}}",
    r"(-1)^{10^{10^{10}}}",
    r"\gcd(10^{10^{10}}, 3)",
    r"\Gamma(100000000)",
    r"x+\binom{100000000}{50000000}",
    r"\int_0^{10^{10}} x^{10^{6}} dx",
    r"\lfloor e^{10^{10}} \rfloor",
    r"(x+y+z)^{1000}",
    "1" * 2000,
]


@pytest.mark.parametrize("answer", EXPLODING_ANSWERS)
def test_math_answers_that_would_explode_end_in_bounded_time(
    warm_math_verify: None, answer: str
) -> None:
    env = gym.make("prm/Math-v0")
    env.reset(seed=0)
    (_, reward, terminated, _, info), seconds = _timed(lambda: env.step(f"\\boxed{{{answer}}}"))
    assert seconds < BOUND, f"{answer!r} took {seconds:.1f} s"
    assert terminated and reward == 0.0 and info["outcome"] == 0.0
    env.close()


def test_math_exploding_answer_off_the_main_thread(warm_math_verify: None) -> None:
    results: list[tuple[bool, float]] = []
    thread = threading.Thread(
        target=lambda: results.append(_timed(lambda: answers_match("42", r"9^{9^{9^{9}}}")))
    )
    thread.start()
    thread.join(timeout=30)
    assert results and results[0][0] is False and results[0][1] < BOUND


@pytest.mark.parametrize(
    ("gold", "predicted"),
    [
        ("2^{64}", "18446744073709551616"),
        ("2^{1000}", str(2**1000)),
        ("2^{3^{4}}", str(2**81)),
        ("100!", "933262154439441526816992388562667004907159682643816214685929638952175999932299"
                 "156089414639761565182862536979208272237582511852109168640000000000000000000000"
                 "00"),
        (r"\binom{10}{3}", "120"),
        (r"\Gamma(5)", "24"),
        (r"\gcd(12, 18)", "6"),
        (r"\sum_{k=1}^{10} k", "55"),
        (r"\frac{1}{2^{10}}", r"\frac{1}{1024}"),
        ("(x+1)^2", "x^2+2x+1"),
        ("10^{10^{10}}", "10^{10^{10}}"),  # refused, but written exactly as the gold
    ],
)  # fmt: skip
def test_math_legitimate_answers_still_match(
    warm_math_verify: None, gold: str, predicted: str
) -> None:
    assert answers_match(gold, predicted)
    assert not answers_match(gold, "7")


def test_math_guards_refuse_only_costly_answers() -> None:
    from math_verify import parse

    def parsed(text: str) -> Any:
        return parse(f"${text}$", parsing_timeout=None)

    for costly in (r"10^{10^{10}}", r"2^{100000}", r"(10^{5})!", r"x^{10^{10}}", "e^{10^{6}}"):
        assert evaluation_too_costly(parsed(costly)), costly
    for cheap in (r"2^{1000}", r"100!", r"x^{100}", r"\sqrt{2}", r"e^{2}", r"\frac{3}{4}"):
        assert not evaluation_too_costly(parsed(cheap)), cheap
    assert text_too_costly(r"\binom{100000}{3}") and not text_too_costly(r"\binom{100}{3}")
    assert text_too_costly(r"\gcd(2^{10}, 4)") and not text_too_costly(r"\gcd(12, 18)")
    assert text_too_costly(r"\det(A)") and text_too_costly("1" * 1001)


def test_time_bound_cannot_be_swallowed_by_except_exception() -> None:
    """math-verify and sympy catch ``Exception`` everywhere; the bound must still hold."""

    def stubborn() -> None:
        while True:
            with contextlib.suppress(Exception):  # what third-party code does
                time.sleep(0.01)

    start = time.perf_counter()
    with pytest.raises(AnswerTimeout):
        call_with_time_limit(stubborn, 0.3)
    seconds = time.perf_counter() - start
    assert seconds < 2

    before = threading.active_count()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            call_with_time_limit(stubborn, 0.3)
            errors.append(AssertionError("no timeout"))
        except AnswerTimeout:
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)
    assert not errors
    deadline = time.monotonic() + 3
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before  # the abandoned check was stopped, not leaked


def test_math_answer_extraction_is_linear() -> None:
    assert extract_final_answer(r"\boxed{\boxed{1}} and \boxed{2") == "1"
    assert extract_final_answer(r"\boxed{a} then \fbox{b{c}}") == "b{c}"
    assert extract_final_answer("Answer: 42   ") == "42"
    for text in ("\\boxed{" * 20000, "answer: x" + " " * 100_000 + "y", "}{" * 100_000):
        _, seconds = _timed(functools.partial(extract_final_answer, text))
        assert seconds < BOUND
    for text in ("a" + "\n" * 100_000, ". " + " " * 100_000 + "x", "step 1" + " " * 100_000):
        _, seconds = _timed(functools.partial(split_steps, text))
        assert seconds < BOUND


@pytest.mark.parametrize("single_turn", [False, True])
def test_math_huge_actions_step_in_bounded_time(single_turn: bool) -> None:
    env = MathEnv(single_turn=single_turn, max_action_length=200_000)
    for action in ("\\boxed{" * 20000, "a" + "\n" * 100_000, "(" * 100_000 + "1=1"):
        env.reset(seed=0)
        _, seconds = _timed(functools.partial(env.step, action))
        assert seconds < BOUND, (action[:20], seconds)
    env.close()


# -- ToolUse-v0 ---------------------------------------------------------------------------------
HOSTILE_EXPRESSIONS = [
    "round(1, -10**18)", "round(1, -10**7)", "round(1.5, 10**18)", "round(1, 0.5)",
    "10**10**10", "9**9**9", "2**(2**64)", "(10**1000)**1000", "2**1024", "10**308*10**308",
    "1e308*10", "1e999", "1<<10**9", "math.factorial(10**6)", "factorial(10**6)",
    "sqrt(-1)", "sqrt(10**400)", "(-8)**(1/3)", "1e308//1e-308", "abs(-10**400)",
    "max()", "round(1, 2, 3)", "'a'*10**9", "[1]*10**9", "__import__('os')", "(lambda: 1)()",
    "1 if 1 else 2", "~1", "x", "", "1/0", "0**-1", "1" * 201,
]  # fmt: skip


@pytest.mark.parametrize("expression", HOSTILE_EXPRESSIONS)
def test_calculator_refuses_hostile_expressions_quickly(expression: str) -> None:
    registry = default_registry()
    start = time.perf_counter()
    with pytest.raises(ToolCallError, match=r"calculator failed: .+"):
        registry.call("calculator", {"expression": expression})
    assert time.perf_counter() - start < 1.0


def test_calculator_keeps_legitimate_results() -> None:
    assert calculator("(12.5 + 3) * 4") == 62.0
    assert calculator("round(1234.5678, 2)") == 1234.57
    assert calculator("round(1234, -2)") == 1200
    assert calculator("2**10 + sqrt(16) + max(1, 5, 3) - min(2, 9) + abs(-1)") == 1032.0
    assert calculator("2**-2") == 0.25 and calculator("10**15") == 1e15


def test_tool_call_parser_is_linear_and_reports_unreadable_json() -> None:
    env = gym.make("prm/ToolUse-v0", max_action_length=2_000_000)
    env.reset(seed=0)
    for action in ("<tool_call>{" * 8000, "<tool_call>{" * 100_000, "<answer>" * 100_000):
        _, seconds = _timed(functools.partial(env.step, action))
        assert seconds < BOUND
    env.close()
    deep = parse_action("<tool_call>" + "[" * 100_000 + "</tool_call>")
    assert deep.errors and "unreadable JSON" in deep.errors[0]
    huge = parse_action('<tool_call>{"name": "calculator", "parameters": ' + "1" * 5000 + "}"
                        "</tool_call>")  # fmt: skip
    assert huge.errors and not huge.calls
    both = parse_action('<TOOL_CALL>{"name": "a"}</tool_call><tool_call>x<answer>7</answer>')
    assert both.calls == [{"name": "a", "parameters": {}}] and both.answer == "7"
    assert both.num_blocks == 2  # the second call block is never closed


# -- SQL-v0 -------------------------------------------------------------------------------------
@pytest.fixture()
def sqlite_file(tmp_path: Path) -> str:
    path = tmp_path / "t.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    return str(path)


QUADRATIC_QUERIES = [
    "SELECT length(trim(printf('%.*c',60000,'a'), printf('%.*c',60000,'b')||'a'))",
    "SELECT length(ltrim(printf('%.*c',60000,'a'), printf('%.*c',60000,'b')||'a'))",
    "SELECT length(rtrim(printf('%.*c',60000,'a'), printf('%.*c',60000,'b')||'a'))",
    "SELECT instr(printf('%.*c',999000,'a'), printf('%.*c',500000,'a')||'b')",
    "SELECT length(replace(printf('%.*c',999000,'a'), printf('%.*c',500000,'a')||'b', 'c'))",
    "SELECT printf('%.*c',999000,'a') LIKE printf('%.*c',40000,'%')||'b'",
    "SELECT printf('%.*c', 2147483647, 'x')",
    "SELECT format('%2147483647c', 'x')",
    "SELECT printf('%.*c', '99999999999 apples', 'x')",
    "SELECT replace(printf('%.*c', 100000, 'a'), 'a', printf('%.*c', 100000, 'b'))",
]


@pytest.mark.parametrize("query", QUADRATIC_QUERIES)
def test_sql_quadratic_builtins_end_in_bounded_time(sqlite_file: str, query: str) -> None:
    env = SQLEnv(tasks=[{"question": "q", "query": "SELECT 1", "db_path": sqlite_file}])
    env.reset(seed=0)
    (_, _, terminated, _, _), seconds = _timed(lambda: env.step(f"<sql>{query}</sql>"))
    assert seconds < BOUND and not terminated
    env.close()


def test_sql_linear_functions_give_sqlite_results() -> None:
    builtin, linear = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    _install_linear_functions(linear)
    values = ["'hello'", "'a.b.c'", "''", "NULL", "12345", "1.5", "100.0", "1e20", "0.1",
              "-0.0", "x'616263'", "'ééà'", "' x '", "2.5e-7"]  # fmt: skip
    formats = ["'%d|%5.2f|%s'", "'%.*c'", "'%q%Q%%'", "'%*d'", "'%.f%n%x'", "'%-5s|'", "NULL"]
    rng = random.Random(0)
    for _ in range(1500):
        call = rng.choice(["instr(%s,%s)", "replace(%s,%s,%s)", "trim(%s,%s)", "ltrim(%s,%s)",
                           "rtrim(%s,%s)", "printf(%s,%s,%s)", "format(%s,%s)"])  # fmt: skip
        args = [rng.choice(values) for _ in range(call.count("%s"))]
        if call.startswith(("printf", "format")):  # sizes above the length limit are refused
            args = [rng.choice(formats)] + [a for a in args[1:] if a != "1e20"] + ["'x'"]
            call = call.split("(")[0] + "(" + ",".join(["%s"] * len(args)) + ")"
        expr = call % tuple(args)
        query = f"SELECT {expr}, typeof({expr})"
        assert builtin.execute(query).fetchall() == linear.execute(query).fetchall(), query


def test_sql_table_valued_pragmas(sqlite_file: str) -> None:
    with SafeDatabase(sqlite_file) as db:
        assert [r[1] for r in db.execute("SELECT * FROM pragma_table_info('t')").rows] == [
            "a",
            "b",
        ]
        assert (
            db.execute("PRAGMA table_info(t)").rows
            == db.execute("SELECT * FROM pragma_table_info('t')").rows
        )
        with pytest.raises(QueryError, match="pragma compile_options is not allowed") as err:
            db.execute("SELECT * FROM pragma_compile_options")
        assert err.value.kind == "refused" and "modify" not in str(err.value)
        with pytest.raises(QueryError, match="refused"):
            db.execute("SELECT * FROM pragma_database_list")


def test_sql_action_parser_is_linear(sqlite_file: str) -> None:
    assert extract_sql("<sql>```sql\nSELECT 1\n```</sql>") == ("sql", "SELECT 1")
    assert extract_sql("<sql>a</sql><SOLUTION> b </solution><sql>c") == ("solution", "b")
    for action in ("<sql>" * 100_000, "<solution>" * 100_000, "<sql>```" + " " * 100_000):
        _, seconds = _timed(functools.partial(extract_sql, action))
        assert seconds < BOUND
    env = SQLEnv(
        tasks=[{"question": "q", "query": "SELECT 1", "db_path": sqlite_file}],
        max_action_length=1_000_000,
    )
    env.reset(seed=0)
    _, seconds = _timed(lambda: env.step("<sql>" * 100_000))
    assert seconds < BOUND
    env.close()


# -- gzip loaders (issue 16) --------------------------------------------------------------------
def _gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_load_jsonl_reads_gzip_and_reports_damage(tmp_path: Path) -> None:
    records = [{"prompt": "1 + 1?", "answer": "2"}, {"prompt": "2 + 2?", "answer": "4"}]
    assert load_jsonl(_gz(tmp_path / "t.jsonl.gz", _jsonl(records))) == records
    (tmp_path / "plain.jsonl").write_text(_jsonl(records), encoding="utf-8")
    assert load_jsonl(tmp_path / "plain.jsonl") == records
    damaged = tmp_path / "bad.jsonl.gz"
    damaged.write_bytes(gzip.compress(b'{"a": 1}\n' * 100)[:30])
    with pytest.raises(ValueError, match="gzip"):
        load_jsonl(damaged)


def test_math_env_loads_a_gzip_jsonl(tmp_path: Path) -> None:
    path = _gz(tmp_path / "math.jsonl.gz", _jsonl([{"prompt": "7 + 5?", "answer": "12"}]))
    env = gym.make("prm/Math-v0", tasks=str(path))
    env.reset(seed=0)
    assert env.step("\\boxed{12}")[1] == 1.0
    env.close()


def test_tool_env_loads_a_gzip_jsonl(tmp_path: Path) -> None:
    record = {"question": "How much is 2 + 3?", "answer": 5,
              "calls": [{"name": "calculator", "parameters": {"expression": "2 + 3"}}]}  # fmt: skip
    env = gym.make("prm/ToolUse-v0", tasks=str(_gz(tmp_path / "t.jsonl.gz", _jsonl([record]))))
    env.reset(seed=0)
    assert env.unwrapped.task.prompt == "How much is 2 + 3?"  # type: ignore[attr-defined]
    assert env.step("<answer>5</answer>")[1] == 1.0
    env.close()


def test_sql_loaders_read_gzip(tmp_path: Path, sqlite_file: str) -> None:
    record = {"question": "How many rows?", "query": "SELECT COUNT(*) FROM t",
              "db_path": sqlite_file}  # fmt: skip
    env = SQLEnv(tasks=str(_gz(tmp_path / "sql.jsonl.gz", _jsonl([record]))))
    env.reset(seed=0)
    assert env.step("<solution>SELECT count(*) FROM t</solution>")[1] == 1.0
    env.close()

    root = tmp_path / "spider"
    (root / "database" / "zoo").mkdir(parents=True)
    with sqlite3.connect(root / "database" / "zoo" / "zoo.sqlite") as conn:
        conn.execute("CREATE TABLE animal (id INTEGER PRIMARY KEY, kind TEXT)")
    _gz(root / "dev.json.gz", json.dumps([{"db_id": "zoo", "question": "Kinds?",
                                           "query": "SELECT kind FROM animal"}]))  # fmt: skip
    _gz(root / "tables.json.gz", json.dumps([{"db_id": "zoo"}]))
    tasks = load_spider(root, "dev.json.gz")
    assert len(tasks) == 1 and tasks[0].answer == "SELECT kind FROM animal"
    _gz(root / "tables.json.gz", json.dumps([{"db_id": "other"}]))
    with pytest.raises(ValueError, match=r"absent from tables\.json"):
        load_spider(root, "dev.json.gz")


def test_webshop_loaders_read_gzip(tmp_path: Path) -> None:
    from prm_gym.envs.webshop import load_webshop_goals, load_webshop_products

    products = [{"asin": "B000000001", "name": "Organic Green Tea", "category": "grocery",
                 "query": "tea", "pricing": "$8.50", "customization_options": None,
                 "small_description": ["organic"]}]  # fmt: skip
    attributes = {"B000000001": {"attributes": ["organic"]}}
    goals = {"B000000001": [{"instruction": "i want organic tea",
                             "instruction_attributes": ["organic"],
                             "instruction_options": []}]}  # fmt: skip
    catalog = load_webshop_products(
        _gz(tmp_path / "items.json.gz", json.dumps(products)),
        _gz(tmp_path / "attrs.json.gz", json.dumps(attributes)),
    )
    assert [p.asin for p in catalog] == ["B000000001"]
    assert catalog.get("B000000001").attributes == ("organic",)  # type: ignore[union-attr]
    tasks = load_webshop_goals(_gz(tmp_path / "goals.json.gz", json.dumps(goals)), catalog)
    assert len(tasks) == 1 and "organic tea" in tasks[0].prompt
