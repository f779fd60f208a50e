"""``prm-gym serve``: a real OpenEnv client gets exactly what the local env gives."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openenv.core.env_server", reason="pip install 'prm-gym[openenv]'")

import prm_gym
from prm_gym.integrations.openenv import PrmGymEnvClient, to_jsonable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(*argv: str) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "prm_gym.cli", "serve", *argv, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    raise RuntimeError(f"prm-gym serve did not start: {out}") from None
                time.sleep(0.2)
        yield url
        assert proc.poll() is None, "the server died during the test"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def math_server() -> Iterator[str]:
    yield from _serve("prm/Math-v0", "--dense")


def _math_actions(env: Any) -> list[str]:
    task = env.unwrapped.task
    steps = list(task.metadata["gold_steps"])
    return ["", "1 + 1 = 2", *steps[:-1], f"\\boxed{{{task.answer}}}"]


def _same(remote: Any, obs: Any, reward: float, terminated: bool, truncated: bool, info: Any):
    o = remote.observation
    assert o.observation == to_jsonable(obs)
    assert remote.reward == reward and o.reward == reward
    assert (o.terminated, o.truncated, remote.done) == (
        terminated,
        truncated,
        terminated or truncated,
    )
    assert o.info == to_jsonable(info)


def test_five_episodes_match_local_env(math_server: str) -> None:
    local = prm_gym.make_dense("prm/Math-v0")
    with PrmGymEnvClient(math_server).sync() as client:
        for episode in range(5):
            seed = 100 + episode
            options = {"task_seed": 7 + episode} if episode % 2 else None
            remote = client.reset(seed=seed, options=options)
            obs, info = local.reset(seed=seed, options=options)
            assert remote.observation.observation == obs and remote.observation.info == info
            assert remote.done is False
            for action in _math_actions(local):
                remote = client.step(action)
                obs, reward, terminated, truncated, info = local.step(action)
                _same(remote, obs, float(reward), terminated, truncated, info)
                assert "reward_components" in remote.observation.info
                if terminated or truncated:
                    break
            assert remote.done and remote.observation.info["outcome"] == 1.0


def test_bad_action_same_error_over_the_wire(math_server: str) -> None:
    local = prm_gym.make_dense("prm/Math-v0")
    local.reset(seed=3)
    _, _, _, _, local_info = local.step("\x00\x01")
    with PrmGymEnvClient(math_server).sync() as client:
        client.reset(seed=3)
        remote = client.step("\x00\x01")
    assert remote.observation.info["action_valid"] is False
    assert remote.observation.info["error"] == local_info["error"]
    assert remote.done is False


def test_server_survives_a_client_that_disconnects_mid_episode(math_server: str) -> None:
    import asyncio

    async def abandon() -> None:
        client = PrmGymEnvClient(math_server)
        await client.connect()
        await client.reset(seed=0)
        await client.step("1 + 1 = 2")
        assert client._ws is not None
        await client._ws.close()  # drop the socket without a close message

    asyncio.run(abandon())
    local = prm_gym.make_dense("prm/Math-v0")
    local.reset(seed=1)
    with PrmGymEnvClient(math_server).sync() as client:
        client.reset(seed=1)
        for action in _math_actions(local):
            remote = client.step(action)
            obs, reward, terminated, truncated, info = local.step(action)
            _same(remote, obs, float(reward), terminated, truncated, info)
            if remote.done:
                break


def test_manipulation_env_over_the_wire() -> None:
    pytest.importorskip("mujoco")
    import gymnasium as gym

    for url in _serve("prm/Reach-v0"):
        local = gym.make("prm/Reach-v0")
        rng = np.random.default_rng(0)
        with PrmGymEnvClient(url).sync() as client:
            remote = client.reset(seed=5)
            obs, info = local.reset(seed=5)
            assert remote.observation.observation == to_jsonable(obs)
            for _ in range(3):
                shape = local.action_space.shape
                action = rng.uniform(-1, 1, size=shape).astype(local.action_space.dtype)
                remote = client.step(action)
                obs, reward, terminated, truncated, info = local.step(action)
                _same(remote, obs, float(reward), terminated, truncated, info)


def test_serve_bad_arguments_fail_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from prm_gym.cli import main

    assert main(["serve", "prm/Math-v0", "--port", "70000"]) == 2
    assert "--port must be in 0..65535" in capsys.readouterr().err
    assert main(["serve", "prm/Math-v0", "--coef", "0.3"]) == 2
    assert "add --dense" in capsys.readouterr().err
    assert main(["serve", "prm/NoSuchEnv-v0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prm-gym serve: error:") and "Traceback" not in err
