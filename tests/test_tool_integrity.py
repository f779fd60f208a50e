"""prm/ToolUse-v0 reward integrity: ToolRL's multiset rule as upstream, an answer turn worth 0,
progress paid once per gold call, no per-step scorer farmable by repetition, and no hack beating
the gold under make_dense."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import prm_gym
from prm_gym.core import StepContext, Task
from prm_gym.core.assets import family_assets
from prm_gym.envs.tools import format_call
from prm_gym.envs.tools.assets import ASSETS, DEFAULT_COEF, EFFICIENCY_SHARE
from prm_gym.envs.tools.hacks import HACKS
from prm_gym.envs.tools.rewards import (
    ToolCallASTMatch,
    ToolEfficiency,
    ToolProgress,
    ToolRLReward,
    covered_gold,
    toolrl_correctness,
    toolrl_match_score,
)
from prm_gym.rewards import ToolProgress as ExportedProgress
from prm_gym.testing import check_reward_integrity

ADD = {"name": "add_days", "parameters": {"date": "2025-01-01", "days": 3}}
WEATHER = {"name": "get_weather", "parameters": {"city": "Paris", "date": "2025-01-04"}}


def _contexts(steps: list[str], task: Task) -> list[StepContext]:
    return [StepContext(task.prompt, tuple(steps[:i]), s, task=task) for i, s in enumerate(steps)]


def test_assets_are_registered() -> None:
    assert family_assets("prm/ToolUse-v0") is ASSETS
    assert ExportedProgress is ToolProgress


def test_toolrl_name_score_is_a_multiset_as_upstream() -> None:
    assert toolrl_match_score(["a"] * 10, ["a"]) == pytest.approx(0.1)
    assert toolrl_match_score(["a", "b"], ["b", "a"]) == 1.0
    assert toolrl_match_score(["a", "a", "b"], ["a", "c"]) == pytest.approx(1 / 4)
    assert toolrl_match_score([], ["a"]) == 0.0 and toolrl_match_score([], []) == 1.0
    # The same call ten times against one gold call with two parameters:
    # S = 1/10 (names) + 1 (keys) + 2 (values) = 3.1, S_max = 1 + 3 = 4, R = 6 · 3.1/4 − 3.
    assert toolrl_correctness([ADD] * 10, [ADD]) == pytest.approx(1.65)
    assert toolrl_correctness([ADD], [ADD]) == 3.0
    task = Task("t", "q", {"calls": [ADD], "answer": "2025-01-04"})
    (row,) = ToolRLReward().score_components(_contexts([format_call(ADD) * 10], task))
    assert row == {"format": 1.0, "correctness": pytest.approx(1.65)}


def test_answer_turn_earns_no_correctness() -> None:
    task = Task("t", "q", {"calls": [ADD], "answer": "2025-01-04"})
    steps = [format_call(ADD), "<answer>2025-01-04</answer>"]
    call_row, answer_row = ToolRLReward().score_components(_contexts(steps, task))
    assert call_row == {"format": 1.0, "correctness": 3.0}
    assert answer_row == {"format": 1.0, "correctness": 0.0}  # upstream: 0 (it was +3)
    (early,) = ToolRLReward().score_components(_contexts(["<answer>7</answer>"], task))
    assert early == {"format": 0.0, "correctness": -3.0}  # answering while a call is pending
    # A call after every gold call is made: the turn expects an answer.
    (late,) = ToolRLReward().score_components(
        [StepContext("q", (format_call(ADD),), format_call(ADD), task=task)]
    )
    assert late == {"format": 0.0, "correctness": 0.0}


def test_tool_progress_counts_each_gold_call_once() -> None:
    task = Task("t", "q", {"calls": [ADD, WEATHER], "answer": 7})
    a, w = format_call(ADD), format_call(WEATHER)
    measure = ToolProgress()
    phi = measure.progress(_contexts([a, a, a + a, w, w, "<answer>7</answer>"], task))
    assert phi.tolist() == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    # Duplicates in one action cover one gold call; a multiset gold needs each copy made.
    twice = Task("t", "q", {"calls": [ADD, ADD], "answer": 7})
    assert measure.progress(_contexts([a + a + a], twice)).tolist() == [1.0]
    assert measure.progress(_contexts([a, a], twice)).tolist() == [0.5, 1.0]
    # BFCL-style normalisation: a string that differs in case, spaces or dashes still counts.
    search = {"name": "search_knowledge", "parameters": {"query": "Velmora Tower"}}
    variant = {"name": "search_knowledge", "parameters": {"query": "velmora-tower"}}
    gold = Task("t", "q", {"calls": [search], "answer": 1})
    assert measure.progress(_contexts([format_call(variant)], gold)).tolist() == [1.0]
    wrong = {"name": "search_knowledge", "parameters": {"query": "Velmora"}}
    assert measure.progress(_contexts([format_call(wrong)], gold)).tolist() == [0.0]
    assert covered_gold([ADD, ADD], [ADD, WEATHER]) == [True, False]
    # No gold calls: nothing to measure.
    empty = Task("t", "q", {"calls": [], "answer": 1})
    assert measure.progress(_contexts(["<answer>1</answer>"], empty)).tolist() == [0.0]


def test_ast_match_is_not_farmable_by_repeating_a_normalised_variant() -> None:
    search = {"name": "search_knowledge", "parameters": {"query": "Velmora Tower"}}
    variant = format_call({"name": "search_knowledge", "parameters": {"query": "velmora-tower"}})
    task = Task("t", "q", {"calls": [search], "answer": 1})
    scores = ToolCallASTMatch().score(_contexts([variant] * 4 + ["<answer>1</answer>"], task))
    assert scores.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]
    rl = ToolRLReward().score(_contexts([variant] * 3, task))
    assert rl[1] == rl[2] == 0.0  # covered: the next turns expect the answer


def test_efficiency_is_never_positive_and_allows_the_gold_multiset() -> None:
    a, w = format_call(ADD), format_call(WEATHER)
    task = Task("t", "q", {"calls": [ADD, ADD, WEATHER], "answer": 7})
    scores = ToolEfficiency().score(_contexts([a, a, a, w, w + w, "<answer>7</answer>"], task))
    # the third copy of ADD repeats beyond the gold's two; WEATHER again repeats and exceeds
    assert scores.tolist() == [0.0, 0.0, -1.0, 0.0, -3.0, 0.0]
    assert (scores <= 0).all()


def test_spamming_one_call_under_make_dense_pays_once() -> None:
    env = prm_gym.make_dense("prm/ToolUse-v0", coef=1.0, levels=(2,))
    env.reset(seed=0)
    gold = env.unwrapped.task.answer
    first = format_call(gold["calls"][0])
    *_, info = env.step(first * 10)
    assert info["reward_components"]["progress"] == pytest.approx(0.5)
    # nine repeats (−1 each) and eight calls beyond the two pending (−0.5 each)
    assert info["reward_components"]["efficiency"] == pytest.approx(-13 * EFFICIENCY_SHARE)
    *_, info = env.step(first)
    assert info["reward_components"]["progress"] == 0.0
    env.close()


def _episode(env: Any, actions: list[str], seed: int) -> float:
    env.reset(seed=seed)
    total = 0.0
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            break
    return total


def test_gold_return_is_outcome_plus_coef() -> None:
    env = prm_gym.make_dense("prm/ToolUse-v0")
    env.reset(seed=5)
    gold = env.unwrapped.task.answer
    steps = [format_call(c) for c in gold["calls"]] + [f"<answer>{gold['answer']}</answer>"]
    assert _episode(env, steps, 5) == pytest.approx(1.0 + DEFAULT_COEF)
    env.close()


def test_every_hack_stays_below_the_gold_under_make_dense() -> None:
    report = check_reward_integrity("prm/ToolUse-v0", episodes=30, coefs=(None, 0.1, 1.0))
    assert report.ok, str(report)
    assert {r.policy for r in report.rows if not r.is_gold} == set(HACKS)
    for coef in (None, 0.1, 1.0):
        gold = report.gold("dense", coef)
        assert gold.success_rate == 1.0
        assert np.isclose(gold.mean_return, 1.0 + (DEFAULT_COEF if coef is None else coef))
