"""Vector ProgressAttribution and RewardCodeShaping give each sub-env the single-env rewards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import prm_gym  # noqa: E402, F401  (registers the prm/* ids)
from prm_gym.rewards.spa import VectorProgressEstimator  # noqa: E402
from prm_gym.wrappers import ProgressAttribution, RewardCodeShaping  # noqa: E402
from prm_gym.wrappers.vector import (  # noqa: E402
    VectorProgressAttribution,
    VectorRewardCodeShaping,
)

N_ENVS = 3
SEED = 7


class CountingEstimator:
    """Wraps an estimator and counts its batched calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_calls = 0

    def step_features(self, previous_obs: Any, obs: Any) -> np.ndarray:
        return np.asarray(self.inner.step_features(previous_obs, obs))

    def contributions(self, trajectory: Any) -> np.ndarray:
        return np.asarray(self.inner.contributions(trajectory))

    def contributions_batch(self, trajectories: Sequence[Any]) -> list[np.ndarray]:
        self.batch_calls += 1
        return list(self.inner.contributions_batch(trajectories))


@pytest.fixture(scope="module")
def cartpole_estimator() -> VectorProgressEstimator:
    rng = np.random.default_rng(0)
    trajs = [rng.normal(size=(int(rng.integers(2, 20)), 8)) for _ in range(50)]
    outcomes = [float(np.tanh(t[:, 2]).sum()) for t in trajs]
    est = VectorProgressEstimator(hidden=(16,))
    est.fit(trajs, outcomes, epochs=5, seed=0)
    return est


def run_vector(
    envs: gym.vector.VectorEnv[Any, Any, Any], actions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Rewards (steps, envs), done flags (steps, envs) and infos of a vector run."""
    envs.reset(seed=SEED)
    rewards, dones, infos = [], [], []
    for a in actions:
        _, r, terminated, truncated, info = envs.step(a)
        comps = info["reward_components"]
        np.testing.assert_allclose(r, sum(v for k, v in comps.items() if not k.startswith("_")))
        rewards.append(np.asarray(r, dtype=np.float64))
        dones.append(np.logical_or(terminated, truncated))
        infos.append(info)
    return np.stack(rewards), np.stack(dones), infos


def run_single(
    make: Callable[[], gym.Env[Any, Any]],
    i: int,
    actions: np.ndarray,
    mode: AutoresetMode,
) -> tuple[np.ndarray, dict[int, list[float]]]:
    """Sub-env ``i``'s rewards as the single-env wrapper gives them, replaying the vector run.

    The sub-env of a sync vector env resets with ``SEED + i`` and autoresets without a seed; in
    NEXT_STEP mode the step after a done is a reset step with reward 0.
    """
    env = make()
    env.reset(seed=SEED + i)
    rewards: list[float] = []
    step_rewards: dict[int, list[float]] = {}
    reset_next = False
    for t, a in enumerate(actions):
        if reset_next:
            env.reset()
            rewards.append(0.0)
            reset_next = False
            continue
        _, r, terminated, truncated, info = env.step(a[i])
        rewards.append(float(r))
        if "step_rewards" in info:
            step_rewards[t] = info["step_rewards"]
        if terminated or truncated:
            if mode == AutoresetMode.NEXT_STEP:
                reset_next = True
            else:
                env.reset()
    env.close()
    return np.asarray(rewards), step_rewards


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("online", [False, True])
def test_progress_attribution_matches_single_env(
    cartpole_estimator: VectorProgressEstimator, mode: AutoresetMode, online: bool
) -> None:
    counting = CountingEstimator(cartpole_estimator)
    envs = gym.make_vec(
        "CartPole-v1",
        num_envs=N_ENVS,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": mode},
        max_episode_steps=15,  # truncations as well as terminations
    )
    envs = VectorProgressAttribution(envs, counting, alpha=0.7, beta=0.2, online=online)
    actions = np.random.default_rng(1).integers(0, 2, size=(60, N_ENVS))
    rewards, dones, infos = run_vector(envs, actions)
    assert dones.any(axis=0).all(), "every sub-env should finish an episode"
    # One batched estimator call per vector step that has anything to score (in NEXT_STEP mode
    # the step after a done is a reset step with nothing to score).
    resetting = np.zeros_like(dones)
    if mode == AutoresetMode.NEXT_STEP:
        resetting[1:] = dones[:-1]
    scored = ~resetting if online else dones
    assert counting.batch_calls == int(scored.any(axis=1).sum())

    def make() -> gym.Env[Any, Any]:
        return ProgressAttribution(
            gym.make("CartPole-v1", max_episode_steps=15),
            cartpole_estimator,
            alpha=0.7,
            beta=0.2,
            online=online,
        )

    for i in range(N_ENVS):
        expected, step_rewards = run_single(make, i, actions, mode)
        np.testing.assert_allclose(rewards[:, i], expected, rtol=1e-6, atol=1e-6)
        for t, values in step_rewards.items():
            assert infos[t]["_step_rewards"][i]
            np.testing.assert_allclose(infos[t]["step_rewards"][i], values, rtol=1e-6, atol=1e-6)
        published = [t for t, info in enumerate(infos) if info.get("_step_rewards", [0] * 3)[i]]
        assert published == sorted(step_rewards)


def test_progress_attribution_with_a_text_estimator() -> None:
    """Text envs: trajectories are (prompt, actions); padded batches equal single readings."""
    from prm_gym.llm.tiny import tiny_causal_lm
    from prm_gym.rewards.spa import TextProgressEstimator

    model, tok = tiny_causal_lm(n_layer=1, n_embd=32, n_head=2, vocab_size=300, seed=0)
    est = TextProgressEstimator(model, tok)
    with torch.no_grad():
        est.head.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(0))
    steps = [
        ("Step 1: 2 * 3 = 6", "Let me think."),
        ("Step 2: 6 + 1 = 7", "Step 1: 1 + 1 = 2"),
        ("The answer is 7.", "I am not sure"),  # reset step: both episodes were truncated
        ("Step 1: 4 - 1 = 3", "Step 1: 5 * 5 = 25"),
    ]

    def make_vec() -> gym.vector.VectorEnv[Any, Any, Any]:
        return gym.make_vec(
            "prm/Math-v0", num_envs=2, vectorization_mode="sync", max_episode_steps=2
        )

    counting = CountingEstimator(est)
    envs = VectorProgressAttribution(make_vec(), counting, beta=0.0, online=True)
    actions = np.array(steps, dtype=object)
    rewards, _, _ = run_vector(envs, actions)
    assert counting.batch_calls == 3  # none on the reset step

    def make() -> gym.Env[Any, Any]:
        env = gym.make("prm/Math-v0", max_episode_steps=2)
        return ProgressAttribution(env, est, beta=0.0, online=True)

    for i in range(2):
        expected, _ = run_single(make, i, actions, AutoresetMode.NEXT_STEP)
        np.testing.assert_allclose(rewards[:, i], expected, rtol=1e-4, atol=1e-5)


def test_learned_progress_potential_works_as_an_attribution_estimator() -> None:
    """ĉ_t of the learned potential is Φ(s_t) − Φ(s_{t−1}), the same in single and vector envs."""
    from prm_gym.rewards import LearnedProgressPotential

    rng = np.random.default_rng(0)
    demos = [
        {
            "observation": np.linspace(-0.2, 0.2, 11)[:, None] * np.ones(4)
            + rng.normal(0, 0.01, (11, 4)),
            "is_success": np.arange(11) >= 10,
        }
        for _ in range(8)
    ]
    phi = LearnedProgressPotential.fit(demos, epochs=30, seed=0, progress=False)
    env = ProgressAttribution(gym.make("CartPole-v1"), phi, beta=0.0, online=True)
    obs, _ = env.reset(seed=0)
    previous = phi(obs, {})
    for a in (0, 1, 1, 0):
        obs, _, _, _, info = env.step(a)
        assert info["reward_components"]["progress"] == pytest.approx(phi(obs, {}) - previous)
        previous = phi(obs, {})
    envs = VectorProgressAttribution(
        gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"), phi, beta=0.0
    )
    actions = np.random.default_rng(2).integers(0, 2, size=(40, 2))
    rewards, _, _ = run_vector(envs, actions)

    def make() -> gym.Env[Any, Any]:
        return ProgressAttribution(gym.make("CartPole-v1"), phi, beta=0.0)

    for i in range(2):
        expected, _ = run_single(make, i, actions, AutoresetMode.NEXT_STEP)
        np.testing.assert_allclose(rewards[:, i], expected, rtol=1e-5, atol=1e-6)


def test_progress_attribution_rejects_non_estimators() -> None:
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(TypeError, match="contributions_batch"):
        VectorProgressAttribution(envs, object())


# -- reward code --------------------------------------------------------------------------------
GOOD = """
def compute_dense_reward(state):
    d = state["gripper_to_goal"]
    return -d, {"distance": -d}
"""


@pytest.fixture(scope="module")
def box() -> Any:
    from prm_gym.sandbox import Sandbox

    with Sandbox(pool_size=2) as sandbox:
        yield sandbox


@pytest.mark.parametrize(
    ("potential", "batch"), [(False, "step"), (True, "step"), (True, "episode")]
)
def test_reward_code_shaping_matches_single_env(box: Any, potential: bool, batch: str) -> None:
    pytest.importorskip("prm_gym.envs.manipulation")
    from prm_gym.rewards import RewardCode

    rc = RewardCode(GOOD, sandbox=box)
    kwargs: dict[str, Any] = {"coef": 2.0, "potential": potential, "gamma": 0.9, "batch": batch}
    envs = gym.make_vec("prm/Reach-v0", num_envs=2, vectorization_mode="sync", max_episode_steps=3)
    jobs = {"n": 0}
    evaluate = rc.evaluate

    def counted(states: Any) -> Any:
        jobs["n"] += 1
        return evaluate(states)

    rc.evaluate = counted  # type: ignore[method-assign]
    vec = VectorRewardCodeShaping(envs, rc, **kwargs)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(8, 2, 4)).astype(np.float32)
    rewards, dones, infos = run_vector(vec, actions)
    # One sandbox job per vector step with something to score (plus one at reset in
    # potential/step mode, and on reset steps for the new episodes' first states); in episode
    # mode only on steps where an episode ends.
    resetting = np.zeros_like(dones)
    resetting[1:] = dones[:-1]
    if batch == "step":
        scored = np.ones_like(dones) if potential else ~resetting
        assert jobs["n"] == int(scored.any(axis=1).sum()) + int(potential)
    else:
        assert jobs["n"] == int(dones.any(axis=1).sum())
    rc.evaluate = evaluate  # type: ignore[method-assign]

    def make() -> gym.Env[Any, Any]:
        return RewardCodeShaping(gym.make("prm/Reach-v0", max_episode_steps=3), rc, **kwargs)

    for i in range(2):
        expected, step_rewards = run_single(make, i, actions, AutoresetMode.NEXT_STEP)
        np.testing.assert_allclose(rewards[:, i], expected, rtol=1e-9, atol=1e-9)
        for t, values in step_rewards.items():
            np.testing.assert_allclose(infos[t]["step_rewards"][i], values, rtol=1e-9)


def test_reward_code_shaping_refuses_same_step_autoreset(box: Any) -> None:
    pytest.importorskip("prm_gym.envs.manipulation")
    from prm_gym.rewards import RewardCode

    envs = gym.make_vec(
        "prm/Reach-v0",
        num_envs=2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )
    with pytest.raises(ValueError, match="NEXT_STEP"):
        VectorRewardCodeShaping(envs, RewardCode(GOOD, sandbox=box))
