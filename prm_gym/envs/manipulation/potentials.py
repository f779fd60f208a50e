"""Staged distance potentials of the manipulation envs, for ``PotentialShaping``.

A staged potential splits a task into stages (Push: get behind the block, then push it to the
goal; PickPlace: reach the block, close the fingers on it, carry it to the goal). Reach and
PickPlace score a state as ``Φ = scale · ((k + p) / K − 1)``, where ``k`` is the stage the state
is in, ``K`` the number of stages and ``p ∈ [0, 1]`` the progress within the stage
(``1 − d / distance_scale`` for a distance ``d``, clipped at 0): every state of a later stage
scores above every state of an earlier one. Push sums the remaining cost of both stages instead,
``Φ = −scale · min(1, (d(grip, pushing point) + PUSH_WEIGHT · d(block, goal)) / push_scale)``,
with no jump between stages (see :class:`StagedPotential`). Φ is bounded in ``[−scale, 0]``
and a state with the block within the success radius is always in the last stage. Along the
scripted experts' trajectories Φ rises until the task is done (``tests/test_manipulation.py``
checks a correlation with time ≥ 0.8).

Φ reads the observation only, through the names in :mod:`~prm_gym.envs.manipulation.layout`,
and imports neither MuJoCo nor torch. ``potential(obs, info)`` scores one observation in pure
Python (a few microseconds, so shaping costs little next to a physics step);
:meth:`StagedPotential.batch` scores a batch with NumPy for vector envs; both give the same
values.

Example:
    >>> import gymnasium as gym
    >>> import prm_gym
    >>> from prm_gym.envs.manipulation import StagedPotential
    >>> from prm_gym.wrappers import PotentialShaping
    >>> env = PotentialShaping(gym.make("prm/Push-v0"), StagedPotential("prm/Push-v0"), gamma=1.0)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step([0.5, 0.0, 0.0, 0.0])
    >>> sorted(info["reward_components"])
    ['outcome', 'shaping']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from prm_gym.envs.manipulation.layout import (
    BLOCK_HALF,
    BLOCK_POS,
    DISTANCE_THRESHOLD,
    FINGER_MAX_WIDTH,
    FINGER_WIDTH,
    GRIP_POS,
    PUSH_OFFSET,
    TaskName,
    task_name,
)

__all__ = ["StagedPotential"]

FloatArray = npt.NDArray[np.float64]

N_STAGES: dict[TaskName, int] = {"reach": 1, "push": 2, "pick_place": 3}
CONTACT_RADIUS = 0.035
"""Push: within this distance of the pushing point the gripper is at the block (stage 1)."""
PUSH_WEIGHT = 2.5
"""Push: cost of a metre of pushing relative to a metre of approach. The scripted expert
approaches at full speed (5 cm per step) and pushes at about 2 cm per step (the block slides on
after a fast push), so the weighted sum is proportional to the steps the expert still needs."""
NEAR_BLOCK = 0.02
"""PickPlace: the grip point counts as around the block once it is this close to its centre."""
HOLD_TOLERANCE = 0.03
"""PickPlace: a held block may sit this far from the grip point (it slips a little in the pads)."""
HELD_WIDTH = (2 * BLOCK_HALF - 0.02, 2 * BLOCK_HALF + 0.008)
"""PickPlace: finger openings that mean "closed on the block" (closed on nothing reads ~0)."""


class StagedPotential:
    """Φ(obs, info) for ``prm/Reach-v0``, ``prm/Push-v0`` or ``prm/PickPlace-v0``.

    Stages (``d(a, b)`` is the Euclidean distance; ``p(d) = 1 − min(d / distance_scale, 1)``):

    - Reach (K = 1): ``p(d(grip, goal))``, i.e. Φ = −scale · d / distance_scale.
    - Push (K = 2): 0 — move to the pushing point ``PUSH_OFFSET`` behind the block on the far
      side from the goal; 1 — push (within ``CONTACT_RADIUS`` of the pushing point, or the
      block within the success radius). Φ is the remaining cost of the plan, not a stage
      level: ``Φ = −scale · min(1, c / push_scale)`` with
      ``c = d(grip, pushing point) + PUSH_WEIGHT · d(block, goal)``, proportional to the steps
      the scripted expert still needs, so Φ approximates the optimal value up to scale. There
      is no bonus for entering the push stage: a stage bonus makes losing contact (the block
      slides ahead after a push) cost more than pushing earns, and SAC then learns to hover at
      the pushing point. Pushing the block by δ toward the goal gains ``(PUSH_WEIGHT − 1) δ``
      even when the gripper is left behind.
    - PickPlace (K = 3): 0 — reach the block, ``p(d(grip, block))``; 1 — within ``NEAR_BLOCK``
      of it, close the fingers, progress = how far the opening has closed toward the block's
      width; 2 — held (near the block with the opening at the block's width) or the block
      within the success radius, ``p(d(block, goal))``.

    Args:
        task: ``"prm/Reach-v0"``, ``"prm/Push-v0"``, ``"prm/PickPlace-v0"``, a task name
            (``"push"``) or an env instance.
        scale: Φ lies in ``[−scale, 0]``; with γ = 1 an episode's shaping terms sum to at most
            ``scale`` in magnitude.
        distance_scale: Distance (m) at which within-stage progress reaches 0 (Reach,
            PickPlace); the default covers the largest start-to-goal distances of the tasks.
        push_scale: Push: remaining cost ``c`` (m) at which Φ reaches ``−scale``. At the
            default 1.0 only starts with the block far from both gripper and goal saturate.
    """

    def __init__(
        self,
        task: Any,
        scale: float = 1.0,
        distance_scale: float = 0.6,
        push_scale: float = 1.0,
    ) -> None:
        for name, value in (
            ("scale", scale),
            ("distance_scale", distance_scale),
            ("push_scale", push_scale),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        self.task: TaskName = task_name(task)
        self.scale = float(scale)
        self.distance_scale = float(distance_scale)
        self.push_scale = float(push_scale)
        self.n_stages = N_STAGES[self.task]

    def __repr__(self) -> str:
        push = f", push_scale={self.push_scale}" if self.task == "push" else ""
        return (
            f"StagedPotential(task={self.task!r}, scale={self.scale}, "
            f"distance_scale={self.distance_scale}{push})"
        )

    # ------------------------------------------------------------------ one observation

    def __call__(self, observation: Mapping[str, Any], info: Any = None, /) -> float:
        """Φ of one observation dict (``info`` is not used)."""
        return self.scale * (self._level_scalar(observation)[1] / self.n_stages - 1.0)

    def stage(self, observation: Mapping[str, Any]) -> int:
        """The stage index (0-based) of one observation."""
        return self._level_scalar(observation)[0]

    def _progress(self, d: float) -> float:
        return 1.0 - min(d / self.distance_scale, 1.0)

    def _push_level(self, to_point: float, to_goal: float) -> float:
        """Push: the level K · (1 − min(1, c / push_scale)), so that Φ = scale · (level/K − 1)."""
        cost = to_point + PUSH_WEIGHT * to_goal
        return self.n_stages * (1.0 - min(cost / self.push_scale, 1.0))

    def _level_scalar(self, observation: Mapping[str, Any]) -> tuple[int, float]:
        """(stage k, level k + progress) of one observation."""
        # Python floats, not NumPy scalars: this runs once per env step, where a few
        # microseconds matter next to the physics.
        o = _floats(observation["observation"])
        goal = _floats(observation["desired_goal"])
        grip = o[GRIP_POS]
        if self.task == "reach":
            return 0, self._progress(_dist(grip, goal))
        block = o[BLOCK_POS]
        to_goal = _dist(block, goal)
        if self.task == "push":
            ux, uy = goal[0] - block[0], goal[1] - block[1]
            norm = math.sqrt(ux * ux + uy * uy)
            # A goal straight above the block has no pushing direction: aim at the block.
            k = PUSH_OFFSET / norm if norm > 1e-9 else 0.0
            point = [block[0] - k * ux, block[1] - k * uy, block[2]]
            to_point = _dist(grip, point)
            stage = 1 if to_point < CONTACT_RADIUS or to_goal < DISTANCE_THRESHOLD else 0
            return stage, self._push_level(to_point, to_goal)
        to_block = _dist(grip, block)
        width = o[FINGER_WIDTH]
        held = to_block < HOLD_TOLERANCE and HELD_WIDTH[0] < width < HELD_WIDTH[1]
        if held or to_goal < DISTANCE_THRESHOLD:
            return 2, 2.0 + self._progress(to_goal)
        if to_block < NEAR_BLOCK:
            return 1, 1.0 + _closure(width)
        return 0, self._progress(to_block)

    # ------------------------------------------------------------------ batches

    def batch(self, observations: Mapping[str, Any]) -> FloatArray:
        """Φ for a batch: ``observations["observation"]`` ``(B, obs_dim)`` and
        ``observations["desired_goal"]`` ``(B, 3)`` (a vector env's stacked dict). Returns
        float64 ``(B,)``, equal to calling the potential on each row.
        """
        level = self._level_batch(observations)[1]
        return np.asarray(self.scale * (level / self.n_stages - 1.0))

    def stages(self, observations: Mapping[str, Any]) -> npt.NDArray[np.int64]:
        """Stage indices for a batch (same input as :meth:`batch`)."""
        return self._level_batch(observations)[0].astype(np.int64)

    def _level_batch(self, observations: Mapping[str, Any]) -> tuple[FloatArray, FloatArray]:
        """(stages, levels) of a batch, elementwise as :meth:`_level_scalar`."""
        o = np.asarray(observations["observation"], dtype=np.float64)
        goal = np.asarray(observations["desired_goal"], dtype=np.float64)
        if o.ndim != 2 or goal.ndim != 2 or goal.shape != (o.shape[0], 3):
            raise ValueError(
                "batch() takes arrays with a leading batch dimension: observation (B, obs_dim) "
                f"and desired_goal (B, 3), got {o.shape} and {goal.shape}; call the potential "
                "itself for one observation"
            )
        grip = o[:, GRIP_POS]
        zeros = np.zeros(len(o))
        if self.task == "reach":
            return zeros, self._progress_batch(_norm(grip - goal))
        block = o[:, BLOCK_POS]
        to_goal = _norm(block - goal)
        if self.task == "push":
            u = goal[:, :2] - block[:, :2]
            norm = np.sqrt(u[:, 0] * u[:, 0] + u[:, 1] * u[:, 1])
            k = np.where(norm > 1e-9, PUSH_OFFSET / np.maximum(norm, 1e-9), 0.0)
            point = block.copy()
            point[:, :2] -= k[:, None] * u
            to_point = _norm(grip - point)
            cost = to_point + PUSH_WEIGHT * to_goal
            level = self.n_stages * (1.0 - np.minimum(cost / self.push_scale, 1.0))
            pushing = (to_goal < DISTANCE_THRESHOLD) | (to_point < CONTACT_RADIUS)
            return pushing.astype(np.float64), level
        to_block = _norm(grip - block)
        width = o[:, FINGER_WIDTH]
        held = (to_block < HOLD_TOLERANCE) & (width > HELD_WIDTH[0]) & (width < HELD_WIDTH[1])
        carrying = held | (to_goal < DISTANCE_THRESHOLD)
        near = ~carrying & (to_block < NEAR_BLOCK)
        stage = np.where(carrying, 2.0, np.where(near, 1.0, 0.0))
        closure = np.clip(
            (FINGER_MAX_WIDTH - width) / (FINGER_MAX_WIDTH - 2 * BLOCK_HALF), 0.0, 1.0
        )
        level = np.where(
            carrying,
            2.0 + self._progress_batch(to_goal),
            np.where(near, 1.0 + closure, self._progress_batch(to_block)),
        )
        return stage, level

    def _progress_batch(self, d: FloatArray) -> FloatArray:
        return 1.0 - np.minimum(d / self.distance_scale, 1.0)


def _closure(width: float) -> float:
    """How far the opening has closed from fully open toward the block's width, in [0, 1]."""
    return min(max((FINGER_MAX_WIDTH - width) / (FINGER_MAX_WIDTH - 2 * BLOCK_HALF), 0.0), 1.0)


def _floats(values: Any) -> list[float]:
    """A 1-D array (NumPy of any float dtype, or a sequence) as Python floats."""
    try:
        out: list[float] = values.tolist()
    except AttributeError:
        out = [float(v) for v in values]
    return out


def _dist(a: list[float], b: list[float]) -> float:
    """Distance between two points, summed in the order :func:`_norm` uses (same bits)."""
    dx, dy, dz = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return math.sqrt(dx * dx + dy * dy + dz * dz)


def _norm(v: FloatArray) -> FloatArray:
    """Row norms of ``(B, 3)`` differences, in the same order as :func:`_dist`."""
    return np.asarray(np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2]))
