"""Family assets of prm/ToolUse-v0 (DESIGN §5b): the recommended dense stack, gold and hacks.

The recommended dense stack (:func:`make_dense`) is

* ``ProgressReward(env, ToolProgress(env.unwrapped.tools), coef)`` — the share of the gold
  call multiset the episode's valid calls have made, each gold call once (exact after
  BFCL-style normalisation), paid as it rises; the answer adds nothing beyond the outcome;
* ``ProcessReward(..., ToolEfficiency(), EFFICIENCY_SHARE * coef, name="efficiency")`` — −1 per
  repeated call and −0.5 per call beyond the pending gold calls (never positive), so
  duplicating or spamming calls costs something.

The gold makes the gold calls and answers: return ``1 + coef``. Every hack of
:mod:`prm_gym.envs.tools.hacks` returns less at any ``coef > 0``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from prm_gym.core.assets import FamilyAssets
from prm_gym.envs.tools.hacks import HACKS, gold_policy
from prm_gym.envs.tools.rewards import ToolEfficiency, ToolProgress, ToolRLReward

__all__ = ["ASSETS", "DEFAULT_COEF", "EFFICIENCY_SHARE", "make_dense", "make_raw"]

DEFAULT_COEF = 0.5
"""Default weight of the call progress: all gold calls earn ``0.5`` dense + ``1`` outcome."""

EFFICIENCY_SHARE = 0.25
"""Weight of :class:`ToolEfficiency` relative to ``coef``."""


def make_dense(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """The recommended stack (module docstring) at ``coef`` (default :data:`DEFAULT_COEF`)."""
    from prm_gym.wrappers import ProcessReward, ProgressReward

    c = DEFAULT_COEF if coef is None else float(coef)
    registry = getattr(env.unwrapped, "tools", None)
    env = ProgressReward(env, ToolProgress(registry), coef=c)
    efficiency = ToolEfficiency(registry=registry)
    return ProcessReward(env, efficiency, coef=EFFICIENCY_SHARE * c, name="efficiency")


def make_raw(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """``ProcessReward(env, ToolRLReward(), coef)``: the raw per-step ToolRL sum (farmable by
    repeating a near-miss call; see :mod:`prm_gym.envs.tools.rewards`)."""
    from prm_gym.wrappers import ProcessReward

    c = DEFAULT_COEF if coef is None else float(coef)
    return ProcessReward(env, ToolRLReward(getattr(env.unwrapped, "tools", None)), coef=c)


ASSETS = FamilyAssets(
    make_dense=make_dense,
    gold_policy=gold_policy,
    hack_policies=HACKS,
    make_raw=make_raw,
    default_coef=DEFAULT_COEF,
)
