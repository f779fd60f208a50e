"""prm/SQL-v0: API conformance, gold queries, execution-match semantics, safety, seeding."""

from __future__ import annotations

import hashlib
import json
import pickle
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.core import StepContext, Task
from prm_gym.envs.sql import (
    PATTERNS,
    SCHEMAS,
    SafeDatabase,
    SQLConfig,
    SQLEnv,
    SQLPartialReward,
    build_database,
    generate,
    load_spider,
    results_match,
)
from prm_gym.rewards import SQLPartialReward as ExportedScorer
from prm_gym.wrappers import ProcessReward


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A cache directory with every generated database, built once per test session."""
    root = tmp_path_factory.mktemp("sql-cache")
    for schema in SCHEMAS:
        build_database(schema, 0, root)
    return str(root)


@pytest.fixture()
def env(cache: str):
    env = SQLEnv(cache_dir=cache)
    yield env
    env.close()


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _task(cache: str, gold: str, schema: str = "retail") -> Task:
    path = str(build_database(schema, 0, cache))
    return Task(id="t", prompt="q", answer=gold, metadata={"db_path": path})


def _outcome(env: SQLEnv, task: Task, query: str) -> float:
    env.reset(options={"task": task})
    _obs, reward, terminated, _truncated, info = env.step(f"<solution>{query}</solution>")
    assert terminated and info["outcome"] == reward
    return float(reward)


# -- API conformance -----------------------------------------------------------------------
def test_check_env_passes(cache: str) -> None:
    env = gym.make("prm/SQL-v0", cache_dir=cache)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_non_str_action_raises_type_error(env: SQLEnv) -> None:
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str action"):
        env.step(b"<sql>SELECT 1</sql>")  # type: ignore[arg-type]


def test_invalid_format_continues_the_episode(env: SQLEnv) -> None:
    env.reset(seed=0)
    for action in ("SELECT 1", "<sql>  </sql>", "<solution></solution>"):
        _obs, reward, terminated, _truncated, info = env.step(action)
        assert info["action_valid"] is False and info["error"]
        assert not terminated and reward == 0.0
    assert "<solution>" in env.step("hello")[4]["error"]  # the error explains the format
    *_, truncated, info = env.step("still no tags")
    assert truncated and info["outcome"] == 0.0  # max_turns = 5


def test_exploration_returns_a_truncated_table(env: SQLEnv, cache: str) -> None:
    env.reset(options={"task": _task(cache, "SELECT 1")})
    obs, reward, terminated, _, info = env.step("<sql>SELECT * FROM order_items</sql>")
    assert info["action_valid"] and not terminated and reward == 0.0
    assert obs.splitlines()[0].startswith("order_item_id | order_id")
    assert "showing 20 of more than 1000 rows" in obs
    obs, *_, info = env.step("<sql>SELECT nosuchcolumn FROM orders</sql>")
    assert info["action_valid"] is False and "no such column" in info["error"]


# -- gold queries and execution match ------------------------------------------------------
def test_gold_sql_scores_one_on_300_tasks_across_all_patterns(cache: str) -> None:
    env = SQLEnv(cache_dir=cache)
    seen_schemas: Counter[str] = Counter()
    scored = 0
    for pattern in PATTERNS:
        config = SQLConfig(patterns=(pattern,), cache_dir=cache)
        for seed in range(13):  # 24 patterns x 13 = 312 tasks
            task = generate(config, seed)
            assert task.metadata["pattern"] == pattern
            seen_schemas[task.metadata["db_id"]] += 1
            assert _outcome(env, task, task.answer) == 1.0, task.id
            scored += 1
    env.close()
    assert scored >= 300 and set(seen_schemas) == set(SCHEMAS)


def test_generated_tasks_are_non_degenerate(cache: str) -> None:
    for seed in range(40):
        task = generate(SQLConfig(cache_dir=cache), seed)
        with SafeDatabase(task.metadata["db_path"]) as db:
            rows = db.execute(task.answer).rows
        assert 0 < len(rows) <= 200
        assert any(v is not None for row in rows for v in row)
        assert task.answer not in task.prompt and task.metadata["question"] in task.prompt
        assert "CREATE TABLE" in task.prompt and "sample rows" in task.prompt


@pytest.mark.parametrize(
    ("gold", "wrong"),
    [
        (  # wrong filter
            "SELECT name FROM customers WHERE city = 'Paris'",
            "SELECT name FROM customers WHERE city = 'London'",
        ),
        (  # missing join condition
            "SELECT o.order_id, c.name FROM orders o JOIN customers c "
            "ON o.customer_id = c.customer_id WHERE o.order_id <= 20",
            "SELECT o.order_id, c.name FROM orders o, customers c WHERE o.order_id <= 20",
        ),
        (  # wrong order under ORDER BY
            "SELECT name, price FROM products ORDER BY price DESC LIMIT 5",
            "SELECT name, price FROM (SELECT name, price FROM products "
            "ORDER BY price DESC LIMIT 5) ORDER BY price ASC",
        ),
        (  # duplicates matter without DISTINCT (multiset semantics)
            "SELECT DISTINCT city FROM customers",
            "SELECT city FROM customers",
        ),
        (  # an extra column
            "SELECT name FROM products WHERE category = 'Toys'",
            "SELECT name, price FROM products WHERE category = 'Toys'",
        ),
    ],
)
def test_known_wrong_queries_score_zero(env: SQLEnv, cache: str, gold: str, wrong: str) -> None:
    task = _task(cache, gold)
    assert _outcome(env, task, gold) == 1.0
    assert _outcome(env, task, wrong) == 0.0


@pytest.mark.parametrize(
    ("gold", "equivalent"),
    [
        (  # column order and aliases, under ORDER BY
            "SELECT name, price FROM products ORDER BY price DESC LIMIT 5",
            "SELECT price AS p, name AS product FROM products ORDER BY price DESC LIMIT 5",
        ),
        (  # row order without ORDER BY in the gold
            "SELECT name, city FROM customers WHERE loyalty_tier = 'gold'",
            "SELECT city, name FROM customers WHERE loyalty_tier = 'gold' ORDER BY name DESC",
        ),
        (  # JOIN + DISTINCT against IN-subquery
            "SELECT DISTINCT c.name FROM customers c JOIN orders o "
            "ON o.customer_id = c.customer_id WHERE o.status = 'returned'",
            "SELECT name FROM customers WHERE customer_id IN "
            "(SELECT customer_id FROM orders WHERE status = 'returned')",
        ),
        (  # an ORDER BY inside a subquery does not make the outer result ordered
            "SELECT name FROM (SELECT name FROM products ORDER BY price LIMIT 8)",
            "SELECT name FROM (SELECT name FROM products ORDER BY price LIMIT 8) ORDER BY name",
        ),
    ],
)
def test_equivalent_queries_score_one(env: SQLEnv, cache: str, gold: str, equivalent: str) -> None:
    assert _outcome(env, _task(cache, gold), equivalent) == 1.0


def test_test_suite_catches_coincidental_matches(cache: str) -> None:
    gold = "SELECT COUNT(*) FROM customers WHERE city = 'Paris'"
    task = _task(cache, gold)
    with SafeDatabase(task.metadata["db_path"]) as db:
        ((count,),) = db.execute(gold).rows
    hardcoded = f"SELECT {count}"
    env = SQLEnv(cache_dir=cache, test_suite=3)
    assert _outcome(env, task, hardcoded) == 1.0  # one database cannot tell
    suite = tuple(str(build_database("retail", seed, cache)) for seed in (1, 2))
    suited = Task("t", "q", gold, {**task.metadata, "test_suite_paths": suite})
    assert _outcome(env, suited, hardcoded) == 0.0
    assert _outcome(env, suited, "SELECT COUNT(name) FROM customers WHERE city = 'Paris'") == 1.0
    env.reset(seed=4)
    generated = env.task
    assert generated is not None and len(generated.metadata["test_suite_paths"]) == 2
    *_, info = env.step(f"<solution>{generated.answer}</solution>")
    assert info["outcome"] == 1.0
    env.close()


def test_results_match_semantics() -> None:
    gold = [(1, "a", 2.0), (2, "b", 2.0), (3, "b", 1.0)]
    shuffled = [(2.0, 2, "b"), (1.0, 3, "b"), (2.0, 1, "a")]
    assert results_match(shuffled, gold)
    assert not results_match(shuffled, gold, ordered=True)
    assert results_match([(r[2], r[0], r[1]) for r in gold], gold, ordered=True)
    assert not results_match([*gold, gold[0]], gold)  # multiset, not set
    assert results_match([*gold, gold[0]], gold, mode="bird")  # BIRD: set semantics
    assert not results_match(shuffled, gold, mode="bird")  # BIRD keeps column order
    # Columns with equal values: the permutation search must try both pairings.
    assert results_match([(1, 1, 5), (2, 2, 6)], [(1, 1, 5), (2, 2, 6)])
    assert results_match([(0.30000000000000004,)], [(0.3,)], float_tol=1e-9)
    assert not results_match([(0.30000000000000004,)], [(0.3,)])
    assert results_match([], [])
    assert not results_match([(None,)], [])


# -- safety --------------------------------------------------------------------------------
WRITES = [
    "DROP TABLE customers",
    "DELETE FROM orders",
    "UPDATE products SET price = 0",
    "INSERT INTO customers (name) VALUES ('x')",
    "ATTACH DATABASE '{tmp}/attached.db' AS evil",
    "PRAGMA writable_schema = 1",
    "VACUUM INTO '{tmp}/copy.db'",
    "CREATE TABLE t (x)",
    "CREATE TEMP VIEW v AS SELECT 1",
    # past the statement check, only the authorizer stands in the way:
    "WITH q AS (SELECT 1) DELETE FROM orders",
    "SELECT load_extension('/tmp/evil')",
    "EXPLAIN DROP TABLE customers",
    "PRAGMA query_only = 0",
    "SELECT 1; DROP TABLE customers",
]


@pytest.mark.parametrize("write", WRITES)
def test_writes_are_refused_and_the_file_is_unchanged(
    env: SQLEnv, cache: str, tmp_path: Path, write: str
) -> None:
    task = _task(cache, "SELECT COUNT(*) FROM customers")
    path = task.metadata["db_path"]
    before = _sha(path)
    env.reset(options={"task": task})
    obs, reward, terminated, _truncated, info = env.step(f"<sql>{write.format(tmp=tmp_path)}</sql>")
    assert info["action_valid"] is False and "refused" in info["error"]
    assert "refused" in obs and not terminated and reward == 0.0
    # the solution path is guarded the same way
    *_, info = env.step(f"<solution>{write.format(tmp=tmp_path)}</solution>")
    assert info["outcome"] == 0.0 and "refused" in info["error"]
    assert _sha(path) == before
    assert list(tmp_path.iterdir()) == []  # nothing attached or vacuumed into existence
    with sqlite3.connect(path) as conn:  # the data are intact
        assert conn.execute("SELECT COUNT(*) FROM customers").fetchone() == (500,)


@pytest.mark.parametrize(
    "query",
    [
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000) "
        "SELECT COUNT(*) FROM c",
        "SELECT COUNT(*) FROM order_items a, order_items b, order_items c, order_items d",
    ],
)
def test_runaway_queries_are_stopped_and_the_episode_continues(cache: str, query: str) -> None:
    env = SQLEnv(cache_dir=cache, query_timeout=0.5)
    env.reset(options={"task": _task(cache, "SELECT COUNT(*) FROM orders")})
    start = time.perf_counter()
    _obs, _reward, terminated, truncated, info = env.step(f"<sql>{query}</sql>")
    assert time.perf_counter() - start < 1.5
    assert info["action_valid"] is False and "longer than 0.5 s" in info["error"]
    assert not terminated and not truncated
    *_, info = env.step("<solution>SELECT COUNT(*) FROM orders</solution>")
    assert info["outcome"] == 1.0
    env.close()


def test_default_time_bound_is_two_seconds(env: SQLEnv, cache: str) -> None:
    env.reset(options={"task": _task(cache, "SELECT 1")})
    query = "SELECT COUNT(*) FROM order_items a, order_items b, order_items c"
    start = time.perf_counter()
    *_, info = env.step(f"<sql>{query}</sql>")
    assert 1.5 < time.perf_counter() - start < 3.5
    assert "longer than 2 s" in info["error"]


def test_huge_values_and_results_are_capped(cache: str) -> None:
    with SafeDatabase(build_database("retail", 0, cache), max_rows=100) as db:
        with pytest.raises(Exception, match=r"too big|too large"):
            db.execute("SELECT zeroblob(100000000)")
        with pytest.raises(Exception, match="more than 100 rows"):
            db.execute("SELECT * FROM orders")
        assert len(db.execute("SELECT * FROM orders", truncate=True).rows) == 100


# -- seeding, snapshots, lifecycle ---------------------------------------------------------
def test_same_seed_same_databases_and_questions(cache: str, tmp_path: Path) -> None:
    other = tmp_path / "other"
    for schema in SCHEMAS:
        assert _sha(build_database(schema, 0, other)) == _sha(build_database(schema, 0, cache))
    assert _sha(build_database("retail", 1, other)) != _sha(build_database("retail", 0, cache))
    for seed in range(15):
        a = generate(SQLConfig(cache_dir=cache), seed)
        b = generate(SQLConfig(cache_dir=str(other)), seed)
        assert (a.id, a.prompt, a.answer) == (b.id, b.prompt, b.answer)
    env_a, env_b = SQLEnv(cache_dir=cache), SQLEnv(cache_dir=str(other))
    assert env_a.reset(seed=7)[0] == env_b.reset(seed=7)[0]
    env_a.close()
    env_b.close()


def test_concurrent_builds_are_atomic(tmp_path: Path) -> None:
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(build_database("library", 5, tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and [p.name for p in tmp_path.iterdir()] == [paths[0].name]
    with sqlite3.connect(paths[0]) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_get_state_set_state_reproduce(cache: str) -> None:
    env = SQLEnv(cache_dir=cache)
    env.reset(seed=11)
    env.step("<sql>SELECT COUNT(*) FROM sqlite_master</sql>")
    state = pickle.loads(pickle.dumps(env.get_state()))
    gold = f"<solution>{env.task.answer}</solution>"  # type: ignore[union-attr]
    first = env.step(gold)
    twin = SQLEnv(cache_dir=cache)
    twin.reset(seed=0)
    twin.set_state(state)
    second = twin.step(gold)
    assert first[:4] == second[:4] and first[4] == second[4]
    assert twin.transcript.render() == env.transcript.render()
    env.close()
    twin.close()


def test_close_is_idempotent_and_releases_connections(cache: str) -> None:
    env = SQLEnv(cache_dir=cache)
    env.reset(seed=0)
    env.step("<sql>SELECT 1</sql>")
    dbs = list(env.checker._dbs.values())
    assert dbs and not any(db.closed for db in dbs)
    env.close()
    env.close()
    assert all(db.closed for db in dbs) and not env.checker._dbs


# -- partial rewards -----------------------------------------------------------------------
def test_partial_reward_components(cache: str) -> None:
    assert ExportedScorer is SQLPartialReward
    scorer = SQLPartialReward()
    task = _task(cache, "SELECT name FROM customers WHERE city = 'Paris'")

    def ctx(action: str) -> StepContext:
        return StepContext("q", (), action, task=task)

    gold, wrong_filter, broken, bare, other_table, explored = scorer.score_components(
        [
            ctx("<solution>SELECT name FROM customers WHERE city = 'Paris'</solution>"),
            ctx("<solution>SELECT name FROM customers WHERE city = 'Oslo'</solution>"),
            ctx("<solution>SELEC name FRM customers</solution>"),
            ctx("SELECT customers.name FROM customers WHERE customers.city = 'Paris'"),
            ctx("<solution>SELECT name FROM products</solution>"),
            ctx("<sql>SELECT name FROM customers WHERE city = 'Paris'</sql>"),
        ]
    )
    assert gold == dict.fromkeys(SQLPartialReward.components, 1.0)
    assert wrong_filter["execution"] == 0.0 and wrong_filter["syntax"] == 1.0
    assert wrong_filter["schema_linking"] == 1.0 and 0.0 < wrong_filter["ngram"] < 1.0
    assert broken["syntax"] == 0.0 and broken["execution"] == 0.0
    assert bare["execution"] == 1.0 and bare["format"] == 0.0
    # F1 of {products, name} against {customers, name, city}: P = 1/2, R = 1/3
    assert other_table["schema_linking"] == pytest.approx(0.4)
    # Exploration is never scored against the gold, even when it is the gold query.
    assert explored == dict.fromkeys(SQLPartialReward.components, 0.0)
    scores = scorer.score([ctx("<solution>SELECT 1</solution>"), ctx("<sql>x</sql>")])
    assert scores.dtype == np.float32 and scores.shape == (2,)
    with pytest.raises(ValueError, match="task"):
        scorer.score([StepContext("q", (), "<sql>SELECT 1</sql>")])
    scorer.close()


def test_partial_reward_with_process_reward_wrapper(cache: str) -> None:
    env = ProcessReward(SQLEnv(cache_dir=cache), SQLPartialReward(), coef=0.5)
    env.reset(seed=2)
    gold = env.unwrapped.task.answer  # type: ignore[attr-defined]
    *_, info = env.step(f"<sql>{gold}</sql>")
    assert info["reward_components"] == {"outcome": 0.0, "process": 0.0}
    _, reward, terminated, _, info = env.step(f"<solution>{gold}</solution>")
    assert terminated and reward == pytest.approx(1.5)
    env.close()


# -- Spider / BIRD loader ------------------------------------------------------------------
def test_spider_and_bird_directories_load(tmp_path: Path) -> None:
    for name, db_dir, key in (("spider", "database", "query"), ("bird", "dev_databases", "SQL")):
        root = tmp_path / name
        (root / db_dir / "zoo").mkdir(parents=True)
        with sqlite3.connect(root / db_dir / "zoo" / "zoo.sqlite") as conn:
            conn.execute("CREATE TABLE animal (id INTEGER PRIMARY KEY, kind TEXT, legs INT)")
            conn.executemany(
                "INSERT INTO animal VALUES (?, ?, ?)", [(1, "cat", 4), (2, "emu", 2), (3, "ant", 6)]
            )
        (root / "tables.json").write_text(json.dumps([{"db_id": "zoo"}]))
        records = [
            {"db_id": "zoo", "question": "Which animals have 4 legs?",
             key: "SELECT kind FROM animal WHERE legs = 4", "evidence": "legs is a count"},
            {"db_id": "zoo", "question": "List kinds by legs.",
             key: "SELECT kind FROM animal ORDER BY legs"},
        ]  # fmt: skip
        (root / "dev.json").write_text(json.dumps(records))
        with sqlite3.connect(root / db_dir / "zoo" / "zoo_variant.sqlite") as conn:
            conn.execute("CREATE TABLE animal (id INTEGER PRIMARY KEY, kind TEXT, legs INT)")
            conn.execute("INSERT INTO animal VALUES (1, 'dog', 4)")
        suite = load_spider(root, test_suite=True)
        assert [Path(p).name for p in suite[0].metadata["test_suite_paths"]] == [
            "zoo_variant.sqlite"
        ]
        tasks = load_spider(root)
        assert [t.metadata["ordered"] for t in tasks] == [False, True]
        assert "CREATE TABLE animal" in tasks[0].prompt and "Hint: legs" in tasks[0].prompt
        env = SQLEnv(tasks=tasks)
        env.reset(options={"task_index": 1})
        *_, info = env.step("<solution>SELECT kind FROM animal ORDER BY legs DESC</solution>")
        assert info["outcome"] == 0.0
        env.reset(options={"task_index": 0})
        *_, info = env.step("<solution>SELECT kind AS k FROM animal WHERE legs > 3 AND legs < 5"
                            "</solution>")  # fmt: skip
        assert info["outcome"] == 1.0
        env.close()
