"""prm/Reach-v0, prm/Push-v0, prm/PickPlace-v0: API, rewards, experts, potentials, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.envs.manipulation import (
    PickPlaceEnv,
    PushEnv,
    ReachEnv,
    StagedPotential,
    collect_demos,
    expert_for,
    layout,
)
from prm_gym.wrappers import PotentialShaping

IDS = ["prm/Reach-v0", "prm/Push-v0", "prm/PickPlace-v0"]
OBS_DIM = {
    "prm/Reach-v0": layout.REACH_OBS_DIM,
    "prm/Push-v0": layout.BLOCK_OBS_DIM,
    "prm/PickPlace-v0": layout.BLOCK_OBS_DIM,
}


def _rollout(env: gym.Env[Any, Any], actions: np.ndarray, seed: int) -> list[tuple[Any, ...]]:
    obs, info = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = [(obs, 0.0, False, False, info)]
    for action in actions:
        out.append(env.step(action))
        if out[-1][2] or out[-1][3]:
            break
    return out


def _random_actions(n: int, seed: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=(n, 4)).astype(np.float32)


def _success_rate(env_id: str, policy: Any, seeds: range) -> float:
    env = gym.make(env_id)
    wins = 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs))
            done = terminated or truncated
        wins += info["is_success"] == 1.0
    env.close()
    return wins / len(seeds)


# ---------------------------------------------------------------- packaging and API


def test_import_does_not_load_mujoco_or_torch() -> None:
    code = (
        "import sys, prm_gym\n"
        "assert {'prm/Reach-v0', 'prm/Push-v0', 'prm/PickPlace-v0'} <= set(prm_gym.ENV_IDS)\n"
        "loaded = {'mujoco', 'torch'} & set(sys.modules)\n"
        "assert not loaded, f'import prm_gym loaded {loaded}'\n"
        "from prm_gym.envs.manipulation import StagedPotential, expert_for, layout\n"
        "assert 'mujoco' not in sys.modules, 'potentials or experts loaded mujoco'\n"
        "from prm_gym.envs.manipulation import PushEnv\n"
        "assert 'mujoco' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env(env_id: str) -> None:
    with warnings.catch_warnings():
        # Unbounded Box observations are deliberate (velocities), as in Fetch.
        warnings.filterwarnings("ignore", message=".*infinity.*")
        check_env(gym.make(env_id).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env(env_id: str) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*GoalEnv.*")
        sb3_check_env(gym.make(env_id).unwrapped, warn=True)


@pytest.mark.parametrize("env_id", IDS)
def test_spaces_and_observation_layout(env_id: str) -> None:
    env = gym.make(env_id)
    obs, info = env.reset(seed=3)
    assert obs["observation"].shape == (OBS_DIM[env_id],)
    assert obs["observation"].dtype == np.float64
    assert env.action_space.shape == (4,)
    assert obs["observation"][layout.GRIP_POS].tolist() == pytest.approx(layout.GRIP_START)
    np.testing.assert_array_equal(obs["desired_goal"], env.unwrapped.goal)
    if env_id == "prm/Reach-v0":
        np.testing.assert_array_equal(obs["achieved_goal"], obs["observation"][layout.GRIP_POS])
        return
    o = obs["observation"]
    np.testing.assert_array_equal(obs["achieved_goal"], o[layout.BLOCK_POS])
    np.testing.assert_allclose(o[layout.BLOCK_REL_POS], o[layout.BLOCK_POS] - o[layout.GRIP_POS])
    assert o[layout.BLOCK_POS][2] == pytest.approx(layout.BLOCK_REST_Z, abs=1e-3)
    np.testing.assert_allclose(o[layout.BLOCK_QUAT], [1, 0, 0, 0], atol=1e-6)
    expected_width = 0.0 if env_id == "prm/Push-v0" else layout.FINGER_MAX_WIDTH
    assert o[layout.FINGER_WIDTH] == pytest.approx(expected_width, abs=1e-6)
    # The block starts off the gripper and the goal off the block: no episode starts solved.
    assert np.linalg.norm(o[layout.BLOCK_POS][:2] - o[layout.GRIP_POS][:2]) >= 0.1
    assert info["is_success"] == 0.0


def test_layout_constants_match_the_mjcf() -> None:
    env = PickPlaceEnv()
    model = env.model
    table = model.geom("table")
    assert table.pos[2] + table.size[2] == pytest.approx(layout.TABLE_TOP_Z)
    assert model.geom("block").size.tolist() == pytest.approx([layout.BLOCK_HALF] * 3)
    for axis, name in enumerate(("grip_x", "grip_y", "grip_z")):
        low, high = model.joint(name).range
        assert (low, high) == pytest.approx((layout.GRIP_LOW[axis], layout.GRIP_HIGH[axis]))
        assert model.actuator(name).ctrlrange.tolist() == pytest.approx([low, high])
    travel = model.joint("finger_left").range[1] + model.joint("finger_right").range[1]
    assert travel == pytest.approx(layout.FINGER_MAX_WIDTH)
    assert model.key("home").qpos[:3].tolist() == pytest.approx(layout.GRIP_START)
    assert model.opt.timestep * 4 == pytest.approx(0.04)


@pytest.mark.parametrize("env_id", IDS)
def test_truncates_at_50_and_never_terminates(env_id: str) -> None:
    env = gym.make(env_id)
    steps = _rollout(env, _random_actions(60, seed=0), seed=0)
    assert len(steps) == 51  # reset + 50 steps
    assert not any(s[2] for s in steps)
    assert [s[3] for s in steps[1:]] == [False] * 49 + [True]


def test_episode_length_is_set_by_max_steps_without_a_time_limit() -> None:
    # The env truncates itself, so gym.make adds no TimeLimit that could disagree with it.
    env = gym.make("prm/Push-v0")
    assert env.spec is not None and env.spec.max_episode_steps is None
    longer = gym.make("prm/Push-v0", max_steps=70)
    steps = _rollout(longer, _random_actions(80, seed=1), seed=1)
    assert len(steps) == 71 and steps[-1][3]
    # A TimeLimit from gym.make can still shorten episodes.
    shorter = gym.make("prm/Push-v0", max_episode_steps=20)
    steps = _rollout(shorter, _random_actions(80, seed=1), seed=1)
    assert len(steps) == 21 and steps[-1][3]
    direct = PushEnv(max_steps=10)
    steps = _rollout(direct, _random_actions(20, seed=1), seed=1)
    assert len(steps) == 11 and steps[-1][3]
    with pytest.raises(ValueError, match="max_steps"):
        PushEnv(max_steps=0)
    with pytest.raises(ValueError, match="reward_type"):
        ReachEnv(reward_type="shaped")  # type: ignore[arg-type]


# ---------------------------------------------------------------- rewards


@pytest.mark.parametrize("reward_type", ["sparse", "dense"])
@pytest.mark.parametrize("env_id", IDS)
def test_compute_reward_on_batches_equals_step_reward(env_id: str, reward_type: str) -> None:
    env = gym.make(env_id, reward_type=reward_type)
    expert = expert_for(env_id, noise=0.1, seed=0)
    achieved, desired, rewards, successes, infos = [], [], [], [], []
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        for _ in range(50):
            obs, reward, _, _, info = env.step(expert(obs))
            achieved.append(obs["achieved_goal"])
            desired.append(obs["desired_goal"])
            rewards.append(reward)
            successes.append(info["is_success"])
            infos.append(info)
    unwrapped = env.unwrapped
    batch = unwrapped.compute_reward(np.stack(achieved), np.stack(desired), np.array(infos))
    assert batch.shape == (len(rewards),)
    np.testing.assert_array_equal(batch, np.asarray(rewards))
    # Same answer with info as a list, and for a 2-D batch of batches.
    np.testing.assert_array_equal(
        unwrapped.compute_reward(np.stack(achieved), np.stack(desired), infos), batch
    )
    grid = unwrapped.compute_reward(
        np.stack(achieved).reshape(-1, 2, 3), np.stack(desired).reshape(-1, 2, 3), None
    )
    np.testing.assert_array_equal(grid.ravel(), batch)
    d = np.linalg.norm(np.stack(achieved) - np.stack(desired), axis=-1)
    np.testing.assert_array_equal(np.asarray(successes), (d < 0.05).astype(float))
    if reward_type == "sparse":
        assert set(np.unique(batch)) <= {-1.0, 0.0}
        np.testing.assert_array_equal(batch == 0.0, np.asarray(successes) == 1.0)
        assert 0 < np.mean(successes) < 1  # both outcomes were exercised
    else:
        np.testing.assert_allclose(batch, -d, rtol=1e-12)


def test_her_replay_buffer_runs_and_relabels_with_compute_reward() -> None:
    from stable_baselines3 import SAC, HerReplayBuffer

    env = gym.make("prm/Push-v0")
    model = SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        learning_starts=100,
        batch_size=16,
        train_freq=4,
        policy_kwargs={"net_arch": [32, 32]},
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps=160)
    buffer = model.replay_buffer
    assert isinstance(buffer, HerReplayBuffer) and buffer.size() >= 160
    samples = buffer.sample(256)
    desired = samples.observations["desired_goal"].cpu().numpy()
    achieved = samples.next_observations["achieved_goal"].cpu().numpy()
    expected = env.unwrapped.compute_reward(achieved, desired, None)
    np.testing.assert_allclose(samples.rewards.cpu().numpy().ravel(), expected)
    # HER relabelling turns some sparse failures into successes.
    assert (samples.rewards.cpu().numpy() == 0.0).any()


# ---------------------------------------------------------------- experts and demos


@pytest.mark.parametrize("env_id", IDS)
def test_scripted_expert_succeeds_in_95_percent(env_id: str) -> None:
    assert _success_rate(env_id, expert_for(env_id), range(100)) >= 0.95


def test_random_actions_rarely_solve_push() -> None:
    rng = np.random.default_rng(0)
    rate = _success_rate(
        "prm/Push-v0", lambda obs: rng.uniform(-1, 1, 4).astype(np.float32), range(100)
    )
    assert rate < 0.1


def test_expert_for_accepts_ids_names_and_envs() -> None:
    env = gym.make("prm/PickPlace-v0")
    assert expert_for(env).task == "pick_place"
    assert expert_for("push").task == "push"
    assert expert_for(ReachEnv()).task == "reach"
    with pytest.raises(ValueError, match="unknown manipulation task"):
        expert_for("prm/Math-v0")
    with pytest.raises(ValueError, match="noise"):
        expert_for("push", noise=-1.0)


def test_noisy_expert_is_reproducible_and_differs_from_clean() -> None:
    obs, _ = gym.make("prm/Push-v0").reset(seed=0)
    a = expert_for("push", noise=0.2, seed=5)
    b = expert_for("push", noise=0.2, seed=5)
    np.testing.assert_array_equal(a(obs), b(obs))
    assert not np.array_equal(a(obs), expert_for("push")(obs))
    assert np.all(np.abs(a(obs)) <= 1.0)


def test_collect_demos_format_and_reproducibility() -> None:
    demos = collect_demos("prm/PickPlace-v0", n_episodes=3, seed=10, noise=0.05)
    again = collect_demos("prm/PickPlace-v0", n_episodes=3, seed=10, noise=0.05)
    assert len(demos) == 3
    for demo, other in zip(demos, again, strict=True):
        assert demo["observation"].shape == (51, layout.BLOCK_OBS_DIM)
        assert demo["achieved_goal"].shape == demo["desired_goal"].shape == (51, 3)
        assert demo["is_success"].shape == (51,) and demo["is_success"][0] == 0.0
        assert demo["action"].shape == (50, 4) and demo["action"].dtype == np.float32
        assert demo["reward"].shape == (50,)
        assert demo["env_id"] == "prm/PickPlace-v0"
        # Sparse reward of step t is 0 exactly when the state after it is a success.
        np.testing.assert_array_equal(demo["reward"] == 0.0, demo["is_success"][1:] == 1.0)
        for key in ("observation", "action", "is_success"):
            np.testing.assert_array_equal(demo[key], other[key])
    assert [d["seed"] for d in demos] == [10, 11, 12]
    assert collect_demos("reach", n_episodes=0, seed=0) == []


# ---------------------------------------------------------------- staged potential


@pytest.mark.parametrize("env_id", IDS)
def test_shaping_keeps_success_and_telescopes(env_id: str) -> None:
    potential = StagedPotential(env_id)
    shaped = PotentialShaping(gym.make(env_id), potential, gamma=1.0)
    bare = gym.make(env_id)
    expert = expert_for(env_id, noise=0.3, seed=1)
    for seed in (0, 1):
        obs, _ = shaped.reset(seed=seed)
        bare.reset(seed=seed)
        phi_0 = potential(obs, {})
        total, truncated = 0.0, False
        while not truncated:
            action = expert(obs)
            obs, reward, terminated, truncated, info = shaped.step(action)
            _, bare_reward, _, _, bare_info = bare.step(action)
            assert not terminated
            assert info["is_success"] == bare_info["is_success"]
            assert info["reward_components"]["outcome"] == bare_reward
            assert reward == pytest.approx(sum(info["reward_components"].values()))
            total += info["reward_components"]["shaping"]
        # γ = 1 and truncation (not termination) keep Φ(s_T): the terms telescope.
        assert total == pytest.approx(potential(obs, {}) - phi_0, abs=1e-9)


@pytest.mark.parametrize("env_id", IDS)
def test_staged_potential_rises_along_expert_demos(env_id: str) -> None:
    potential = StagedPotential(env_id)
    correlations, non_decreasing = [], []
    for demo in collect_demos(env_id, n_episodes=20, seed=0):
        phi = potential.batch(demo)
        wins = np.flatnonzero(demo["is_success"])
        assert len(wins), "the clean expert should succeed on these seeds"
        # The expert holds still after success, so correlate over the part that makes progress.
        active = phi[: wins[0] + 1]
        assert active[-1] > active[0]
        if len(active) > 2:
            correlations.append(np.corrcoef(np.arange(len(active)), active)[0, 1])
        non_decreasing.append(np.mean(np.diff(phi) >= -1e-3))
        # Success states sit in the last stage.
        stages = potential.stages(demo)
        assert np.all(stages[wins] == potential.n_stages - 1)
    assert np.mean(correlations) >= 0.8
    assert np.mean(non_decreasing) >= 0.9


@pytest.mark.parametrize("env_id", IDS)
def test_staged_potential_batch_equals_single_calls(env_id: str) -> None:
    potential = StagedPotential(env_id, scale=2.5)
    for demo in collect_demos(env_id, n_episodes=2, seed=3, noise=0.5):
        single = [
            potential({"observation": o, "desired_goal": g}, {})
            for o, g in zip(demo["observation"], demo["desired_goal"], strict=True)
        ]
        np.testing.assert_array_equal(potential.batch(demo), np.asarray(single))
    with pytest.raises(ValueError, match="leading batch dimension"):
        potential.batch({"observation": demo["observation"][0], "desired_goal": np.zeros(3)})


@settings(max_examples=200, deadline=None)
@given(
    task=st.sampled_from(IDS),
    obs=arrays(np.float64, (layout.BLOCK_OBS_DIM,), elements=st.floats(-1.0, 1.0)),
    goal=arrays(np.float64, (3,), elements=st.floats(-1.0, 1.0)),
    scale=st.floats(0.1, 10.0),
)
def test_staged_potential_is_bounded(
    task: str, obs: np.ndarray, goal: np.ndarray, scale: float
) -> None:
    potential = StagedPotential(task, scale=scale)
    o = obs[: OBS_DIM[task]]
    value = potential({"observation": o, "desired_goal": goal}, {})
    assert -scale - 1e-12 <= value <= 1e-12
    batch = potential.batch({"observation": o[None], "desired_goal": goal[None]})
    assert batch[0] == value


def test_staged_potential_orders_pick_place_stages() -> None:
    potential = StagedPotential("prm/PickPlace-v0")
    goal = np.array([0.1, 0.1, 0.7])
    block = np.array([0.0, 0.0, layout.BLOCK_REST_Z])

    def obs(grip: list[float], width: float) -> dict[str, np.ndarray]:
        o = np.zeros(layout.BLOCK_OBS_DIM)
        o[layout.GRIP_POS], o[layout.FINGER_WIDTH], o[layout.BLOCK_POS] = grip, width, block
        return {"observation": o, "desired_goal": goal}

    far = obs([0.2, 0.2, 0.6], layout.FINGER_MAX_WIDTH)
    above = obs([0.0, 0.0, 0.5], layout.FINGER_MAX_WIDTH)
    around_open = obs(block.tolist(), layout.FINGER_MAX_WIDTH)
    closing = obs(block.tolist(), 0.07)
    held = obs(block.tolist(), 2 * layout.BLOCK_HALF)
    phis = [potential(o, {}) for o in (far, above, around_open, closing, held)]
    assert phis == sorted(phis) and len(set(phis)) == 5
    assert [potential.stage(o) for o in (far, around_open, held)] == [0, 1, 2]
    # Fingers closed on nothing are not a grasp.
    assert potential.stage(obs(block.tolist(), 0.0)) == 1


def test_push_potential_rewards_pushing_without_a_contact_cliff() -> None:
    from prm_gym.envs.manipulation.potentials import CONTACT_RADIUS, PUSH_WEIGHT

    potential = StagedPotential("prm/Push-v0", scale=10.0)
    goal = np.array([0.2, 0.0, layout.BLOCK_REST_Z])

    def obs(grip_x: float, block_x: float) -> dict[str, np.ndarray]:
        o = np.zeros(layout.BLOCK_OBS_DIM)
        o[layout.GRIP_POS] = [grip_x, 0.0, layout.BLOCK_REST_Z]
        o[layout.BLOCK_POS] = [block_x, 0.0, layout.BLOCK_REST_Z]
        return {"observation": o, "desired_goal": goal}

    at_point = obs(-layout.PUSH_OFFSET, 0.0)
    assert potential.stage(at_point) == 1
    # The block slides 5 cm ahead after a push and the gripper stays where it was: the block's
    # progress outweighs the lost contact, by (PUSH_WEIGHT - 1) per metre.
    slid = obs(-layout.PUSH_OFFSET, 0.05)
    assert potential.stage(slid) == 0
    gain = potential(slid, {}) - potential(at_point, {})
    assert gain == pytest.approx(10.0 * (PUSH_WEIGHT - 1.0) * 0.05, rel=1e-9)
    # Φ is continuous where the stage changes.
    inside = obs(-layout.PUSH_OFFSET - CONTACT_RADIUS + 1e-6, 0.0)
    outside = obs(-layout.PUSH_OFFSET - CONTACT_RADIUS - 1e-6, 0.0)
    assert (potential.stage(inside), potential.stage(outside)) == (1, 0)
    assert abs(potential(inside, {}) - potential(outside, {})) < 1e-4
    # Pushing the block away from the goal loses potential.
    assert potential(obs(-layout.PUSH_OFFSET - 0.03, -0.03), {}) < potential(at_point, {})


def test_staged_potential_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown manipulation task"):
        StagedPotential("prm/Math-v0")
    with pytest.raises(ValueError, match="scale"):
        StagedPotential("push", scale=0.0)
    with pytest.raises(ValueError, match="push_scale"):
        StagedPotential("push", push_scale=float("nan"))


# ---------------------------------------------------------------- bad input, seeding, rendering


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ([np.nan, 0.0, 0.0, 0.0], "NaN or inf"),
        ([0.0, np.inf, 0.0, 0.0], "NaN or inf"),
        ([0.0, 0.0, 0.0], r"shape \(4,\)"),
        ([[0.0, 0.0, 0.0, 0.0]], r"shape \(4,\)"),
        ("left", "4 numbers"),
    ],
)
def test_invalid_actions_raise_value_error(action: Any, match: str) -> None:
    env = gym.make("prm/PickPlace-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.unwrapped.step(action)


def test_out_of_range_actions_are_clipped() -> None:
    actions = _random_actions(30, seed=2, low=-3.0, high=3.0)
    big = _rollout(gym.make("prm/PickPlace-v0"), actions, seed=4)
    clipped = _rollout(gym.make("prm/PickPlace-v0"), np.clip(actions, -1, 1), seed=4)
    for a, b in zip(big, clipped, strict=True):
        np.testing.assert_array_equal(a[0]["observation"], b[0]["observation"])
        assert a[1] == b[1]


@pytest.mark.parametrize("env_id", IDS)
def test_reset_seed_makes_episodes_reproducible(env_id: str) -> None:
    actions = _random_actions(50, seed=9)
    first = _rollout(gym.make(env_id), actions, seed=123)
    second = _rollout(gym.make(env_id), actions, seed=123)
    for a, b in zip(first, second, strict=True):
        for key in ("observation", "achieved_goal", "desired_goal"):
            np.testing.assert_array_equal(a[0][key], b[0][key])
        assert a[1:4] == b[1:4]
    other = _rollout(gym.make(env_id), actions[:1], seed=124)
    assert not np.array_equal(first[0][0]["desired_goal"], other[0][0]["desired_goal"])


def test_pick_place_puts_half_the_goals_in_the_air() -> None:
    env = gym.make("prm/PickPlace-v0")
    heights = np.array([env.reset(seed=s)[0]["desired_goal"][2] for s in range(200)])
    in_air = np.mean(heights > layout.BLOCK_REST_Z + 1e-9)
    assert 0.4 < in_air < 0.6
    assert heights.max() <= layout.BLOCK_REST_Z + 0.45


def test_describe_state_reports_the_state() -> None:
    env = gym.make("prm/Push-v0")
    obs, _ = env.reset(seed=0)
    text = env.unwrapped.describe_state()
    block = obs["observation"][layout.BLOCK_POS]
    assert f"block_pos = ({block[0]:.3f}, {block[1]:.3f}, {block[2]:.3f})" in text
    assert "gripper_pos = (0.000, 0.000, 0.520)" in text
    assert "finger_width = 0.000" in text
    assert "step = 0  # of 50" in text
    distance = np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"])
    assert f"block_to_goal = {distance:.3f}" in text
    reach = gym.make("prm/Reach-v0")
    reach.reset(seed=0)
    assert "gripper_to_goal" in reach.unwrapped.describe_state()


def test_render_without_mode_warns_and_close_is_idempotent() -> None:
    env = gym.make("prm/Push-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.unwrapped.render() is None
    env.close()
    env.close()
    with pytest.raises(ValueError, match="render_mode"):
        PushEnv(render_mode="human")


_RENDER_CODE = """
import gymnasium as gym, numpy as np, prm_gym
env = gym.make("prm/PickPlace-v0", render_mode="rgb_array", width=96, height=64)
env.reset(seed=0)
frame = env.render()
assert isinstance(frame, np.ndarray), type(frame)
assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8, (frame.shape, frame.dtype)
assert frame.std() > 0, "blank frame"
env.close()
env.close()
print("RENDER_OK")
"""


def test_rgb_array_rendering() -> None:
    # GL backends are chosen when mujoco is imported, so each is tried in a fresh process.
    errors = []
    for backend in ("egl", "osmesa"):
        proc = subprocess.run(
            [sys.executable, "-c", _RENDER_CODE],
            env={**os.environ, "MUJOCO_GL": backend},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if "RENDER_OK" in proc.stdout:
            return
        if "AssertionError" in proc.stderr:
            pytest.fail(f"rendering with {backend} returned a bad frame:\n{proc.stderr}")
        errors.append(f"{backend}: {proc.stderr.strip().splitlines()[-1:]}")
    pytest.skip(f"no OpenGL backend for MuJoCo on this machine ({'; '.join(errors)})")
