"""Vector reward wrappers: one batched call per step, same rewards as the single-env wrappers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import prm_gym  # noqa: F401
from prm_gym.core import StepContext
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import GatedAccumulation, PotentialShaping, ProcessReward
from prm_gym.wrappers.vector import VectorPotentialShaping, VectorProcessReward


class CountingScorer:
    """A RuleVerifier that records the size of every batch it is asked to score."""

    def __init__(self) -> None:
        self.inner = RuleVerifier()
        self.batches: list[int] = []

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        self.batches.append(len(contexts))
        return self.inner.score(contexts)


def _policy(rng: np.random.Generator, gold: list[str], t: int) -> str:
    choice = rng.random()
    if choice < 0.5 and t < len(gold):
        return gold[t]
    if choice < 0.65:
        return "Step: 2 * 3 = 7"
    if choice < 0.8:
        return ""
    if choice < 0.9:
        return "\\boxed{12345}"
    return "Let me think."


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_process_reward_matches_single_env_and_batches(mode: AutoresetMode) -> None:
    n, steps, seed = 3, 60, 7
    scorer = CountingScorer()
    envs = VectorProcessReward(
        gym.make_vec(
            "prm/Math-v0",
            num_envs=n,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": mode},
            max_steps=6,
        ),
        scorer,
        coef=0.5,
    )
    envs.reset(seed=seed)
    rng = np.random.default_rng(0)
    t = [0] * n
    actions_log: list[list[str]] = [[] for _ in range(n)]
    rewards_log: list[list[float]] = [[] for _ in range(n)]
    pending = np.zeros(n, dtype=bool)
    for _ in range(steps):
        golds = [list(task.metadata["gold_steps"]) for task in envs.env.get_attr("task")]
        actions = tuple(_policy(rng, golds[i], t[i]) for i in range(n))
        _, rewards, terminated, truncated, info = envs.step(actions)
        comps = info["reward_components"]
        assert np.allclose(rewards, comps["outcome"] + comps["process"])
        done = np.logical_or(terminated, truncated)
        for i in range(n):
            if pending[i]:  # autoreset step: action ignored, nothing scored
                assert rewards[i] == 0.0
                actions_log[i].append("<reset>")
                t[i] = 0
            else:
                actions_log[i].append(actions[i])
                rewards_log[i].append(float(rewards[i]))
                t[i] += 1
                if done[i] and mode == AutoresetMode.SAME_STEP:  # reset within this step
                    actions_log[i].append("<reset>")
                    t[i] = 0
        if mode == AutoresetMode.NEXT_STEP:
            pending = done
    # one scorer call per vector step that had anything to score
    assert len(scorer.batches) <= steps and max(scorer.batches) > 1

    for i in range(n):
        single = ProcessReward(gym.make("prm/Math-v0", max_steps=6), RuleVerifier(), coef=0.5)
        single.reset(seed=seed + i)
        expected = []
        for action in actions_log[i]:
            if action == "<reset>":
                single.reset()
                continue
            _, reward, *_ = single.step(action)
            expected.append(float(reward))
        assert expected == pytest.approx(rewards_log[i])


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_process_reward_single_turn_substeps(mode: AutoresetMode) -> None:
    envs = VectorProcessReward(
        gym.make_vec(
            "prm/Math-v0",
            num_envs=2,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": mode},
            single_turn=True,
        ),
        RuleVerifier(),
    )
    envs.reset(seed=0)
    golds = [list(task.metadata["gold_steps"]) for task in envs.env.get_attr("task")]
    solutions = (
        "\n".join(golds[0]),
        "Step 1: 2 + 2 = 5\nStep 2: 1 + 1 = 2\nStep 3: \\boxed{12345}",
    )
    _, _, terminated, _, info = envs.step(solutions)
    assert terminated.all()
    assert info["reward_components"]["process"][0] == 1.0
    # false claim, constants-only true claim (no new work: 0), wrong answer: mean(-1, 0, -1)
    assert info["reward_components"]["process"][1] == pytest.approx(-2 / 3)


class BatchCountingPotential:
    """Φ(s) = −|pole angle|, with a batched method whose calls are counted."""

    def __init__(self) -> None:
        self.batch_calls = 0

    def __call__(self, obs: Any, info: Any) -> float:
        return -abs(float(obs[2])) * 10

    def batch(self, observations: Any) -> np.ndarray:
        self.batch_calls += 1
        return -np.abs(np.asarray(observations, dtype=np.float64)[:, 2]) * 10


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_shaping_matches_single_env(mode: AutoresetMode) -> None:
    n, seed, gamma = 4, 3, 0.9
    potential = BatchCountingPotential()
    envs = VectorPotentialShaping(
        gym.make_vec(
            "CartPole-v1",
            num_envs=n,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": mode},
        ),
        potential,
        gamma=gamma,
    )
    envs.reset(seed=seed)
    rng = np.random.default_rng(1)
    logs: list[list[tuple[int | None, float]]] = [[] for _ in range(n)]
    pending = np.zeros(n, dtype=bool)
    steps = 150
    for _ in range(steps):
        actions = rng.integers(0, 2, size=n)
        _, rewards, terminated, truncated, info = envs.step(actions)
        comps = info["reward_components"]
        assert np.allclose(rewards, comps["outcome"] + comps["shaping"])
        for i in range(n):
            if pending[i]:
                assert comps["shaping"][i] == 0.0
                logs[i].append((None, 0.0))
            else:
                logs[i].append((int(actions[i]), float(comps["shaping"][i])))
        pending = (
            np.logical_or(terminated, truncated) if mode == AutoresetMode.NEXT_STEP else pending
        )
    assert potential.batch_calls == steps + 1  # one batched Φ per step (+ reset)
    for i in range(n):
        single = PotentialShaping(gym.make("CartPole-v1"), potential, gamma=gamma)
        single.reset(seed=seed + i)
        for action, shaping in logs[i]:
            if action is None:
                single.reset()
                continue
            *_, terminated, truncated, info = single.step(action)
            assert info["reward_components"]["shaping"] == pytest.approx(shaping)
            if (terminated or truncated) and mode == AutoresetMode.SAME_STEP:
                single.reset()


def test_vector_shaping_fallback_without_batch() -> None:
    envs = VectorPotentialShaping(
        gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"),
        lambda obs, info: float(obs[0]),
        gamma=1.0,
    )
    obs, _ = envs.reset(seed=0)
    phi0 = obs[:, 0].copy()
    obs, _, terminated, _, info = envs.step(np.array([0, 1]))
    expected = np.where(terminated, 0.0, obs[:, 0]) - phi0
    assert np.allclose(info["reward_components"]["shaping"], expected)


@pytest.mark.parametrize("outer", ["shaping", "process"])
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_per_step_wrapper_outside_sub_env_gate_extends_its_step_rewards(
    mode: AutoresetMode, outer: str
) -> None:
    """A sub-env's GatedAccumulation publishes step_rewards; a vector per-step wrapper outside
    adds its own per-step terms there, so they still sum to what the learner received."""
    n = 2

    def make() -> gym.Env[Any, Any]:
        return GatedAccumulation(ProcessReward(gym.make("prm/Math-v0"), RuleVerifier()))

    vec = gym.vector.SyncVectorEnv([make] * n, autoreset_mode=mode)
    envs: Any = (
        VectorPotentialShaping(vec, lambda obs, info: 0.01 * len(str(obs)), gamma=1.0)
        if outer == "shaping"
        else VectorProcessReward(vec, RuleVerifier(), coef=0.5)
    )
    envs.reset(seed=0)
    subs = envs.unwrapped.envs  # type: ignore[attr-defined]
    gold = [e.unwrapped.task.metadata["gold_steps"] for e in subs]
    totals = np.zeros(n)
    for t in range(max(len(g) for g in gold)):
        actions = tuple(g[min(t, len(g) - 1)] for g in gold)
        _, rewards, terminated, truncated, info = envs.step(actions)
        totals += rewards
        done = np.logical_or(terminated, truncated)
        for i in np.flatnonzero(done):
            where = info["final_info"] if mode == AutoresetMode.SAME_STEP else info
            if np.isnan(totals[i]):
                continue
            assert sum(where["step_rewards"][i]) == pytest.approx(totals[i])
            totals[i] = np.nan  # one episode per sub-env is checked
    assert np.isnan(totals).all()


class Unpicklable:
    """A stateful potential that cannot be deep-copied (it holds a generator)."""

    def __init__(self) -> None:
        self.handle = (x for x in range(3))

    def reset(self) -> None:
        pass

    def __call__(self, obs: Any, info: Any) -> float:
        return 0.0


def test_vector_shaping_stateful_potential_must_be_copyable() -> None:
    with pytest.raises(TypeError, match="deepcopy"):
        VectorPotentialShaping(
            gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"), Unpicklable()
        )


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_shaping_outside_vector_attribution_extends_its_step_rewards(
    mode: AutoresetMode,
) -> None:
    from prm_gym.rewards.spa import VectorProgressEstimator
    from prm_gym.wrappers.vector import VectorProgressAttribution

    est = VectorProgressEstimator(hidden=(4,))
    est.fit([np.ones((3, 8)), np.zeros((2, 8))], [1.0, 0.0], epochs=2)
    n = 2
    envs = VectorPotentialShaping(
        VectorProgressAttribution(
            gym.make_vec(
                "CartPole-v1",
                num_envs=n,
                vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": mode},
            ),
            est,
            beta=0.1,
        ),
        lambda obs, info: 10.0 * float(obs[0]),
        gamma=1.0,
    )
    envs.reset(seed=0)
    totals, checked = np.zeros(n), np.zeros(n, dtype=bool)
    pending = np.zeros(n, dtype=bool)
    rng = np.random.default_rng(0)
    for _ in range(200):
        _, rewards, terminated, truncated, info = envs.step(rng.integers(0, 2, size=n))
        totals += np.where(pending, 0.0, rewards)
        done = np.logical_or(terminated, truncated)
        for i in np.flatnonzero(done & ~checked):
            assert sum(info["step_rewards"][i]) == pytest.approx(totals[i], abs=1e-9)
            checked[i] = True
        pending = done if mode == AutoresetMode.NEXT_STEP else pending
        if checked.all():
            break
    assert checked.all()
