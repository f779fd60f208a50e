"""ThreadedVectorEnv: same results as SyncVectorEnv for fixed seeds, sub-env steps overlap."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from _scripted import ADDITIONS, ScriptedBackend
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import prm_gym  # noqa: F401 - registers the envs
from prm_gym.agents import LLMAgent, rollout, trajectory_to_dict
from prm_gym.core.vector import ThreadedVectorEnv, info_at, make_threaded_vec


class Blocking(gym.Wrapper[Any, Any, Any, Any]):
    """Each step blocks ``delay`` seconds (an I/O-bound env: SQL, sandbox, remote judge)."""

    def __init__(self, env: gym.Env[Any, Any], delay: float) -> None:
        super().__init__(env)
        self.delay = delay

    def step(self, action: Any) -> Any:
        time.sleep(self.delay)
        return self.env.step(action)


def _math() -> gym.Env[Any, Any]:
    return gym.make("prm/Math-v0", tasks=ADDITIONS)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_threaded_rollout_equals_sync_for_fixed_seed(mode: AutoresetMode) -> None:
    sync = SyncVectorEnv([_math] * 3, autoreset_mode=mode)
    with ThreadedVectorEnv([_math] * 3, autoreset_mode=mode) as threaded:
        local = rollout(sync, LLMAgent(ScriptedBackend()), episodes=8, seed=3, progress=False)
        mine = rollout(threaded, LLMAgent(ScriptedBackend()), episodes=8, seed=3, progress=False)
    assert len(mine) == 8
    assert [trajectory_to_dict(t) for t in mine] == [trajectory_to_dict(t) for t in local]
    assert {t.outcome for t in mine} == {0.0, 1.0}  # both outcomes occur: the check has teeth


def test_threaded_steps_match_sync_step_by_step() -> None:
    sync = SyncVectorEnv([_math] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    threaded = ThreadedVectorEnv([_math] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    a, ia = sync.reset(seed=11)
    b, ib = threaded.reset(seed=11)
    assert a == b and info_at(ia, 1) == info_at(ib, 1)
    for actions in [("\\boxed{1}", "Step 1: x"), ("\\boxed{2}", "\\boxed{3}")] * 2:
        ra, rb = sync.step(actions), threaded.step(actions)
        assert ra[0] == rb[0]
        for x, y in zip(ra[1:4], rb[1:4], strict=True):
            np.testing.assert_array_equal(x, y)
        for i in range(2):
            assert str(info_at(ra[4], i)) == str(info_at(rb[4], i))
    threaded.close()


def test_a_slow_sub_env_does_not_stall_the_batch() -> None:
    """8 sub-envs whose steps block 0.2 s: one threaded vector step takes ~0.2 s, not 1.6 s."""
    fns = [lambda: Blocking(_math(), 0.2) for _ in range(8)]
    with ThreadedVectorEnv(fns) as envs:
        envs.reset(seed=0)
        start = time.perf_counter()
        envs.step(tuple("Step 1: 1 + 1 = 2" for _ in range(8)))
        elapsed = time.perf_counter() - start
    assert elapsed < 0.8, elapsed


def test_make_threaded_vec_and_bad_arguments() -> None:
    envs = make_threaded_vec("prm/Math-v0", 2, tasks=ADDITIONS)
    assert envs.spec is not None and envs.spec.id == "prm/Math-v0"
    obs, _ = envs.reset(seed=0)
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs)
    envs.close()
    with pytest.raises(ValueError, match="max_workers"):
        ThreadedVectorEnv([_math], max_workers=0)
    with pytest.raises(ValueError, match="at least one"):
        ThreadedVectorEnv([])
    with pytest.raises(ValueError, match="num_envs"):
        make_threaded_vec("prm/Math-v0", 0)
