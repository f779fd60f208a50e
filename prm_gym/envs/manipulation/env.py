"""Goal-conditioned MuJoCo manipulation: ``prm/Reach-v0``, ``prm/Push-v0``, ``prm/PickPlace-v0``.

Gymnasium-Robotics Fetch conventions (DESIGN §3) on our own MJCF (``assets/``): a Cartesian
two-finger gripper over a table, ``Dict`` observations with ``observation`` / ``achieved_goal`` /
``desired_goal``, a vectorised ``compute_reward`` for hindsight relabelling (SB3's
``HerReplayBuffer``), ``info["is_success"]``, no termination and truncation after 50 steps.

The step is written for speed: one ``mj_step`` call with 4 substeps, controls set from Python
floats, and the observation gathered from ``qpos``/``qvel`` with one small matrix product.
"""

from __future__ import annotations

import math
import reprlib
from importlib import resources
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from prm_gym.envs.manipulation.gl_backend import choose_gl_backend, gl_help
from prm_gym.envs.manipulation.layout import (
    BLOCK_HALF,
    BLOCK_OBS_DIM,
    BLOCK_REST_Z,
    DISTANCE_THRESHOLD,
    FINGER_MAX_WIDTH,
    GRIP_HIGH,
    GRIP_LOW,
    GRIP_START,
    MAX_DELTA,
    MAX_EPISODE_STEPS,
    REACH_OBS_DIM,
    TaskName,
)

choose_gl_backend()  # before mujoco loads: it reads MUJOCO_GL once, at import

import mujoco  # noqa: E402

__all__ = ["GripperEnv", "PickPlaceEnv", "PushEnv", "ReachEnv", "goal_distance"]

RewardType = Literal["sparse", "dense"]
FloatArray = npt.NDArray[np.float64]

N_SUBSTEPS = 4
"""MuJoCo steps per env step (timestep 0.01 s in the MJCF, so 0.04 s per env step)."""
OBJECT_RANGE = 0.15
"""Block and goal x, y are drawn uniformly from ±OBJECT_RANGE around the table centre."""
MIN_SEPARATION = 0.1
"""Smallest distance drawn between the gripper and the block, and between the block and goal."""
AIR_GOAL_HEIGHT = 0.45
"""PickPlace: half of the goals are lifted by U(0, AIR_GOAL_HEIGHT) above the table."""
REACH_GOAL_Z = (0.45, 0.75)
"""Reach: range of the goal height (the table top is at 0.40)."""
_FINGER_TRAVEL = FINGER_MAX_WIDTH / 2


def goal_distance(achieved_goal: npt.ArrayLike, desired_goal: npt.ArrayLike) -> FloatArray:
    """Euclidean distance over the last axis, for single goals or batches.

    Written as ``sqrt(dx² + dy² + dz²)`` in that order so that it equals, bit for bit, the
    scalar distance :meth:`GripperEnv.step` computes (SB3's ``check_env`` compares with ``==``).
    """
    diff = np.asarray(achieved_goal, dtype=np.float64) - np.asarray(desired_goal, dtype=np.float64)
    if diff.shape[-1:] != (3,):
        raise ValueError(f"goals must have 3 coordinates in the last axis, got shape {diff.shape}")
    dx, dy, dz = diff[..., 0], diff[..., 1], diff[..., 2]
    return np.asarray(np.sqrt(dx * dx + dy * dy + dz * dz), dtype=np.float64)


class GripperEnv(gym.Env[dict[str, FloatArray], npt.NDArray[np.float32]]):
    """Shared machinery of the manipulation envs; use :class:`ReachEnv`, :class:`PushEnv` or
    :class:`PickPlaceEnv`.

    Subclasses set the model file, whether there is a block, whether the fingers are held
    closed, and how the goal is drawn (:meth:`_sample_goal`).
    """

    metadata: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "render_modes": ["rgb_array"],
        "render_fps": 25,
    }
    task_name: ClassVar[TaskName] = "push"
    model_file: ClassVar[str] = "block.xml"
    has_block: ClassVar[bool] = True
    fingers_locked: ClassVar[bool] = False

    def __init__(
        self,
        reward_type: RewardType = "sparse",
        render_mode: str | None = None,
        max_steps: int = MAX_EPISODE_STEPS,
        width: int = 480,
        height: int = 480,
    ) -> None:
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.reward_type: RewardType = reward_type
        self.render_mode = render_mode
        self.width = width
        self.height = height
        self.max_steps = int(max_steps)

        path = resources.files("prm_gym.envs.manipulation") / "assets" / self.model_file
        with resources.as_file(path) as xml:
            self.model = mujoco.MjModel.from_xml_path(str(xml))
        self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, width)
        self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, height)
        self.data = mujoco.MjData(self.model)
        # The bindings return views into MjData; keeping them saves an attribute lookup per use.
        self._qpos = self.data.qpos
        self._qvel = self.data.qvel
        self._ctrl = self.data.ctrl
        self._goal_site = self.model.site("goal").id
        self._proj = self._observation_matrix()

        obs_dim = BLOCK_OBS_DIM if self.has_block else REACH_OBS_DIM
        self.observation_space = spaces.Dict(  # type: ignore[assignment]
            {
                "observation": spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64),
                "achieved_goal": spaces.Box(-np.inf, np.inf, (3,), np.float64),
                "desired_goal": spaces.Box(-np.inf, np.inf, (3,), np.float64),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)

        self.goal = np.array(GRIP_START, dtype=np.float64)
        self._goal_xyz = tuple(GRIP_START)
        self._elapsed = 0
        self._renderer: mujoco.Renderer | None = None
        self._closed = False

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, FloatArray], dict[str, Any]]:
        """Start an episode: gripper at rest at ``GRIP_START``, fingers open (PickPlace) or
        closed (Reach, Push); block and goal drawn from ``np_random`` (see the class docs)."""
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed: make a new env")
        super().reset(seed=seed, options=options)
        mujoco.mj_resetDataKeyframe(self.model, self.data, 0)
        if not self.fingers_locked:
            self._qpos[3:5] = _FINGER_TRAVEL
            self._ctrl[3:5] = _FINGER_TRAVEL
        if self.has_block:
            self._qpos[5:8] = self._sample_block()
        self.goal = self._sample_goal()
        self._goal_xyz = tuple(self.goal.tolist())
        self.model.site_pos[self._goal_site] = self.goal
        mujoco.mj_forward(self.model, self.data)
        self._elapsed = 0
        obs = self._get_obs()
        return obs, {"is_success": self._success(obs["achieved_goal"])}

    def step(
        self, action: npt.ArrayLike
    ) -> tuple[dict[str, FloatArray], float, bool, bool, dict[str, Any]]:
        """Move the grip point by ``MAX_DELTA * action[:3]`` and set the fingers by ``action[3]``.

        Raises:
            ValueError: ``action`` does not have shape (4,) or holds NaN or inf.
            RuntimeError: the env was closed.
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed: make a new env")
        ax, ay, az, grip = _check_action(action)
        q = self._qpos
        ctrl = self._ctrl
        x, y, z = q[0:3].tolist()
        ctrl[0] = min(max(x + MAX_DELTA * ax, GRIP_LOW[0]), GRIP_HIGH[0])
        ctrl[1] = min(max(y + MAX_DELTA * ay, GRIP_LOW[1]), GRIP_HIGH[1])
        ctrl[2] = min(max(z + MAX_DELTA * az, GRIP_LOW[2]), GRIP_HIGH[2])
        if not self.fingers_locked:
            # Absolute command: -1 closed, +1 fully open. The finger servos are force-limited,
            # so closing on the block squeezes it instead of crushing through it.
            ctrl[3] = ctrl[4] = (grip + 1.0) * 0.5 * _FINGER_TRAVEL
        mujoco.mj_step(self.model, self.data, nstep=N_SUBSTEPS)
        self._elapsed += 1

        obs = self._get_obs()
        gx, gy, gz = self._goal_xyz
        ex, ey, ez = obs["achieved_goal"].tolist()
        dx, dy, dz = ex - gx, ey - gy, ez - gz
        d = math.sqrt(dx * dx + dy * dy + dz * dz)
        sparse = self.reward_type == "sparse"
        reward = (-1.0 if d > DISTANCE_THRESHOLD else 0.0) if sparse else -d
        info = {"is_success": 1.0 if d < DISTANCE_THRESHOLD else 0.0}
        return obs, reward, False, self._elapsed >= self.max_steps, info

    def compute_reward(
        self, achieved_goal: npt.ArrayLike, desired_goal: npt.ArrayLike, info: Any = None
    ) -> FloatArray:
        """The reward for (batches of) goals, as :meth:`step` computes it.

        Args:
            achieved_goal: Shape ``(..., 3)``.
            desired_goal: Shape ``(..., 3)``.
            info: Ignored (the reward depends on the goals only); SB3's HER passes an array of
                info dicts.

        Returns:
            float64 array of shape ``(...)``: ``-(d > 0.05)`` (sparse) or ``-d`` (dense).
        """
        d = goal_distance(achieved_goal, desired_goal)
        if self.reward_type == "sparse":
            return -(d > DISTANCE_THRESHOLD).astype(np.float64)
        return -d

    def render(self) -> npt.NDArray[np.uint8] | None:
        """An ``(height, width, 3)`` uint8 frame from the ``front`` camera (``rgb_array``).

        Works headless out of the box: without a display, ``MUJOCO_GL`` is set to ``egl`` or
        ``osmesa`` when installed (:mod:`prm_gym.envs.manipulation.gl_backend`). When no OpenGL
        context can be made, raises ``RuntimeError`` saying what to set or install.
        """
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; pass render_mode='rgb_array' to make()"
            )
            return None
        try:
            if self._renderer is None:
                # Created on first use: building a GL context is slow and fails on headless
                # machines without EGL/OSMesa, which must not break envs that never render.
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            self._renderer.update_scene(self.data, camera="front")
            return np.asarray(self._renderer.render())
        except (mujoco.FatalError, ImportError, AttributeError, OSError) as exc:
            raise RuntimeError(f"{gl_help()} ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        """Release the renderer (idempotent); ``step``/``reset`` raise afterwards."""
        self._closed = True
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()

    # ------------------------------------------------------------------ text view

    def describe_state(self) -> str:
        """A compact Python-syntax view of the state, for LLM-written reward code and logs.

        Example (Push)::

            gripper_pos = (0.000, 0.000, 0.520)  # grip point, m (table top z = 0.400)
            finger_width = 0.000  # m between the pads (block is 0.050 wide, max 0.090)
            block_pos = (0.112, -0.054, 0.425)
            goal = (-0.031, 0.118, 0.425)
            gripper_to_block = 0.144
            block_to_goal = 0.224  # success below 0.050
            step = 0  # of 50
        """
        q = self._qpos
        grip = q[0:3]
        table_z = BLOCK_REST_Z - BLOCK_HALF
        lines = [
            f"gripper_pos = {_fmt(grip)}  # grip point, m (table top z = {table_z:.3f})",
            f"finger_width = {q[3] + q[4]:.3f}  # m between the pads "
            f"(block is {2 * BLOCK_HALF:.3f} wide, max {FINGER_MAX_WIDTH:.3f})",
        ]
        if self.has_block:
            block = q[5:8]
            lines += [
                f"block_pos = {_fmt(block)}",
                f"goal = {_fmt(self.goal)}",
                f"gripper_to_block = {float(np.linalg.norm(block - grip)):.3f}",
                f"block_to_goal = {float(np.linalg.norm(block - self.goal)):.3f}"
                f"  # success below {DISTANCE_THRESHOLD:.3f}",
            ]
        else:
            lines += [
                f"goal = {_fmt(self.goal)}",
                f"gripper_to_goal = {float(np.linalg.norm(grip - self.goal)):.3f}"
                f"  # success below {DISTANCE_THRESHOLD:.3f}",
            ]
        lines.append(f"step = {self._elapsed}  # of {self.max_steps}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ internals

    def _observation_matrix(self) -> FloatArray:
        """The linear map from ``concat(qpos, qvel)`` to ``observation`` (see ``layout``).

        qpos = [grip x y z, finger left, finger right, block xyz, block quat]; qvel = [grip
        xyz, fingers, block linear, block angular]. One ``matmul`` replaces a dozen slice
        copies per step, and every entry is an exact sum of ±1 · state entries.
        """
        nq, nv = self.model.nq, self.model.nv
        rows = BLOCK_OBS_DIM if self.has_block else REACH_OBS_DIM
        m = np.zeros((rows, nq + nv))
        for i in range(3):
            m[i, i] = 1.0  # grip position
            m[4 + i, nq + i] = 1.0  # grip velocity
        m[3, 3] = m[3, 4] = 1.0  # opening = left + right travel
        m[7, nq + 3] = m[7, nq + 4] = 1.0
        if self.has_block:
            for i in range(3):
                m[8 + i, 5 + i] = 1.0  # block position
                m[11 + i, 5 + i], m[11 + i, i] = 1.0, -1.0  # block - grip
            for i in range(4):
                m[14 + i, 8 + i] = 1.0  # quaternion
            for i in range(6):
                m[18 + i, nq + 5 + i] = 1.0  # linear and angular velocity
        return m

    def _get_obs(self) -> dict[str, FloatArray]:
        obs = self._proj @ np.concatenate((self._qpos, self._qvel))
        achieved = obs[8:11].copy() if self.has_block else obs[0:3].copy()
        return {"observation": obs, "achieved_goal": achieved, "desired_goal": self.goal.copy()}

    def _success(self, achieved: FloatArray) -> float:
        return 1.0 if float(goal_distance(achieved, self.goal)) < DISTANCE_THRESHOLD else 0.0

    def _sample_block(self) -> FloatArray:
        """Block centre on the table, at least ``MIN_SEPARATION`` from the gripper in x, y."""
        start = np.array(GRIP_START[:2])
        while True:
            xy = self.np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
            if np.linalg.norm(xy - start) >= MIN_SEPARATION:
                return np.array([xy[0], xy[1], BLOCK_REST_Z])

    def _sample_goal(self) -> FloatArray:
        """Goal on the table, at least ``MIN_SEPARATION`` from the block (Push)."""
        block = self._qpos[5:8]
        while True:
            xy = self.np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
            goal = np.array([xy[0], xy[1], BLOCK_REST_Z])
            if np.linalg.norm(goal - block) >= MIN_SEPARATION:
                return goal


def _check_action(action: npt.ArrayLike) -> list[float]:
    """The action as four floats clipped to [-1, 1]; a clear ``ValueError`` if it is malformed."""
    try:
        values = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(
            f"action must be 4 numbers in [-1, 1], got {reprlib.repr(action)}"
        ) from err
    if values.shape != (4,):
        raise ValueError(
            f"action must have shape (4,) (dx, dy, dz, gripper), got shape {values.shape}"
        )
    out = values.tolist()
    if not all(map(math.isfinite, out)):
        raise ValueError(f"action contains NaN or inf: {out}; actions must be finite")
    return [min(max(v, -1.0), 1.0) for v in out]


def _fmt(v: npt.ArrayLike) -> str:
    x, y, z = np.asarray(v, dtype=np.float64).tolist()
    return f"({x:.3f}, {y:.3f}, {z:.3f})"


class ReachEnv(GripperEnv):
    """Move the gripper to a goal in the air.

    ## Description
    A Cartesian two-finger gripper (three position-controlled slide axes, gravity-compensated)
    hangs above a table (top at z = 0.40 m). The goal is a point above the table; the task is to
    bring the grip point (centre between the fingertips) within 5 cm of it. Modelled on
    Gymnasium-Robotics' ``FetchReach``, on our own MJCF (``assets/reach.xml``). The fingers are
    held closed; ``action[3]`` is accepted and ignored.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``: ``action[:3]`` moves the grip-point target by
    ``0.05 · action[:3]`` metres from where the gripper is (clipped to the workspace
    x, y ∈ [−0.3, 0.3], z ∈ [0.42, 0.95]); ``action[3]`` is the gripper command (ignored here).
    Out-of-range values are clipped; NaN/inf or a shape other than (4,) raise ``ValueError``.

    ## Observation Space
    ``Dict`` of float64 ``Box`` es:

    - ``observation`` (8,): grip position (0:3), finger opening (3), grip velocity (4:7), opening
      rate (7). Index names: :mod:`prm_gym.envs.manipulation.layout`.
    - ``achieved_goal`` (3,): the grip position.
    - ``desired_goal`` (3,): the goal.

    ## Rewards
    The native reward is the outcome signal of Fetch, per ``reward_type``: ``"sparse"`` gives
    −1.0 while d > 0.05 and 0.0 within 5 cm (d = ‖achieved_goal − desired_goal‖); ``"dense"``
    gives −d. :meth:`compute_reward` returns the same for batches (for HER relabelling).
    ``info["is_success"]`` is 1.0 when d < 0.05, else 0.0. For a dense progress signal on the
    sparse reward, wrap in :class:`prm_gym.wrappers.PotentialShaping` with
    :class:`~prm_gym.envs.manipulation.potentials.StagedPotential` (here −d) or a learned
    progress potential; shaping leaves the optimal policy unchanged.

    ## Starting State
    The grip point starts at (0, 0, 0.52), at rest. The goal is drawn uniformly from
    x, y ∈ [−0.15, 0.15], z ∈ [0.45, 0.75].

    ## Episode End
    Never terminates. The env itself truncates after ``max_steps`` (50) steps, so
    ``gym.make`` needs no ``TimeLimit`` (the id is registered without ``max_episode_steps``).
    Pass ``max_steps`` to change the length; ``gym.make(..., max_episode_steps=n)`` only adds
    a ``TimeLimit`` and so can shorten episodes, not lengthen them.

    ## Arguments
    ====================  =========  ========  ================================================
    Argument              Type       Default   Meaning
    ====================  =========  ========  ================================================
    ``reward_type``       str        sparse    ``"sparse"`` (−1/0) or ``"dense"`` (−distance)
    ``render_mode``       str|None   None      ``"rgb_array"`` for :meth:`render`
    ``max_steps``         int        50        episode length (the env truncates itself)
    ``width``             int        480       rendered frame width
    ``height``            int        480       rendered frame height
    ====================  =========  ========  ================================================

    ## Version History
    - v0: Initial version (MuJoCo 3/4, 0.04 s per step: 4 substeps of 0.01 s).

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/Reach-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs["observation"].shape, obs["desired_goal"].shape
        ((8,), (3,))
        >>> obs, reward, terminated, truncated, info = env.step([0.0, 0.0, 1.0, 0.0])
        >>> reward, info["is_success"], terminated
        (-1.0, 0.0, False)
    """

    task_name = "reach"
    model_file = "reach.xml"
    has_block = False
    fingers_locked = True

    def _sample_goal(self) -> FloatArray:
        xy = self.np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
        z = self.np_random.uniform(*REACH_GOAL_Z)
        return np.array([GRIP_START[0] + xy[0], GRIP_START[1] + xy[1], z])


class PushEnv(GripperEnv):
    """Push a block across the table to a goal.

    ## Description
    A Cartesian two-finger gripper above a table pushes a 5 cm cube (0.1 kg) to a goal on the
    table surface; success is the block centre within 5 cm of the goal. Modelled on
    Gymnasium-Robotics' ``FetchPush`` on our own MJCF (``assets/block.xml``). The fingers are
    held closed (the gripper is a pusher); ``action[3]`` is accepted and ignored.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``: ``action[:3]`` moves the grip-point target by
    ``0.05 · action[:3]`` metres from where the gripper is (clipped to the workspace
    x, y ∈ [−0.3, 0.3], z ∈ [0.42, 0.95]); ``action[3]`` is the gripper command (ignored here).
    Out-of-range values are clipped; NaN/inf or a shape other than (4,) raise ``ValueError``.

    ## Observation Space
    ``Dict`` of float64 ``Box`` es:

    - ``observation`` (24,): grip position (0:3), finger opening (3), grip velocity (4:7),
      opening rate (7), block position (8:11), block − grip (11:14), block quaternion w, x, y, z
      (14:18), block linear (18:21) and angular (21:24) velocity. Index names (``GRIP_POS``,
      ``FINGER_WIDTH``, ``BLOCK_POS``, ...): :mod:`prm_gym.envs.manipulation.layout`.
    - ``achieved_goal`` (3,): the block position.
    - ``desired_goal`` (3,): the goal.

    ## Rewards
    The native reward is the outcome signal of Fetch, per ``reward_type``: ``"sparse"`` gives
    −1.0 while d > 0.05 and 0.0 within 5 cm (d = ‖block − goal‖); ``"dense"`` gives −d.
    :meth:`compute_reward` returns the same for batches (for HER relabelling).
    ``info["is_success"]`` is 1.0 when d < 0.05, else 0.0. The sparse reward says nothing until
    the block moves; :class:`prm_gym.wrappers.PotentialShaping` with
    :class:`~prm_gym.envs.manipulation.potentials.StagedPotential` (reach behind the block, then
    push it to the goal) or a learned progress potential makes it dense without changing the
    optimal policy.

    ## Starting State
    Grip point at (0, 0, 0.52), at rest, fingers closed. Block x, y uniform in [−0.15, 0.15]²
    and at least 0.1 from the gripper in x, y; resting on the table (z = 0.425). Goal x, y
    uniform in [−0.15, 0.15]² at z = 0.425, at least 0.1 from the block (unlike Fetch, an
    episode never starts solved).

    ## Episode End
    Never terminates (a block pushed off the table lands on the floor and the episode just
    fails). The env itself truncates after ``max_steps`` (50) steps, so ``gym.make`` needs no
    ``TimeLimit`` (the id is registered without ``max_episode_steps``). Pass ``max_steps`` to
    change the length; ``gym.make(..., max_episode_steps=n)`` only adds a ``TimeLimit`` and so
    can shorten episodes, not lengthen them.

    ## Arguments
    ====================  =========  ========  ================================================
    Argument              Type       Default   Meaning
    ====================  =========  ========  ================================================
    ``reward_type``       str        sparse    ``"sparse"`` (−1/0) or ``"dense"`` (−distance)
    ``render_mode``       str|None   None      ``"rgb_array"`` for :meth:`render`
    ``max_steps``         int        50        episode length (the env truncates itself)
    ``width``             int        480       rendered frame width
    ``height``            int        480       rendered frame height
    ====================  =========  ========  ================================================

    ## Version History
    - v0: Initial version (MuJoCo 3/4, 0.04 s per step: 4 substeps of 0.01 s).

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/Push-v0", reward_type="dense")
        >>> obs, info = env.reset(seed=0)
        >>> obs["observation"].shape
        (24,)
        >>> obs, reward, terminated, truncated, info = env.step([0.0, 0.0, 0.0, 0.0])
        >>> achieved, desired = obs["achieved_goal"], obs["desired_goal"]
        >>> bool(reward == env.unwrapped.compute_reward(achieved, desired, info))
        True
    """

    task_name = "push"
    model_file = "block.xml"
    has_block = True
    fingers_locked = True


class PickPlaceEnv(GripperEnv):
    """Pick a block up and place it at a goal on the table or in the air.

    ## Description
    A Cartesian two-finger gripper above a table grasps a 5 cm cube (0.1 kg) and carries it to
    a goal; success is the block centre within 5 cm of the goal. Half of the goals are in the
    air, so the block must be lifted, as in Gymnasium-Robotics' ``FetchPickAndPlace`` (our own
    MJCF, ``assets/block.xml``).

    ## Action Space
    ``Box(-1, 1, (4,), float32)``: ``action[:3]`` moves the grip-point target by
    ``0.05 · action[:3]`` metres from where the gripper is (clipped to the workspace
    x, y ∈ [−0.3, 0.3], z ∈ [0.42, 0.95]); ``action[3]`` sets the finger opening absolutely:
    −1 closed, +1 fully open (9 cm), linear in between. The finger servos are force-limited
    (20 N), so closing on the block holds it. Out-of-range values are clipped; NaN/inf or a
    shape other than (4,) raise ``ValueError``.

    ## Observation Space
    ``Dict`` of float64 ``Box`` es:

    - ``observation`` (24,): grip position (0:3), finger opening (3), grip velocity (4:7),
      opening rate (7), block position (8:11), block − grip (11:14), block quaternion w, x, y, z
      (14:18), block linear (18:21) and angular (21:24) velocity. Index names (``GRIP_POS``,
      ``FINGER_WIDTH``, ``BLOCK_POS``, ...): :mod:`prm_gym.envs.manipulation.layout`.
    - ``achieved_goal`` (3,): the block position.
    - ``desired_goal`` (3,): the goal.

    ## Rewards
    The native reward is the outcome signal of Fetch, per ``reward_type``: ``"sparse"`` gives
    −1.0 while d > 0.05 and 0.0 within 5 cm (d = ‖block − goal‖); ``"dense"`` gives −d.
    :meth:`compute_reward` returns the same for batches (for HER relabelling).
    ``info["is_success"]`` is 1.0 when d < 0.05, else 0.0.
    :class:`prm_gym.wrappers.PotentialShaping` with
    :class:`~prm_gym.envs.manipulation.potentials.StagedPotential` (reach the block, close
    the fingers on it, carry it to the goal) or a learned progress potential makes it dense
    without changing the optimal policy.

    ## Starting State
    Grip point at (0, 0, 0.52), at rest, fingers open. Block x, y uniform in [−0.15, 0.15]² and
    at least 0.1 from the gripper in x, y, resting on the table (z = 0.425). Goal x, y uniform
    in [−0.15, 0.15]² at z = 0.425; with probability 0.5 it is raised by U(0, 0.45). The goal is
    at least 0.1 from the block.

    ## Episode End
    Never terminates. The env itself truncates after ``max_steps`` (50) steps, so
    ``gym.make`` needs no ``TimeLimit`` (the id is registered without ``max_episode_steps``).
    Pass ``max_steps`` to change the length; ``gym.make(..., max_episode_steps=n)`` only adds
    a ``TimeLimit`` and so can shorten episodes, not lengthen them.

    ## Arguments
    ====================  =========  ========  ================================================
    Argument              Type       Default   Meaning
    ====================  =========  ========  ================================================
    ``reward_type``       str        sparse    ``"sparse"`` (−1/0) or ``"dense"`` (−distance)
    ``render_mode``       str|None   None      ``"rgb_array"`` for :meth:`render`
    ``max_steps``         int        50        episode length (the env truncates itself)
    ``width``             int        480       rendered frame width
    ``height``            int        480       rendered frame height
    ====================  =========  ========  ================================================

    ## Version History
    - v0: Initial version (MuJoCo 3/4, 0.04 s per step: 4 substeps of 0.01 s).

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/PickPlace-v0")
        >>> obs, info = env.reset(seed=0)
        >>> print(env.unwrapped.describe_state())  # doctest: +ELLIPSIS
        gripper_pos = (0.000, 0.000, 0.520)  # grip point, m (table top z = 0.400)
        finger_width = 0.090  # m between the pads (block is 0.050 wide, max 0.090)
        block_pos = (...)
        ...
    """

    task_name = "pick_place"
    model_file = "block.xml"
    has_block = True
    fingers_locked = False

    def _sample_goal(self) -> FloatArray:
        block = self._qpos[5:8]
        while True:
            xy = self.np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
            z = BLOCK_REST_Z
            if self.np_random.uniform() < 0.5:
                z += self.np_random.uniform(0.0, AIR_GOAL_HEIGHT)
            goal = np.array([xy[0], xy[1], z])
            if np.linalg.norm(goal - block) >= MIN_SEPARATION:
                return goal
