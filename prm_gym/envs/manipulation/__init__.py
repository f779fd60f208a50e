"""Goal-conditioned MuJoCo manipulation: ``prm/Reach-v0``, ``prm/Push-v0``, ``prm/PickPlace-v0``.

The envs follow Gymnasium-Robotics Fetch conventions on our own MJCF (``assets/``). Alongside
them: the observation layout (:mod:`.layout`), scripted experts and demo collection
(:mod:`.experts`) and staged distance potentials for ``PotentialShaping`` (:mod:`.potentials`).
The env classes are imported on first use, so potentials, experts and the layout can be used
(e.g. to score stored demos) without importing MuJoCo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prm_gym.envs.manipulation import layout
from prm_gym.envs.manipulation.experts import collect_demos, expert_for
from prm_gym.envs.manipulation.potentials import StagedPotential

if TYPE_CHECKING:
    from prm_gym.envs.manipulation.env import (
        GripperEnv,
        PickPlaceEnv,
        PushEnv,
        ReachEnv,
        goal_distance,
    )

_FROM_ENV = {"GripperEnv", "PickPlaceEnv", "PushEnv", "ReachEnv", "goal_distance"}

__all__ = [
    "GripperEnv",
    "PickPlaceEnv",
    "PushEnv",
    "ReachEnv",
    "StagedPotential",
    "collect_demos",
    "expert_for",
    "goal_distance",
    "layout",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_ENV:
        return getattr(importlib.import_module("prm_gym.envs.manipulation.env"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
