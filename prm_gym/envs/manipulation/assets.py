"""Family assets of the manipulation envs (DESIGN §5b): dense stack, expert, hacks, demos.

The recommended dense stack is potential-based shaping with the task's
:class:`~prm_gym.envs.manipulation.potentials.StagedPotential` at γ = 0.99 (the discount SB3's
SAC uses), so the optimal policy is unchanged (Ng et al., 1999) and a cycle of states earns
nothing under the learner's discount. The hacking policies are the continuous-control ways to
farm a dense term: stand still, oscillate, flail at random, and stop short of the goal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from prm_gym.core.assets import FamilyAssets, Policy
from prm_gym.envs.manipulation.experts import collect_demos, expert_for, random_start_demos
from prm_gym.envs.manipulation.potentials import StagedPotential

__all__ = ["ASSETS", "DENSE_GAMMA", "DENSE_SCALE", "make_dense"]

DENSE_SCALE = 10.0
"""Default Φ scale of the dense stack (the scale SB3 training uses; Φ ∈ [−scale, 0])."""

DENSE_GAMMA = 0.99
"""γ of the dense stack's shaping term: SB3 SAC's default discount."""


def make_dense(
    env: gym.Env[Any, Any], *, coef: float | None = None, gamma: float = DENSE_GAMMA
) -> gym.Env[Any, Any]:
    """``PotentialShaping(env, StagedPotential(env, scale=coef or DENSE_SCALE), gamma)``."""
    from prm_gym.wrappers import PotentialShaping

    scale = DENSE_SCALE if coef is None else float(coef)
    return PotentialShaping(env, StagedPotential(env, scale=scale), gamma=gamma)


def default_potential(env_id: str, **kwargs: Any) -> StagedPotential:
    """The task's :class:`StagedPotential` (``prm-gym train --shaping potential``)."""
    return StagedPotential(env_id, **kwargs)


def _gold() -> Policy:
    experts: dict[str, Any] = {}

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        key = env.unwrapped.spec.id if env.unwrapped.spec else "env"
        if key not in experts:
            experts[key] = expert_for(env)
        return experts[key](obs)

    return act


def _zeros(env: gym.Env[Any, Any]) -> Any:
    return np.zeros(env.action_space.shape or (4,), dtype=np.float32)


def _stall() -> Policy:
    """Stand still: zero motion, fingers as they are."""

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        return _zeros(env)

    return act


def _oscillate() -> Policy:
    """Move back and forth at full speed along x: a cycle of states."""
    sign = [1.0]

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        sign[0] = -sign[0]
        action = _zeros(env)
        action[0] = sign[0]
        return action

    return act


def _random() -> Policy:
    """Uniform random actions from a fixed seed."""
    rng = np.random.default_rng(0)

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        return rng.uniform(-1.0, 1.0, _zeros(env).shape).astype(np.float32)

    return act


def _stop_short() -> Policy:
    """Follow the expert for a few steps, then oscillate in place: collects the early shaping
    terms and hovers without finishing the task."""
    gold, wiggle = _gold(), _oscillate()
    count = [0]

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        count[0] += 1
        return gold(obs, info, env) if count[0] <= 3 else wiggle(obs, info, env)

    return act


ASSETS = FamilyAssets(
    make_dense=make_dense,
    gold_policy=_gold,
    hack_policies={
        "stall": _stall,
        "oscillate": _oscillate,
        "random": _random,
        "stop_short": _stop_short,
    },
    default_coef=DENSE_SCALE,
    potential=default_potential,
    expert_demos=collect_demos,
    random_start_demos=random_start_demos,
    extras={"expert": expert_for},
)
