"""Family assets of prm/SQL-v0 (DESIGN §5b): the recommended dense stack, gold and hacks.

The recommended dense stack (:func:`make_dense`) is

* ``ProgressReward(env, SQLProgress(checker=env.unwrapped.checker), coef)`` — the submitted
  query's Reasoning-SQL partial credit (execution match, syntax, schema-linking F1, n-gram
  overlap, format) paid once, on the submission; exploration is never scored against the gold;
* ``ProcessReward(..., SQLRepeatPenalty(), REPEAT_SHARE * coef, name="repeat")`` — −1 for each
  exploratory query that repeats an earlier one, so stalling with the same query costs
  something (gold-free, never positive).

The gold submits ``task.answer``: return ``1 + coef``. Every hack of
:mod:`prm_gym.envs.sql.hacks` returns less at any ``coef > 0``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from prm_gym.core.assets import FamilyAssets
from prm_gym.envs.sql.hacks import HACKS, gold_policy
from prm_gym.envs.sql.rewards import SQLPartialReward, SQLProgress, SQLRepeatPenalty

__all__ = ["ASSETS", "DEFAULT_COEF", "REPEAT_SHARE", "make_dense", "make_raw"]

DEFAULT_COEF = 0.5
"""Default weight of the partial credit: the right query earns ``0.5`` dense + ``1`` outcome."""

REPEAT_SHARE = 0.25
"""Weight of :class:`SQLRepeatPenalty` relative to ``coef``."""


def _checker(env: gym.Env[Any, Any]) -> Any:
    return getattr(env.unwrapped, "checker", None)


def make_dense(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """The recommended stack (module docstring) at ``coef`` (default :data:`DEFAULT_COEF`)."""
    from prm_gym.wrappers import ProcessReward, ProgressReward

    c = DEFAULT_COEF if coef is None else float(coef)
    measure = SQLProgress(checker=_checker(env))
    env = ProgressReward(env, measure, coef=c)
    return ProcessReward(env, SQLRepeatPenalty(), coef=REPEAT_SHARE * c, name="repeat")


def make_raw(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """``ProcessReward(env, SQLPartialReward(checker=env.unwrapped.checker), coef)``: the raw
    per-step sum. Exploration scores 0, so only the submission is paid (once)."""
    from prm_gym.wrappers import ProcessReward

    c = DEFAULT_COEF if coef is None else float(coef)
    return ProcessReward(env, SQLPartialReward(checker=_checker(env)), coef=c)


ASSETS = FamilyAssets(
    make_dense=make_dense,
    gold_policy=gold_policy,
    hack_policies=HACKS,
    make_raw=make_raw,
    default_coef=DEFAULT_COEF,
)
