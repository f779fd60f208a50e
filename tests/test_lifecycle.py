"""Env lifecycle: use after close, async vector envs of text envs, headless render, check_env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import prm_gym
from prm_gym.core.text_env import TextEnv
from prm_gym.spaces import Chat, SharedTextBatch, Text

REPO_ROOT = Path(__file__).resolve().parents[1]


def _text_env_ids() -> list[str]:
    ids = []
    for env_id in sorted(prm_gym.ENV_IDS):
        env = gym.make(env_id)
        try:
            if isinstance(env.unwrapped, TextEnv):
                ids.append(env_id)
        finally:
            env.close()
    return ids


TEXT_ENV_IDS = _text_env_ids()
#: One action per env that each text env accepts as a step (valid or not, it must not raise).
ACTIONS = (
    "Step 1: 2 + 3 = 5",
    "<sql>SELECT 1</sql>",
    "search[red shoes]",
    "nul \x00 and lone surrogate \ud800 and 中文",
)


def test_every_text_env_is_covered() -> None:
    assert {"prm/Math-v0", "prm/SQL-v0", "prm/Code-v0"} <= set(TEXT_ENV_IDS)


# -- use after close -----------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_step_and_reset_after_close_raise(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    env.step(ACTIONS[0])
    env.close()
    env.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        env.step(ACTIONS[1])
    with pytest.raises(RuntimeError, match="after close"):
        env.reset(seed=1)


def test_sql_connection_is_not_reopened_after_close() -> None:
    env = gym.make("prm/SQL-v0")
    env.reset(seed=0)
    env.close()
    with pytest.raises(RuntimeError, match=r"SQLEnv\.step\(\) after close"):
        env.step("<sql>SELECT 1</sql>")


# -- async vector envs ---------------------------------------------------------------------------
def _play(env_id: str, mode: str) -> list[Any]:
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    try:
        obs, _ = envs.reset(seed=7)
        record: list[Any] = [tuple(obs)]
        for k in range(3):
            actions = (ACTIONS[k % len(ACTIONS)], ACTIONS[(k + 3) % len(ACTIONS)])
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            record.append((tuple(obs), rewards.tolist(), terminated.tolist(), truncated.tolist()))
    finally:
        envs.close()
    return record


@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_async_vector_env_equals_sync(env_id: str) -> None:
    sync = _play(env_id, "sync")
    assert all(isinstance(o, str) for o in sync[0])
    assert _play(env_id, "async") == sync


def test_text_shared_memory_round_trips_any_unicode() -> None:
    from gymnasium.vector.utils import (
        create_shared_memory,
        read_from_shared_memory,
        write_to_shared_memory,
    )

    space = Text(12)
    memory = create_shared_memory(space, n=3)
    view = read_from_shared_memory(space, memory, n=3)
    values = ["a\x00b\ud800", "", "12 characters"[:12]]
    for i, value in enumerate(values):
        write_to_shared_memory(space, i, value, memory)
    assert isinstance(view, SharedTextBatch)
    assert list(view) == values  # a live view: written after it was made
    import copy

    assert copy.deepcopy(view) == tuple(values) and type(copy.deepcopy(view)) is tuple
    with pytest.raises(ValueError, match="at most 12 characters"):
        write_to_shared_memory(space, 0, "x" * 13, memory)


def test_chat_observations_need_shared_memory_off() -> None:
    from prm_gym.wrappers import ChatObservation

    with pytest.raises(TypeError, match="shared_memory"):
        gym.make_vec("prm/Math-v0", 2, vectorization_mode="async", wrappers=[ChatObservation])
    envs = gym.make_vec(
        "prm/Math-v0",
        2,
        vectorization_mode="async",
        wrappers=[ChatObservation],
        vector_kwargs={"shared_memory": False},
    )
    try:
        obs, _ = envs.reset(seed=0)
        assert all(m[-1]["role"] == "user" for m in obs)
        assert isinstance(envs.single_observation_space, Chat)
    finally:
        envs.close()


# -- manipulation: headless render, SB3 check_env ----------------------------------------------
def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("MUJOCO_GL", None)
    env.pop("PYOPENGL_PLATFORM", None)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


RENDER = (
    "import gymnasium as gym, prm_gym, os\n"
    "env = gym.make('prm/Reach-v0', render_mode='rgb_array', width=64, height=48)\n"
    "env.reset(seed=0)\n"
    "frame = env.render()\n"
    "print(frame.shape, frame.dtype, int(frame.std() > 0), os.environ.get('MUJOCO_GL'))\n"
)


def test_render_works_headless_without_mujoco_gl() -> None:
    import ctypes.util

    from prm_gym.envs.manipulation.gl_backend import HEADLESS_BACKENDS

    if not any(ctypes.util.find_library(lib) for _, lib in HEADLESS_BACKENDS):
        pytest.skip("neither libEGL nor libOSMesa is installed")
    proc = _python(RENDER, _headless_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    assert out.startswith("(48, 64, 3) uint8 1 "), out
    assert out.split()[-1] in ("egl", "osmesa")


def test_render_without_a_gl_backend_says_what_to_set() -> None:
    code = "import mujoco\n" + RENDER  # mujoco loaded first: too late to choose a backend
    proc = _python(code, _headless_env())
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: MuJoCo could not create an OpenGL context"), last
    assert "MUJOCO_GL=egl" in last and "MUJOCO_GL=osmesa" in last


@pytest.mark.parametrize("env_id", ["prm/Reach-v0", "prm/Push-v0", "prm/PickPlace-v0"])
def test_sb3_check_env_passes_on_gym_make(env_id: str) -> None:
    from stable_baselines3.common.env_checker import check_env

    env = gym.make(env_id)
    try:
        check_env(env, warn=False)  # the common call: GoalEnvAPI forwards compute_reward
        check_env(env.unwrapped, warn=False)
        obs, info = env.reset(seed=0)
        reward = env.compute_reward(  # type: ignore[attr-defined]
            obs["achieved_goal"], obs["desired_goal"], info
        )
        assert reward == env.unwrapped.compute_reward(  # type: ignore[attr-defined]
            obs["achieved_goal"], obs["desired_goal"], info
        )
    finally:
        env.close()
