"""Potential-based shaping for vector envs, with Φ evaluated once per step for all sub-envs."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from prm_gym.core.scorer import Potential, potential_batch
from prm_gym.credit import potential_shaping
from prm_gym.wrappers.vector._util import AutoresetTracker, set_components

__all__ = ["VectorPotentialShaping"]


class VectorPotentialShaping(VectorWrapper):
    """:class:`~prm_gym.wrappers.PotentialShaping` for a Gymnasium vector env.

    Adds F = γ·Φ(s′)·(1 − terminated) − Φ(s) per sub-env (Ng, Harada & Russell 1999). When the
    potential has ``batch(observations) -> np.ndarray`` (e.g. a learned potential), Φ of every
    sub-env is computed in one call; otherwise Φ(obs_i, {}) is called per sub-env. F is never
    computed across an autoreset boundary: in ``NEXT_STEP`` mode the reset step gets F = 0 and
    starts the new episode's Φ(s₀); in ``SAME_STEP`` mode F uses ``info["final_obs"]`` and the
    returned reset observation starts the next episode.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from prm_gym.wrappers.vector import VectorPotentialShaping
        >>> envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
        >>> envs = VectorPotentialShaping(envs, lambda obs, info: -abs(obs[2]), gamma=0.99)
        >>> obs, info = envs.reset(seed=0)
        >>> obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
        >>> comps = info["reward_components"]
        >>> bool(np.allclose(rewards, comps["outcome"] + comps["shaping"]))
        True
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        potential: Potential,
        gamma: float = 0.99,
        name: str = "shaping",
    ) -> None:
        super().__init__(env)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.potential = potential
        self.gamma = gamma
        self.name = name
        self._tracker = AutoresetTracker(env)
        self._phi = np.zeros(env.num_envs)

    def _phis(self, observations: Any) -> np.ndarray:
        values = potential_batch(self.potential, observations, self.env.observation_space)
        if values.shape != (self.num_envs,):
            raise ValueError(
                f"potential returned shape {values.shape}, expected ({self.num_envs},)"
            )
        return values

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self._tracker.reset()
        self._phi = self._phis(obs)
        return obs, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        resetting = self._tracker.resetting()
        phi_obs = self._phis(obs)
        phi_next = phi_obs.copy()
        done = np.logical_or(terminated, truncated)
        if self._tracker.mode == AutoresetMode.SAME_STEP and done.any():
            final = infos["final_obs"]
            for i in np.flatnonzero(done):
                phi_next[i] = 0.0 if terminated[i] else float(self.potential(final[i], {}))
        shaping = potential_shaping(self._phi, phi_next, self.gamma, terminated)
        shaping = np.where(resetting, 0.0, shaping)
        self._phi = phi_obs  # after a SAME_STEP reset, obs already is the new episode's s₀
        self._tracker.update(terminated, truncated)
        rewards, _ = set_components(infos, rewards, self.name, shaping)
        return obs, rewards, terminated, truncated, infos
