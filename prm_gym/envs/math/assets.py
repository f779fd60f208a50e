"""Family assets of prm/Math-v0 (DESIGN §5b): dense stack, integrity kit, PRM training data.

* ``make_dense(env, coef=None)``: ``ProgressReward(env, MathProgress(), coef)`` (default coef
  0.5): each step earns the rise of the share of the task's gold values established by
  correct steps, so an episode's dense total is at most ``coef`` and repeating, padding or
  restating earns nothing. Not gated: the gate would hide the progress term until the outcome,
  and the term is already paid once per unit of real progress. Any successful episode
  (outcome 1) earns more than any failed one (dense total ≤ 0.5).
* ``make_raw(env, coef=None)``: ``ProcessReward(env, RuleVerifier(), coef)`` (default coef 1),
  the raw per-step sum, farmable (``count_up_then_answer``); shown next to the dense stack.
* ``gold_policy`` / ``hack_policies``: :mod:`prm_gym.envs.math.hacks`.
* ``solutions(n, seed, *, noise=(0.15, 0.2), samples_per_task=1, levels=None, families=None)
  -> list[NoisySolution]``: :func:`~prm_gym.envs.math.experts.noisy_solutions`, the scripted
  noisy solver's solutions for training PRMs; ``extras["prover"]`` is
  :func:`~prm_gym.envs.math.experts.gold_prover` (``gold_prover(slip, seed) ->
  prover(observation, env) -> step``) for Monte-Carlo labels.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from prm_gym.core.assets import FamilyAssets
from prm_gym.envs.math.experts import gold_prover, noisy_solutions
from prm_gym.envs.math.hacks import HACKS, gold_policy
from prm_gym.envs.math.progress import MathProgress
from prm_gym.envs.math.verifier import RuleVerifier

__all__ = ["ASSETS", "DEFAULT_COEF", "make_dense", "make_raw"]

DEFAULT_COEF = 0.5
"""Weight of the progress term: half the outcome, so the outcome stays the main signal."""


def make_dense(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """prm/Math-v0's recommended dense stack: ``ProgressReward(env, MathProgress(), coef)``."""
    from prm_gym.wrappers.progress import ProgressReward

    return ProgressReward(env, MathProgress(), coef=DEFAULT_COEF if coef is None else coef)


def make_raw(env: gym.Env[Any, Any], *, coef: float | None = None) -> gym.Env[Any, Any]:
    """The raw per-step sum ``ProcessReward(env, RuleVerifier(), coef)``: farmable, see
    :class:`~prm_gym.envs.math.RuleVerifier`."""
    from prm_gym.wrappers.process import ProcessReward

    return ProcessReward(env, RuleVerifier(), coef=1.0 if coef is None else coef)


ASSETS = FamilyAssets(
    make_dense=make_dense,
    gold_policy=gold_policy,
    hack_policies=HACKS,
    make_raw=make_raw,
    default_coef=DEFAULT_COEF,
    solutions=noisy_solutions,
    extras={"prover": gold_prover},
)
