"""Parameter sharing for Stable-Baselines3: a PettingZoo Parallel env as one SB3 ``VecEnv``.

:class:`SharedPolicyVecEnv` runs ``n_envs`` copies of a Parallel env and presents every
(copy, agent) pair as one slot of an SB3 vector env, so a single SB3 policy (PPO, SAC, ...)
acts for all agents and learns from all their transitions: parameter sharing (agents tell
themselves apart through their observations, e.g. ``team_push_v0``'s one-hot agent index).
Each slot receives its own agent's reward, so the env's credit rule (team reward, difference
rewards, per-agent shaping) is what the shared policy learns from.

stable_baselines3 is imported when this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

__all__ = ["SharedPolicyVecEnv", "flatten_observation"]

_GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def flatten_observation(obs: Any) -> npt.NDArray[np.float32]:
    """A goal-conditioned ``Dict`` observation as one float32 vector (``observation``,
    ``achieved_goal``, ``desired_goal``, in that order); a plain array as float32."""
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(obs[k], dtype=np.float32).ravel() for k in _GOAL_KEYS])
    return np.asarray(obs, dtype=np.float32).ravel()


class SharedPolicyVecEnv(VecEnv):
    """``n_envs`` copies of a PettingZoo Parallel env, one SB3 slot per (copy, agent).

    Slot ``c * n_agents + j`` is agent ``possible_agents[j]`` of copy ``c``. All agents must
    share one action space and (flattened) observation space. A copy resets when its episode
    ends (every agent done); its slots then report ``done=True`` with the last observation in
    ``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` for truncations, as
    SB3 expects. Each slot's info carries the agent's env info (``is_success``,
    ``reward_components``, ``team_reward``, ...), so SB3's success-rate logging works.

    Args:
        env_fns: One zero-argument constructor per copy.
        seed: Copy ``c`` is first reset with ``seed + c`` (``None``: unseeded).

    Example:
        >>> from prm_gym.multiagent import make
        >>> from prm_gym.multiagent.sb3 import SharedPolicyVecEnv
        >>> venv = SharedPolicyVecEnv([lambda: make("team_push_v0")] * 2, seed=0)
        >>> venv.num_envs, venv.observation_space.shape
        (4, (25,))
    """

    def __init__(self, env_fns: Sequence[Callable[[], Any]], seed: int | None = None) -> None:
        if not env_fns:
            raise ValueError("env_fns must hold at least one constructor")
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        self.agent_ids: list[str] = list(first.possible_agents)
        self.n_agents = len(self.agent_ids)
        action_space = first.action_space(self.agent_ids[0])
        sample = flatten_observation(first.observation_space(self.agent_ids[0]).sample())
        for agent in self.agent_ids[1:]:
            if first.action_space(agent) != action_space:
                raise ValueError("parameter sharing needs one action space for every agent")
        observation_space = spaces.Box(-np.inf, np.inf, shape=sample.shape, dtype=np.float32)
        super().__init__(len(self.envs) * self.n_agents, observation_space, action_space)
        self._base_seed = seed
        self._episodes = 0
        self._actions: np.ndarray | None = None

    # -- VecEnv API ---------------------------------------------------------------------------
    def _reset_copy(self, c: int) -> dict[str, Any]:
        seed = None
        if self._base_seed is not None and self._episodes < len(self.envs):
            seed = self._base_seed + c
        self._episodes += 1
        obs, _ = self.envs[c].reset(seed=seed)
        return obs

    def _stack(self, per_copy: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.stack([flatten_observation(obs[a]) for obs in per_copy for a in self.agent_ids])

    def reset(self) -> np.ndarray:
        self._episodes = 0
        return self._stack([self._reset_copy(c) for c in range(len(self.envs))])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async() first"
        n = self.n_agents
        all_obs: list[dict[str, Any]] = []
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for c, env in enumerate(self.envs):
            acts = {a: self._actions[c * n + j] for j, a in enumerate(self.agent_ids)}
            obs, rew, terms, truncs, info = env.step(acts)
            done = not env.agents
            for j, a in enumerate(self.agent_ids):
                k = c * n + j
                rewards[k] = float(rew.get(a, 0.0))
                infos[k] = dict(info.get(a, {}))
                if done:
                    dones[k] = True
                    infos[k]["terminal_observation"] = flatten_observation(obs[a])
                    infos[k]["TimeLimit.truncated"] = bool(truncs.get(a)) and not terms.get(a)
            all_obs.append(self._reset_copy(c) if done else obs)
        return self._stack(all_obs), rewards, dones, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.envs[i // self.n_agents], attr_name) for i in self._idx(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for i in self._idx(indices):
            setattr(self.envs[i // self.n_agents], attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        return [
            getattr(self.envs[i // self.n_agents], method_name)(*method_args, **method_kwargs)
            for i in self._idx(indices)
        ]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._idx(indices)]

    def _idx(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)
