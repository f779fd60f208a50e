"""Potential-based reward shaping."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from prm_gym.core.scorer import Potential
from prm_gym.wrappers.components import EpisodeTerms, RewardRole, check_composition

__all__ = ["PotentialShaping"]


class PotentialShaping(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Adds F = γ·Φ(s′) − Φ(s) to each reward, recorded as ``name``.

    Potential-based shaping (Ng, Harada & Russell, "Policy invariance under reward
    transformations: theory and application to reward shaping", 1999) leaves the optimal policy
    unchanged when ``gamma`` equals the learner's discount and Φ depends on the state only.
    Φ(s′) is taken as 0 only when the episode *terminates*; on truncation the real Φ(s′) is kept,
    because the learner bootstraps there (zeroing it, as ``imitation``'s ``ShapedRewardNet`` does
    on every ``done``, biases the target by γΦ(s′)). Φ(s₀) is recomputed at every reset, so F is
    never computed across an episode boundary. A potential with a ``reset()`` method (one that
    depends on the episode so far, e.g. :class:`~prm_gym.rewards.spa.ProgressPotential`) has it
    called at every reset, before Φ(s₀).

    Outside a trajectory-level wrapper (e.g. ``PotentialShaping(GatedAccumulation(...))``) the
    term is paid ungated every step and added to the inner wrapper's ``info["step_rewards"]`` on
    the final step, so those still sum to the episode's return.

    With γ = 1 the shaping terms of an episode telescope to Φ(s_T) − Φ(s_0): sequence-level
    advantages (GRPO, RLOO) get no signal from it; step-level returns or a critic do.

    Args:
        env: Any env.
        potential: Φ(observation, info) → float.
        gamma: The learner's discount factor.
        name: Key under ``info["reward_components"]``.

    Example:
        >>> import gymnasium as gym
        >>> from prm_gym.wrappers import PotentialShaping
        >>> env = PotentialShaping(gym.make("CartPole-v1"), lambda obs, info: -abs(obs[2]), 0.99)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(0)
        >>> sorted(info["reward_components"])
        ['outcome', 'shaping']
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        potential: Potential,
        gamma: float = 0.99,
        name: str = "shaping",
    ) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if not callable(potential):
            raise TypeError("potential must be callable as potential(observation, info)")
        gym.utils.RecordConstructorArgs.__init__(self, potential=potential, gamma=gamma, name=name)
        gym.Wrapper.__init__(self, env)
        self.potential = potential
        self.gamma = gamma
        self.name = name
        self.reward_role = RewardRole(records=(name,))
        check_composition(self, self.reward_role)
        self._terms = EpisodeTerms()
        self._phi = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._terms.reset()
        start = getattr(self.potential, "reset", None)
        if callable(start):  # history-dependent potentials (ProgressPotential) start afresh
            start()
        self._phi = float(self.potential(obs, info))
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        phi_next = 0.0 if terminated else float(self.potential(obs, info))
        # credit.potential_shaping on scalars, in plain floats: NumPy's per-call overhead would
        # dominate a fast env's step (Push-v0 runs at ~10k steps/s).
        term = self.gamma * phi_next - self._phi
        self._phi = phi_next
        reward = self._terms.add(info, reward, self.name, term, terminated or truncated)
        return obs, reward, terminated, truncated, info
