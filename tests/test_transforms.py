"""Reward transforms (PAR, log-sigmoid centring, Welford, VSRM, implicit step rewards) checked
against their formulas, and the transform/gate wrappers: the reward-components invariant, the
paper rules they implement, and that reward hacking by repeating a high-scoring step pays under
plain summation but not under min-form credit or gating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prm_gym  # noqa: F401  (registers prm/Math-v0)
from prm_gym.core import StepContext
from prm_gym.credit import (
    implicit_step_rewards,
    log_sigmoid_centering,
    min_form_rewards,
    par_transform,
    progress_from_values,
    vsrm_step_rewards,
    welford_update,
)
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import (
    GatedAccumulation,
    MinFormCredit,
    PosteriorGate,
    ProcessReward,
    RewardNormalize,
    RewardTransform,
)

finite = st.floats(-30, 30, allow_nan=False)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------------------------
# Pure functions against their definitions


@settings(max_examples=50, deadline=None)
@given(finite, st.lists(finite, min_size=1, max_size=5))
def test_par_is_mean_sigmoid_of_differences(r: float, refs: list[float]) -> None:
    expected = sum(sigmoid(r - m) for m in refs) / len(refs)
    assert float(par_transform(r, refs)) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= float(par_transform(r, refs)) <= 1.0


@settings(max_examples=50, deadline=None)
@given(finite, finite)
def test_log_sigmoid_centering_is_log_sigmoid(r: float, ref: float) -> None:
    value = float(log_sigmoid_centering(r, ref))
    assert value == pytest.approx(math.log(sigmoid(r - ref)), abs=1e-9)
    assert value <= 0.0


def test_par_per_element_references_and_errors() -> None:
    out = par_transform([0.0, 1.0], [[0.0, 2.0], [1.0, 1.0]])
    assert out.tolist() == pytest.approx([(0.5 + sigmoid(-2.0)) / 2, 0.5])
    with pytest.raises(ValueError):
        par_transform(0.0, [])


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20))
def test_welford_matches_numpy(values: list[float]) -> None:
    n, mean, m2 = 0, 0.0, 0.0
    for v in values:
        n, mean, m2 = welford_update(n, mean, m2, v)
    assert n == len(values)
    assert mean == pytest.approx(np.mean(values), abs=1e-9)
    assert m2 / n == pytest.approx(np.var(values), abs=1e-7)


def test_vsrm_hand_computed() -> None:
    # acc: 0.5 → 0.5 (flat) → 0.5 (flat) → 1.0 → 0.0
    acc = [0.5, 0.5, 0.5, 1.0, 0.0]
    out = vsrm_step_rewards(acc, lookahead=4, discount=0.7)
    assert out.tolist() == pytest.approx([0.7**2 * 0.5, 0.7 * 0.5, 0.5, -1.0])
    # A change farther than the look-ahead is not seen; a trailing flat step stays 0.
    assert vsrm_step_rewards([0, 0, 0, 1], lookahead=1).tolist() == pytest.approx([0, 0.7, 1])
    assert vsrm_step_rewards([1, 0, 0]).tolist() == [-1.0, 0.0]


def test_progress_telescopes() -> None:
    values = np.array([0.25, 0.5, 0.0, 1.0])
    assert progress_from_values(values).tolist() == [0.25, -0.5, 1.0]
    assert progress_from_values(values).sum() == values[-1] - values[0]


def test_implicit_step_rewards_single_and_accumulative() -> None:
    q = np.array([1.0, -2.0, 0.5, 3.0])
    ends = [1, 3, 4]  # steps: tokens [0], [1, 2], [3]
    acc = implicit_step_rewards(q, ends, beta=0.1, mode="accumulative")
    assert acc.tolist() == pytest.approx([0.1, 0.1 * (1 - 2 + 0.5), 0.1 * 2.5])
    single = implicit_step_rewards(q, ends, beta=0.1, mode="single")
    assert single.tolist() == pytest.approx([0.1, 0.1 * -1.5, 0.1 * 3.0])
    assert single.sum() == pytest.approx(acc[-1])


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=1, max_size=12), st.data())
def test_implicit_single_steps_sum_to_accumulative(q: list[float], data: st.DataObject) -> None:
    ends = sorted(data.draw(st.lists(st.integers(0, len(q)), min_size=1, max_size=5)))
    single = implicit_step_rewards(q, ends, beta=0.05, mode="single")
    accumulative = implicit_step_rewards(q, ends, beta=0.05, mode="accumulative")
    np.testing.assert_allclose(np.cumsum(single), accumulative, atol=1e-9)
    assert accumulative[-1] == pytest.approx(0.05 * sum(q[: ends[-1]]), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=2, max_size=10))
def test_vsrm_keeps_every_nonflat_step(acc: list[float]) -> None:
    diffs = np.diff(acc)
    out = vsrm_step_rewards(acc)
    np.testing.assert_array_equal(out[diffs != 0], diffs[diffs != 0])
    assert np.all(np.abs(out) <= np.abs(diffs).max(initial=0.0) + 1e-12)


# --------------------------------------------------------------------------------------------
# Wrappers on prm/Math-v0


def math_env(max_steps: int = 16) -> gym.Env[Any, Any]:
    return gym.make("prm/Math-v0", max_steps=max_steps)


def play(env: gym.Env[Any, Any], actions: list[str] | None, seed: int = 0) -> dict[str, Any]:
    """Play ``actions`` (default: the gold solution) and return totals and the last info."""
    env.reset(seed=seed)
    steps = actions if actions is not None else env.unwrapped.task.metadata["gold_steps"]
    total, infos = 0.0, []
    for action in steps:
        _, reward, terminated, truncated, info = env.step(action)
        assert sum(info["reward_components"].values()) == pytest.approx(float(reward))
        total += float(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return {"total": total, "info": infos[-1], "infos": infos}


def test_posterior_gate_is_gated_accumulation_on_success() -> None:
    for seed in range(3):
        a = play(PosteriorGate(ProcessReward(math_env(), RuleVerifier(), coef=0.1)), None, seed)
        b = play(GatedAccumulation(ProcessReward(math_env(), RuleVerifier(), coef=0.1)), None, seed)
        assert a["total"] == pytest.approx(b["total"])
        assert a["info"]["step_rewards"] == pytest.approx(b["info"]["step_rewards"])
        assert a["info"]["gate_open"] is True
    failed = play(PosteriorGate(ProcessReward(math_env(), RuleVerifier())), ["\\boxed{-12345}"])
    assert failed["info"]["gate_open"] is False
    assert failed["total"] == 0.0


def test_reward_transform_replaces_component_by_formula() -> None:
    refs = [0.0, 0.5, 2.0]
    for kind in ("par", "log_sigmoid"):
        env = RewardTransform(ProcessReward(math_env(), RuleVerifier()), refs, kind=kind)
        run = play(env, None)
        for info in run["infos"]:
            comps = info["reward_components"]
            r = comps["process"]
            if kind == "par":
                expected = sum(sigmoid(r - m) for m in refs) / 3
            else:
                expected = math.log(sigmoid(r - np.mean(refs)))
            assert comps["process"] + comps["transform"] == pytest.approx(expected)


def test_reward_normalize_running_stats_and_clip() -> None:
    env = RewardNormalize(ProcessReward(math_env(), RuleVerifier()), clip=1.5)
    seen: list[float] = []
    for seed in range(3):
        for info in play(env, None, seed)["infos"]:
            comps = info["reward_components"]
            seen.append(comps["process"])
            mean, std = np.mean(seen), math.sqrt(np.var(seen) + 1e-8)
            expected = float(np.clip((seen[-1] - mean) / std, -1.5, 1.5))
            assert comps["process"] + comps["normalize"] == pytest.approx(expected, abs=1e-9)
    assert env.count == len(seen)


def test_min_form_credit_pays_pure_rewards_at_the_end() -> None:
    env = MinFormCredit(ProcessReward(math_env(), RuleVerifier(), coef=0.5))
    run = play(env, None)
    processes = [i["reward_components"]["process"] for i in run["infos"]]
    shaped = min_form_rewards(processes, 0.1)
    # Nothing of the process term reaches the learner before the final step.
    for info in run["infos"][:-1]:
        assert info["reward_components"]["min_form"] == -info["reward_components"]["process"]
    assert run["total"] == pytest.approx(1.0 + shaped.sum())
    outcome = [0.0] * (len(processes) - 1) + [1.0]
    assert run["info"]["step_rewards"] == pytest.approx((np.array(outcome) + shaped).tolist())


# --------------------------------------------------------------------------------------------
# Reward hacking: repeat a step the scorer likes and never answer


class EveryStep:
    """+1 for every step: RuleVerifier no longer pays repeats, this scorer still does."""

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.ones(len(contexts))


def hack_actions(repeats: int) -> list[str]:
    probe = math_env()
    probe.reset(seed=0)
    return [probe.unwrapped.task.metadata["gold_steps"][0]] * repeats


@pytest.mark.parametrize("wrap", ["sum", "min_form", "gate", "posterior"])
def test_repeating_a_good_step_pays_only_under_summation(wrap: str) -> None:
    def make(max_steps: int = 16) -> gym.Env[Any, Any]:
        # A presence scorer (+1 per step): the per-step credit a repeating policy farms.
        env: gym.Env[Any, Any] = ProcessReward(math_env(max_steps), EveryStep(), coef=0.25)
        if wrap == "min_form":
            env = MinFormCredit(env)
        elif wrap == "gate":
            env = GatedAccumulation(env)
        elif wrap == "posterior":
            env = PosteriorGate(env)
        return env

    honest = play(make(), None)["total"]
    # The hacker never answers: its episodes truncate after 2 or after 16 repeats.
    short_hack = play(make(max_steps=2), hack_actions(2))["total"]
    long_hack = play(make(max_steps=16), hack_actions(16))["total"]
    if wrap == "sum":
        assert long_hack > short_hack and long_hack > honest  # hacking is measurable
    else:
        assert long_hack <= short_hack + 1e-9  # more repeats gain nothing
        assert long_hack < honest  # and never beat solving the task
