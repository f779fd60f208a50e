"""prm_gym.distributed on a local Ray instance: same trajectories as local, no episode lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from _scripted import ADDITIONS, ScriptedBackend

import prm_gym  # noqa: F401 - registers the envs
from prm_gym.agents import LLMAgent, rollout, trajectory_to_dict
from prm_gym.core import StepContext

ray = pytest.importorskip("ray")

from prm_gym.distributed import (  # noqa: E402
    EnvWorkerLost,
    RayVectorEnv,
    RemoteScorer,
    make_ray_vec,
)
from prm_gym.rewards import RuleVerifier  # noqa: E402
from prm_gym.wrappers.vector import VectorProcessReward  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    if ray.is_initialized():  # another module's instance: use it, leave it running
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _dicts(trajs: Any) -> list[dict[str, Any]]:
    return [trajectory_to_dict(t) for t in trajs]


def test_import_prm_gym_does_not_import_ray() -> None:
    code = "import sys, prm_gym, prm_gym.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ray_backend_returns_the_local_trajectories() -> None:
    envs = gym.make_vec("prm/Math-v0", 2, vectorization_mode="sync", tasks=ADDITIONS)
    local = rollout(envs, LLMAgent(ScriptedBackend()), episodes=5, seed=3, progress=False)
    remote = rollout(
        envs, LLMAgent(ScriptedBackend()), episodes=5, seed=3, progress=False, backend="ray"
    )
    assert len(remote) == 5 and _dicts(remote) == _dicts(local)
    assert {t.outcome for t in remote} == {0.0, 1.0}

    single = gym.make("prm/Math-v0", tasks=ADDITIONS)
    local = rollout(single, LLMAgent(ScriptedBackend()), episodes=3, seed=1, progress=False)
    remote = rollout(
        single, LLMAgent(ScriptedBackend()), episodes=3, seed=1, progress=False, backend="ray"
    )
    assert _dicts(remote) == _dicts(local)


def test_ray_backend_same_step_autoreset_matches_local() -> None:
    envs = gym.make_vec(
        "prm/Math-v0",
        2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        tasks=ADDITIONS,
    )
    local = rollout(envs, LLMAgent(ScriptedBackend()), episodes=5, seed=4, progress=False)
    remote = rollout(
        envs, LLMAgent(ScriptedBackend()), episodes=5, seed=4, progress=False, backend="ray"
    )
    assert _dicts(remote) == _dicts(local) and len(remote) == 5


def test_killing_an_env_worker_mid_rollout_loses_no_episode() -> None:
    def sync_envs() -> Any:
        envs = gym.make_vec("prm/Math-v0", 2, vectorization_mode="sync", tasks=ADDITIONS)
        return VectorProcessReward(envs, RuleVerifier(), coef=0.1)

    local = rollout(sync_envs(), LLMAgent(ScriptedBackend()), episodes=7, seed=5, progress=False)

    base = make_ray_vec("prm/Math-v0", 2, tasks=ADDITIONS)
    envs = VectorProcessReward(base, RuleVerifier(), coef=0.1)
    pids = []

    def kill(call: int) -> None:
        if call in (2, 5):  # mid-episode, twice: worker 1, then worker 0
            worker = base.workers[call % 2]
            pids.append(ray.get(worker.pid.remote()))
            ray.kill(worker, no_restart=True)

    agent = LLMAgent(ScriptedBackend(on_call=kill))
    remote = rollout(envs, agent, episodes=7, seed=5, progress=False, backend="ray")
    assert base.restarts == 2 and len(pids) == 2
    assert len(remote) == 7
    assert _dicts(remote) == _dicts(local)
    envs.close()


def test_a_hung_worker_is_replaced(tmp_path: Path) -> None:
    marker = str(tmp_path / "hung-once")

    def env_fn() -> gym.Env[Any, Any]:

        class HangOnce(gym.Wrapper[Any, Any, Any, Any]):
            def step(self, action: Any) -> Any:
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    time.sleep(600)
                return self.env.step(action)

        return HangOnce(gym.make("prm/Math-v0", tasks=ADDITIONS))

    envs = RayVectorEnv(env_fn, 1, step_timeout=3.0)
    obs, _ = envs.reset(seed=0)
    out = envs.step(("Step 1: 2 + 3 = 5",))
    assert envs.restarts == 1 and out[0][0] != obs[0]
    envs.close()


def test_a_worker_that_cannot_be_restored_is_reported() -> None:
    def env_fn() -> gym.Env[Any, Any]:

        class PidInObs(gym.Wrapper[Any, Any, Any, Any]):  # not deterministic: replay differs
            def reset(self, **kwargs: Any) -> Any:
                obs, info = self.env.reset(**kwargs)
                return f"{obs} pid={os.getpid()}", info

        return PidInObs(gym.make("prm/Math-v0", tasks=ADDITIONS))

    envs = RayVectorEnv(env_fn, 1, max_restarts=1)
    envs.reset(seed=0)
    ray.kill(envs.workers[0], no_restart=True)
    with pytest.raises(EnvWorkerLost, match="not deterministic") as err:
        envs.step(("Step 1: 1 + 1 = 2",))
    assert err.value.index == 0
    envs.close()


def test_remote_scorer_matches_local_and_survives_a_dead_actor() -> None:
    class _LengthScorer:  # local: pickled by value into the actors
        def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
            return np.array([len(c.action) / 10 for c in contexts])

    contexts = [StepContext(f"q{i}", (), "x" * i) for i in range(7)]
    assert len(set(_LengthScorer().score(contexts))) == 7
    scorer = RemoteScorer(_LengthScorer, num_actors=2, num_cpus=0.5)
    np.testing.assert_allclose(scorer.score(contexts), _LengthScorer().score(contexts))
    ray.kill(scorer.actors[1], no_restart=True)
    np.testing.assert_allclose(scorer.score(contexts), _LengthScorer().score(contexts))
    assert scorer.restarts == 1 and scorer.score([]).shape == (0,)
    scorer.close()


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="backend"):
        rollout(gym.make("prm/Math-v0"), LLMAgent(ScriptedBackend()), 1, backend="spark")
    envs = VectorProcessReward(
        gym.make_vec("prm/Math-v0", 2, vectorization_mode="sync"), RuleVerifier()
    )
    with pytest.raises(ValueError, match="make_ray_vec"):
        rollout(envs, LLMAgent(ScriptedBackend()), 1, backend="ray", progress=False)
    with pytest.raises(ValueError, match="num_envs"):
        make_ray_vec("prm/Math-v0", 0)
    start = time.perf_counter()  # 3 workers reserving a CPU each on 2 CPUs: a clear error
    with pytest.raises(RuntimeError, match="only 2 of 3 env workers started"):
        make_ray_vec("prm/Math-v0", 3, step_timeout=3.0, actor_options={"num_cpus": 1})
    assert time.perf_counter() - start < 30


def test_pg_trainer_rollout_phase_on_ray_matches_local() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from prm_gym.agents.pg import PGConfig, PGTrainer
    from prm_gym.llm import TransformersBackend
    from prm_gym.llm.tiny import tiny_causal_lm
    from prm_gym.wrappers import ProcessReward

    def env_fn() -> gym.Env[Any, Any]:
        return ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())

    config = PGConfig(group_size=2, prompts_per_iteration=2, max_new_tokens=4, seed=7)
    runs = []
    for env_backend in ("local", "ray"):
        backend = TransformersBackend(*tiny_causal_lm(vocab_size=256, initializer_range=0.2))
        trainer = PGTrainer(backend, env_fn, config, env_backend=env_backend)
        runs.append(_dicts(trainer.collect()))
        trainer.env.close()
    assert len(runs[1]) == 4 and runs[1] == runs[0]
    assert len({r["task_id"] for r in runs[0]}) == 2  # two groups, two tasks
