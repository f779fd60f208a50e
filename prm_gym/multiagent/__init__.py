"""Multi-agent PettingZoo environments with per-agent process rewards and credit.

* ``solver_verifier_v0`` (AEC, text): a solver writes a prm/Math-v0 solution step by step and a
  verifier judges the steps, optionally a MALT refiner rewrites it (:class:`SolverVerifierEnv`).
* ``team_push_v0`` (Parallel, MuJoCo): two grippers push a long bar to a goal pose, with
  difference rewards and per-agent potential shaping (:class:`TeamPushEnv`).

Build them with :func:`make`; ``ENV_NAMES`` lists the names. ``pettingzoo`` (and ``mujoco`` for
``team_push_v0``) are imported when an env is made, so importing this package is free.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ENV_NAMES", "RoleEnv", "make"]

#: name -> ("module:Class", one-line description)
ENV_NAMES: dict[str, tuple[str, str]] = {
    "solver_verifier_v0": (
        "prm_gym.multiagent.solver_verifier:SolverVerifierEnv",
        "PettingZoo AEC: a solver writes maths steps, a verifier judges them; verified "
        "progress for the solver, label agreement / RL Tango outcome consistency for the verifier",
    ),
    "team_push_v0": (
        "prm_gym.multiagent.team_push:TeamPushEnv",
        "PettingZoo Parallel, MuJoCo: two grippers push a long bar to a goal pose; sparse team "
        "success, difference rewards and per-agent potential shaping",
    ),
}


def make(name: str, **kwargs: Any) -> Any:
    """Build the multi-agent env ``name`` (one of :data:`ENV_NAMES`) with ``kwargs``.

    Example:
        >>> from prm_gym.multiagent import make
        >>> env = make("solver_verifier_v0", mode="first_error")
        >>> env.possible_agents
        ['solver', 'verifier']
    """
    if name not in ENV_NAMES:
        raise ValueError(f"unknown multi-agent env {name!r}; known: {sorted(ENV_NAMES)}")
    module, cls = ENV_NAMES[name][0].split(":")
    try:
        loaded = import_module(module)
    except ModuleNotFoundError as err:
        if err.name not in ("pettingzoo", "mujoco"):
            raise
        raise ModuleNotFoundError(
            f"{name} needs the {err.name!r} package: pip install {err.name}", name=err.name
        ) from err
    return getattr(loaded, cls)(**kwargs)


def __getattr__(name: str) -> Any:
    if name == "RoleEnv":
        from prm_gym.multiagent.role_env import RoleEnv

        return RoleEnv
    if name == "SolverVerifierEnv":
        from prm_gym.multiagent.solver_verifier import SolverVerifierEnv

        return SolverVerifierEnv
    if name == "TeamPushEnv":
        from prm_gym.multiagent.team_push import TeamPushEnv

        return TeamPushEnv
    raise AttributeError(f"module 'prm_gym.multiagent' has no attribute {name!r}")
