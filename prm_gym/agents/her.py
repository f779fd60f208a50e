"""Hindsight experience replay that keeps potential-based shaping exact for relabelled goals.

SB3's :class:`~stable_baselines3.HerReplayBuffer` (Andrychowicz et al., "Hindsight Experience
Replay", 2017) replaces the goal of a share of the sampled transitions and recomputes their
reward with the env's ``compute_reward(achieved_goal, desired_goal, info)``. Under
:class:`~prm_gym.wrappers.PotentialShaping` that gives the relabelled transitions the env's
outcome reward only, while the transitions replayed with their own goal carry the shaped one.

:class:`ShapedHerReplayBuffer` adds the missing term. A goal-conditioned potential Φ(s, g) reads
the stored observation dict, so for a transition (s, a, s′) relabelled with goal g′ the buffer
recomputes the shaping term of that goal,

    F = γ · Φ(s′, g′) − Φ(s, g′)     (Φ(s′, g′) = 0 when the episode terminated at s′),

from the stored (unnormalised) observations with ``desired_goal`` replaced by g′, and adds it to
the outcome reward. Every sampled transition then carries the potential-based shaping of the
goal-conditioned task (Ng, Harada & Russell, "Policy invariance under reward transformations",
1999) for the goal it is replayed with, so the optimal goal-conditioned policy is unchanged.

Example:
    >>> import gymnasium as gym
    >>> import prm_gym
    >>> from stable_baselines3 import SAC
    >>> from stable_baselines3.common.env_util import make_vec_env
    >>> from prm_gym.agents.her import ShapedHerReplayBuffer
    >>> from prm_gym.envs.manipulation import StagedPotential
    >>> from prm_gym.wrappers import PotentialShaping
    >>> phi = StagedPotential("prm/Push-v0", scale=10.0)
    >>> env = make_vec_env(
    ...     "prm/Push-v0", n_envs=2, seed=0,
    ...     wrapper_class=lambda e: PotentialShaping(e, phi, gamma=0.95),
    ... )
    >>> model = SAC(
    ...     "MultiInputPolicy", env, gamma=0.95, learning_starts=100, seed=0,
    ...     replay_buffer_class=ShapedHerReplayBuffer,
    ...     replay_buffer_kwargs={"potential": phi, "shaping_gamma": 0.95},
    ... )
    >>> _ = model.learn(200)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch as th
from stable_baselines3.common.type_aliases import DictReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.her import HerReplayBuffer

from prm_gym.core.scorer import Potential, potential_batch
from prm_gym.credit import potential_shaping

__all__ = ["ShapedHerReplayBuffer"]

FloatArray = npt.NDArray[np.float64]


class ShapedHerReplayBuffer(HerReplayBuffer):
    """``HerReplayBuffer`` whose relabelled rewards include γΦ(s′, g′) − Φ(s, g′).

    Use it with envs wrapped in :class:`~prm_gym.wrappers.PotentialShaping` with the same
    potential and γ: replayed transitions with their own goal already carry the wrapper's
    shaped reward, relabelled ones get the shaping term for their new goal here.

    Args:
        *args: As for ``HerReplayBuffer``.
        potential: The shaping potential Φ(obs, info); it must read the goal from
            ``obs["desired_goal"]`` (the prm/* manipulation potentials do).
        shaping_gamma: γ of the shaping term, the learner's discount.
        **kwargs: As for ``HerReplayBuffer`` (``n_sampled_goal``,
            ``goal_selection_strategy``, ...).
    """

    def __init__(
        self, *args: Any, potential: Potential, shaping_gamma: float = 0.99, **kwargs: Any
    ) -> None:
        if not callable(potential):
            raise TypeError(f"potential must be callable as potential(obs, info): {potential!r}")
        if not 0.0 <= shaping_gamma <= 1.0:
            raise ValueError(f"shaping_gamma must be in [0, 1], got {shaping_gamma}")
        super().__init__(*args, **kwargs)
        self.potential = potential
        self.shaping_gamma = float(shaping_gamma)
        self._last_goals: np.ndarray | None = None

    def _sample_goals(self, batch_indices: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        goals = super()._sample_goals(batch_indices, env_indices)
        self._last_goals = goals
        return goals

    def shaping_terms(
        self, batch_indices: np.ndarray, env_indices: np.ndarray, goals: np.ndarray
    ) -> FloatArray:
        """γΦ(s′, g′) − Φ(s, g′) for stored transitions replayed with ``goals``."""
        obs = {key: value[batch_indices, env_indices] for key, value in self.observations.items()}
        nxt = {
            key: value[batch_indices, env_indices] for key, value in self.next_observations.items()
        }
        obs["desired_goal"] = goals
        nxt["desired_goal"] = goals
        terminated = self.dones[batch_indices, env_indices] * (
            1 - self.timeouts[batch_indices, env_indices]
        )
        space = self.observation_space
        return potential_shaping(
            potential_batch(self.potential, obs, space),
            potential_batch(self.potential, nxt, space),
            self.shaping_gamma,
            terminated > 0,
        )

    def _get_virtual_samples(
        self,
        batch_indices: np.ndarray,
        env_indices: np.ndarray,
        env: VecNormalize | None = None,
    ) -> DictReplayBufferSamples:
        samples = super()._get_virtual_samples(batch_indices, env_indices, env)
        if self._last_goals is None:  # pragma: no cover - set by the parent's call just above
            raise RuntimeError("HerReplayBuffer did not sample goals through _sample_goals")
        terms = self.shaping_terms(batch_indices, env_indices, self._last_goals)
        self._last_goals = None
        # VecNormalize's reward normalisation (if on) only rescales, so it applies term-wise.
        terms = self._normalize_reward(terms.astype(np.float32).reshape(-1, 1), env)
        rewards = samples.rewards + th.as_tensor(
            terms, dtype=samples.rewards.dtype, device=samples.rewards.device
        )
        return samples._replace(rewards=rewards)
