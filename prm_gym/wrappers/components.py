"""Bookkeeping for ``info["reward_components"]``: every reward a learner sees can be taken apart.

The first wrapper to add a term records the env's own reward as ``"outcome"``; each wrapper then
adds its term under its own name, so ``sum(info["reward_components"].values()) == reward``.
"""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

__all__ = ["add_reward_component", "reward_components"]


def reward_components(info: dict[str, Any], reward: SupportsFloat) -> dict[str, float]:
    """The step's components so far, creating ``{"outcome": reward}`` on first use."""
    comps = info.get("reward_components")
    if comps is None:
        comps = {"outcome": float(reward)}
        info["reward_components"] = comps
    return comps


def add_reward_component(
    info: dict[str, Any], reward: SupportsFloat, name: str, value: float
) -> float:
    """Record ``value`` under ``name`` (``name_2``, ``name_3``… if taken) and return the new reward.

    Raises ``ValueError`` for a non-finite term: a scorer that returns NaN is a bug to surface,
    not a reward to train on.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"reward component {name!r} is not finite ({value}); check the scorer")
    comps = reward_components(info, reward)
    key, k = name, 2
    while key in comps:
        key, k = f"{name}_{k}", k + 1
    comps[key] = value
    return float(reward) + value
