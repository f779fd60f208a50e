"""prm/SQL-v0 reward integrity: exploration is never scored, partial credit is paid once on the
submission, schema linking is precision-aware, and no hack beats the gold under make_dense."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym
from prm_gym.core import StepContext
from prm_gym.core.assets import family_assets
from prm_gym.envs.sql import SCHEMAS, SQLEnv, build_database
from prm_gym.envs.sql.assets import ASSETS, DEFAULT_COEF, REPEAT_SHARE
from prm_gym.envs.sql.hacks import HACKS, schema_dump_query
from prm_gym.envs.sql.rewards import (
    SQLPartialReward,
    SQLProgress,
    SQLRepeatPenalty,
    schema_f1,
    schema_items,
)
from prm_gym.rewards import SQLProgress as ExportedProgress
from prm_gym.testing import check_reward_integrity
from prm_gym.wrappers import GatedAccumulation, ProcessReward


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("sql-integrity-cache")
    for schema in SCHEMAS:
        build_database(schema, 0, root)
    return str(root)


def _play(env: gym.Env[Any, Any], actions: list[str], seed: int = 0) -> tuple[float, list[Any]]:
    env.reset(seed=seed)
    total, infos = 0.0, []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return total, infos


def test_assets_are_registered() -> None:
    assert family_assets("prm/SQL-v0") is ASSETS
    assert ExportedProgress is SQLProgress
    assert set(ASSETS.hack_policies) == set(HACKS)


def test_exploration_is_never_scored_against_the_gold(cache: str) -> None:
    env = SQLEnv(cache_dir=cache)
    env.reset(seed=4)
    task = env.unwrapped.task
    gold = str(task.answer)
    scorer, measure = SQLPartialReward(), SQLProgress()
    explore = StepContext("q", (), f"<sql>{gold}</sql>", task=task)
    submit = StepContext("q", (f"<sql>{gold}</sql>",), f"<solution>{gold}</solution>", task=task)
    assert scorer.score([explore, submit]).tolist() == [0.0, 1.0]
    assert measure.progress([explore, submit]).tolist() == [0.0, 1.0]
    # The gold query explored and a wrong query explored pay the same: nothing.
    dense = ASSETS.make_dense(SQLEnv(cache_dir=cache), coef=1.0)
    for query in (gold, "SELECT 1"):
        dense.reset(seed=4)
        *_, info = dense.step(f"<sql>{query}</sql>")
        assert info["reward_components"] == {"outcome": 0.0, "progress": 0.0, "repeat": 0.0}
    scorer.close()
    measure.close()
    dense.close()
    env.close()


def test_stalling_with_the_right_query_no_longer_pays(cache: str) -> None:
    """Measured before the fix: 6.0 (stall) vs 2.0 (gold) under the gated raw stack."""
    for make in (
        lambda: GatedAccumulation(ProcessReward(SQLEnv(cache_dir=cache), SQLPartialReward())),
        lambda: ProcessReward(SQLEnv(cache_dir=cache), SQLPartialReward()),
    ):
        env = make()
        env.reset(seed=1)
        gold = env.unwrapped.task.answer
        gold_return, _ = _play(env, [f"<solution>{gold}</solution>"], seed=1)
        stall_return, _ = _play(env, [f"<sql>{gold}</sql>"] * 4 + [f"<solution>{gold}</solution>"],
                                seed=1)  # fmt: skip
        assert gold_return == pytest.approx(2.0) and stall_return == pytest.approx(2.0)
        env.close()
    dense = prm_gym.make_dense("prm/SQL-v0", coef=1.0, cache_dir=cache)
    dense.reset(seed=1)
    gold = dense.unwrapped.task.answer
    gold_return, _ = _play(dense, [f"<solution>{gold}</solution>"], seed=1)
    stall_return, infos = _play(
        dense, [f"<sql>{gold}</sql>"] * 4 + [f"<solution>{gold}</solution>"], seed=1
    )
    assert gold_return == pytest.approx(2.0)
    assert [i["reward_components"]["repeat"] for i in infos] == [0.0, -REPEAT_SHARE,
                                                                 -REPEAT_SHARE, -REPEAT_SHARE,
                                                                 0.0]  # fmt: skip
    assert stall_return == pytest.approx(2.0 - 3 * REPEAT_SHARE)
    dense.close()


def test_schema_linking_is_precision_aware(cache: str) -> None:
    path = str(build_database("retail", 0, cache))
    dump = schema_dump_query(path)
    gold = "SELECT name FROM customers WHERE city = 'Paris'"
    gold_items, dump_items = schema_items(gold), schema_items(dump)
    assert gold_items is not None and dump_items is not None
    assert gold_items <= dump_items and len(dump_items) > 5 * len(gold_items)  # full recall
    assert schema_f1(dump_items, gold_items) < 0.3
    assert schema_f1(gold_items, gold_items) == 1.0 and schema_f1(frozenset(), frozenset()) == 1.0
    # The dump runs at once (WHERE 0) and scores far below the gold as a submission.
    from prm_gym.core import Task

    task = Task("t", "q", gold, {"db_path": path})
    scorer = SQLPartialReward()
    start = time.perf_counter()
    (row,) = scorer.score_components([StepContext("q", (), f"<solution>{dump}</solution>",
                                                  task=task)])  # fmt: skip
    assert time.perf_counter() - start < 2.0
    assert row["syntax"] == 1.0 and row["execution"] == 0.0 and row["schema_linking"] < 0.3
    # Old rule (recall): 0.15 + 0.1 + 0.05 + n-gram >= 0.30 on every step; now exploring pays 0.
    assert float(scorer.score([StepContext("q", (), f"<sql>{dump}</sql>", task=task)])[0]) == 0.0
    scorer.close()


def test_repeat_penalty_charges_only_repeated_exploration() -> None:
    steps = [
        "<sql>SELECT a FROM t</sql>",
        "<sql>SELECT b FROM t</sql>",
        "<sql>select  A from T;</sql>",
        "<sql>oops</sql>",
        "<solution>SELECT a FROM t</solution>",
    ]
    contexts = [StepContext("q", tuple(steps[:i]), s) for i, s in enumerate(steps)]
    scores = SQLRepeatPenalty().score(contexts)
    assert scores.tolist() == [0.0, 0.0, -1.0, 0.0, 0.0]
    assert (scores <= 0).all()


def test_progress_is_paid_once_on_the_submission(cache: str) -> None:
    env = prm_gym.make_dense("prm/SQL-v0", cache_dir=cache)
    env.reset(seed=3)
    gold = env.unwrapped.task.answer
    total, infos = _play(env, ["<sql>SELECT 1</sql>", f"<solution>{gold}</solution>"], seed=3)
    assert [i["reward_components"]["progress"] for i in infos] == [0.0, DEFAULT_COEF]
    assert total == pytest.approx(1.0 + DEFAULT_COEF)
    # A wrong submission earns partial credit strictly below the right one, and no outcome.
    total, infos = _play(env, ["<solution>SELECT 1</solution>"], seed=3)
    assert 0.0 <= infos[-1]["reward_components"]["progress"] < DEFAULT_COEF
    assert infos[-1]["outcome"] == 0.0
    env.close()


def test_every_hack_stays_below_the_gold_under_make_dense(cache: str) -> None:
    report = check_reward_integrity(
        "prm/SQL-v0", episodes=30, coefs=(None, 0.1, 1.0), env_kwargs={"cache_dir": cache}
    )
    assert report.ok, str(report)
    golds = [r for r in report.rows if r.is_gold]
    assert all(r.success_rate == 1.0 for r in golds)
    hacks = {r.policy for r in report.rows if not r.is_gold}
    assert hacks == set(HACKS)
    assert np.isclose(report.gold("dense", None).mean_return, 1.0 + DEFAULT_COEF)
