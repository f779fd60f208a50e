"""Observation layout and scene geometry of the manipulation envs.

Everything that reads a manipulation observation (potentials, scripted experts, learned progress
models, LLM-written reward code) indexes it through these names rather than magic numbers. This
module imports only the standard library, so it never loads MuJoCo.

``observation`` vector (float64; world frame, metres, m/s, rad/s):

=========  ===================  ======================================================  =====
index      name                 meaning                                                 tasks
=========  ===================  ======================================================  =====
0:3        ``GRIP_POS``         grip point (centre between the fingertips)              all
3          ``FINGER_WIDTH``     opening between the finger pads (0 closed, 0.09 open)   all
4:7        ``GRIP_VEL``         grip point velocity                                     all
7          ``FINGER_VEL``       rate of change of the opening                           all
8:11       ``BLOCK_POS``        block centre                                            block
11:14      ``BLOCK_REL_POS``    block centre − grip point                               block
14:18      ``BLOCK_QUAT``       block orientation quaternion (w, x, y, z)               block
18:21      ``BLOCK_VEL``        block linear velocity                                   block
21:24      ``BLOCK_ANGVEL``     block angular velocity                                  block
=========  ===================  ======================================================  =====

Reach observations have the first ``REACH_OBS_DIM`` = 8 entries; Push and PickPlace have all
``BLOCK_OBS_DIM`` = 24. ``achieved_goal`` is the grip point (Reach) or the block centre (Push,
PickPlace); ``desired_goal`` is the goal position. The numbers below mirror the MJCF in
``assets/`` (``tests/test_manipulation.py`` checks that they agree).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "BLOCK_ANGVEL",
    "BLOCK_HALF",
    "BLOCK_OBS_DIM",
    "BLOCK_POS",
    "BLOCK_QUAT",
    "BLOCK_REL_POS",
    "BLOCK_REST_Z",
    "BLOCK_VEL",
    "DISTANCE_THRESHOLD",
    "FINGER_MAX_WIDTH",
    "FINGER_VEL",
    "FINGER_WIDTH",
    "GRIP_HIGH",
    "GRIP_LOW",
    "GRIP_POS",
    "GRIP_START",
    "GRIP_VEL",
    "MAX_DELTA",
    "MAX_EPISODE_STEPS",
    "PUSH_OFFSET",
    "REACH_OBS_DIM",
    "TABLE_TOP_Z",
    "TASKS",
    "TaskName",
    "task_name",
]

GRIP_POS: Final = slice(0, 3)
FINGER_WIDTH: Final = 3
GRIP_VEL: Final = slice(4, 7)
FINGER_VEL: Final = 7
BLOCK_POS: Final = slice(8, 11)
BLOCK_REL_POS: Final = slice(11, 14)
BLOCK_QUAT: Final = slice(14, 18)
BLOCK_VEL: Final = slice(18, 21)
BLOCK_ANGVEL: Final = slice(21, 24)
REACH_OBS_DIM: Final = 8
BLOCK_OBS_DIM: Final = 24

TABLE_TOP_Z: Final = 0.4
"""Height of the table surface."""
BLOCK_HALF: Final = 0.025
"""Half the edge of the cube (a 5 cm block, as in Fetch)."""
BLOCK_REST_Z: Final = TABLE_TOP_Z + BLOCK_HALF
"""Height of the block centre when it rests on the table."""
FINGER_MAX_WIDTH: Final = 0.09
"""Largest opening between the finger pads (each finger travels 0.045)."""
GRIP_LOW: Final = (-0.3, -0.3, 0.42)
"""Lower bounds of the grip point (z: fingertips just above the table)."""
GRIP_HIGH: Final = (0.3, 0.3, 0.95)
"""Upper bounds of the grip point."""
GRIP_START: Final = (0.0, 0.0, 0.52)
"""Grip point at reset."""
PUSH_OFFSET: Final = 0.04
"""Grip point to block centre, in x-y, when the closed fingers touch a face of the block
(half the block, 0.025, plus half the closed finger pair, 0.012 to 0.016)."""
MAX_DELTA: Final = 0.05
"""Largest commanded move of the grip point per step and axis (action 1.0), as in Fetch."""
DISTANCE_THRESHOLD: Final = 0.05
"""Success radius around the goal, as in Fetch."""
MAX_EPISODE_STEPS: Final = 50
"""Default episode length (the env truncates; it never terminates)."""

TaskName = Literal["reach", "push", "pick_place"]
TASKS: Final[dict[str, TaskName]] = {
    "reach": "reach",
    "push": "push",
    "pick_place": "pick_place",
    "pickplace": "pick_place",
    "prm/reach-v0": "reach",
    "prm/push-v0": "push",
    "prm/pickplace-v0": "pick_place",
}


def task_name(env_or_id: object) -> TaskName:
    """The task of an env id (``"prm/Push-v0"``), a task name (``"push"``) or an env instance.

    Raises:
        ValueError: Not one of the manipulation tasks.
    """
    if isinstance(env_or_id, str):
        key = env_or_id.strip().lower()
    else:
        unwrapped = getattr(env_or_id, "unwrapped", env_or_id)
        key = str(getattr(unwrapped, "task_name", ""))
    if key not in TASKS:
        raise ValueError(
            f"unknown manipulation task {env_or_id!r}; expected prm/Reach-v0, prm/Push-v0, "
            "prm/PickPlace-v0 (or reach, push, pick_place), or one of those envs"
        )
    return TASKS[key]
