"""Family assets of prm/Code-v0 (DESIGN §5b): the recommended dense stack, gold and hacks.

The recommended dense stack (:func:`make_dense`) is

* ``ProgressReward(env, CodeProgress(), coef)``: the best pass fraction so far, each unit
  paid once (resubmitting a partial solution earns nothing more);
* ``ProcessReward(..., FailedSubmissionCost(), ATTEMPT_COST * coef, name="attempt_cost")``:
  a small cost for each submission that does not pass every test (invalid ones included), so
  partial attempts before the right one return less than submitting it at once.

Pass fractions come from the sandbox's judge process, which the submission cannot reach, so
forged results, permissive ``__eq__`` objects and fake reports earn 0. The gold submits
``task.answer`` and returns ``1 + coef``; every hack of :mod:`prm_gym.envs.code.hacks`
returns less at any ``coef > 0``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from prm_gym.core.assets import FamilyAssets
from prm_gym.envs.code.hacks import HACKS, gold_policy
from prm_gym.envs.code.rewards import CodeProgress, FailedSubmissionCost, WeightedTestPassReward

__all__ = ["ASSETS", "ATTEMPT_COST", "DEFAULT_COEF", "make_dense", "make_raw"]

DEFAULT_COEF = 0.5
"""Default weight of the progress term: a solved task earns ``0.5`` dense + ``1`` outcome."""

ATTEMPT_COST = 0.05
"""Cost of a failed submission, relative to ``coef``."""


def make_dense(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """The recommended stack (module docstring) at ``coef`` (default :data:`DEFAULT_COEF`)."""
    from prm_gym.wrappers import ProcessReward, ProgressReward

    c = DEFAULT_COEF if coef is None else float(coef)
    env = ProgressReward(env, CodeProgress(), coef=c)
    return ProcessReward(
        env, FailedSubmissionCost(), coef=ATTEMPT_COST * c, invalid_score=-1.0, name="attempt_cost"
    )


def make_raw(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """``ProcessReward(env, WeightedTestPassReward(), coef)``: the raw per-step sum, which pays
    every submission its weighted pass share again (farmable by resubmitting)."""
    from prm_gym.wrappers import ProcessReward

    c = DEFAULT_COEF if coef is None else float(coef)
    return ProcessReward(env, WeightedTestPassReward(), coef=c)


ASSETS = FamilyAssets(
    make_dense=make_dense,
    gold_policy=gold_policy,
    hack_policies=HACKS,
    make_raw=make_raw,
    default_coef=DEFAULT_COEF,
)
