"""Potential-based shaping for vector envs, with Φ evaluated once per step for all sub-envs."""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from prm_gym.core.scorer import Potential, potential_batch
from prm_gym.core.vector import AutoresetTracker, info_at
from prm_gym.wrappers.vector._util import VectorEpisodeTerms, set_components

__all__ = ["VectorPotentialShaping"]


class VectorPotentialShaping(VectorWrapper):
    """:class:`~prm_gym.wrappers.PotentialShaping` for a Gymnasium vector env.

    Adds F = γ·Φ(s′)·(1 − terminated) − Φ(s) per sub-env (Ng, Harada & Russell 1999), with
    exactly the values the single-env wrapper gives each sub-env:

    * **Info.** Φ is called as Φ(obs_i, info_i) with sub-env ``i``'s own info (its reset info at
      the start of an episode, its step info after; for a sub-env that finished in
      ``SAME_STEP`` mode, ``info["final_obs"]`` with ``info["final_info"]``). When the potential
      has ``batch(observations) -> np.ndarray`` (e.g. :class:`StagedPotential`, a learned
      potential), Φ of every sub-env is computed in one call instead; ``batch`` takes no info,
      so it must equal Φ(obs, info) for any info (a potential that reads ``info`` must not
      define ``batch``).
    * **State.** A potential with a ``reset()`` method depends on the episode so far
      (:class:`~prm_gym.rewards.spa.ProgressPotential`): each sub-env gets its own
      ``copy.deepcopy`` of it, reset at that sub-env's episode start and called only with that
      sub-env's observations (``batch`` is not used). ``potentials[i]`` is sub-env ``i``'s copy.
    * **Boundaries.** F is never computed across an autoreset: in ``NEXT_STEP`` mode the reset
      step gets F = 0 and starts the new episode's Φ(s₀); in ``SAME_STEP`` mode F uses the final
      observation and the returned reset observation starts the next episode.
    * **Trajectory-level wrappers inside.** When a wrapper inside (a vector wrapper, or a
      sub-env's own wrapper: the ``final_info`` entry in ``SAME_STEP`` mode) published
      ``step_rewards`` for a sub-env's episode that just ended, this wrapper adds its per-step
      terms for that sub-env to them, so they still sum to the episode's return.

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
        if not callable(potential):
            raise TypeError("potential must be callable as potential(observation, info)")
        self.potential = potential
        self.gamma = gamma
        self.name = name
        self._tracker = AutoresetTracker(env)
        n = env.num_envs
        self.potentials: list[Potential] | None = None
        if callable(getattr(potential, "reset", None)):
            try:
                self.potentials = [copy.deepcopy(potential) for _ in range(n)]
            except Exception as exc:
                raise TypeError(
                    f"{type(potential).__name__} has reset() (it depends on the episode so far), "
                    "so each sub-env needs its own copy, and copy.deepcopy failed: "
                    f"{exc!r}. Make it deep-copyable."
                ) from exc
        self._batched = self.potentials is None and callable(getattr(potential, "batch", None))
        self._phi = np.zeros(n)
        self._terms = VectorEpisodeTerms(n)

    def _split(self, obs: Any) -> list[Any]:
        if isinstance(obs, (tuple, list)):
            return list(obs)
        return list(gym.vector.utils.iterate(self.env.observation_space, obs))

    def _call(self, i: int, observation: Any, info: dict[str, Any]) -> float:
        potential = self.potential if self.potentials is None else self.potentials[i]
        return float(potential(observation, info))

    def _start(self, i: int, observation: Any, info: dict[str, Any]) -> float:
        """Φ(s₀) of sub-env ``i``'s new episode (its potential copy reset first)."""
        if self.potentials is not None:
            self.potentials[i].reset()  # type: ignore[attr-defined]
        info = {k: v for k, v in info.items() if k not in ("final_obs", "final_info")}
        return self._call(i, observation, info)

    def _batch(self, observations: Any) -> np.ndarray:
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
        self._terms.reset()
        if self._batched:
            self._phi = self._batch(obs)
        else:
            rows = self._split(obs)
            self._phi = np.array(
                [self._start(i, rows[i], info_at(infos, i)) for i in range(self.num_envs)]
            )
        return obs, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        n = self.num_envs
        resetting = self._tracker.resetting()
        done = np.logical_or(terminated, truncated)
        same_step = self._tracker.mode == AutoresetMode.SAME_STEP
        phi_obs = self._batch(obs) if self._batched else np.zeros(n)
        rows = None if self._batched else self._split(obs)
        shaping = np.zeros(n)
        for i in range(n):
            if resetting[i]:  # NEXT_STEP autoreset: the action was ignored, obs is a new s₀
                if rows is not None:
                    phi_obs[i] = self._start(i, rows[i], info_at(infos, i))
                continue
            if terminated[i]:
                phi_next = 0.0
            elif same_step and done[i]:
                final = info_at(infos, i)
                phi_next = self._call(i, infos["final_obs"][i], dict(final.get("final_info", {})))
            elif rows is not None:
                phi_next = phi_obs[i] = self._call(i, rows[i], info_at(infos, i))
            else:
                phi_next = float(phi_obs[i])
            shaping[i] = self.gamma * phi_next - self._phi[i]
            if done[i] and same_step and rows is not None:
                phi_obs[i] = self._start(i, rows[i], info_at(infos, i))
        self._terms.record(infos, shaping, resetting, done, same_step)
        self._phi = phi_obs  # after a SAME_STEP reset, obs already is the new episode's s₀
        self._tracker.update(terminated, truncated)
        rewards, _ = set_components(infos, rewards, self.name, shaping)
        return obs, rewards, terminated, truncated, infos
