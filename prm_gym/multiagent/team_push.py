"""``team_push_v0``: two grippers push a long bar to a goal pose (PettingZoo Parallel, MuJoCo)."""

from __future__ import annotations

import math
from importlib import resources
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from pettingzoo import ParallelEnv

from prm_gym.envs.manipulation.gl_backend import choose_gl_backend

choose_gl_backend()  # before mujoco loads: it reads MUJOCO_GL once, at import

import mujoco  # noqa: E402

__all__ = ["TeamPushEnv", "pose_errors"]

FloatArray = npt.NDArray[np.float64]
Credit = Literal["team", "difference", "potential"]

N_SUBSTEPS = 4
"""MuJoCo steps per env step (0.01 s each: 0.04 s per env step, as the manipulation envs)."""
MAX_DELTA = 0.05
"""Metres a pusher's target moves per unit of action, per step."""
MAX_EPISODE_STEPS = 50
BAR_HALF_LENGTH = 0.25
POS_THRESHOLD = 0.05
"""Success: bar centre within 5 cm of the goal ..."""
YAW_THRESHOLD = 0.15
"""... and its axis within 0.15 rad (8.6°) of the goal's (a bar is symmetric: modulo π)."""
YAW_WEIGHT = 0.2
"""Metres per radian of yaw error in the potential and the dense reward."""
_LOW = np.array([-0.6, -0.6, 0.02])
_HIGH = np.array([0.6, 0.6, 0.15])
_PUSHER_QPOS = (3, 6)
"""qpos offsets of pusher_0 and pusher_1 (x, y, z each); the bar is qpos[0:3] = x, y, yaw."""
AGENTS = ("pusher_0", "pusher_1")


def pose_errors(
    achieved_goal: npt.ArrayLike, desired_goal: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Position error (m) and yaw error (rad, in [0, π/2]) for goals ``(..., 4)`` =
    ``(x, y, cos 2θ, sin 2θ)`` (the doubled angle makes θ and θ + π the same pose)."""
    a = np.asarray(achieved_goal, dtype=np.float64)
    d = np.asarray(desired_goal, dtype=np.float64)
    pos = np.linalg.norm(a[..., :2] - d[..., :2], axis=-1)
    dot = a[..., 2] * d[..., 2] + a[..., 3] * d[..., 3]
    cross = a[..., 2] * d[..., 3] - a[..., 3] * d[..., 2]
    yaw = np.abs(np.arctan2(cross, dot)) / 2.0
    return pos, yaw


def _check_action(action: Any) -> tuple[list[float], str | None]:
    """Three floats clipped to [-1, 1], or idle ``[0, 0, 0]`` and the reason it was refused."""
    try:
        values = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        return [0.0, 0.0, 0.0], f"action must be 3 numbers in [-1, 1] (dx, dy, dz), got {action!r}"
    if values.shape != (3,):
        return [0.0, 0.0, 0.0], f"action must have shape (3,) (dx, dy, dz), got {values.shape}"
    out = values.tolist()
    if not all(map(math.isfinite, out)):
        return [0.0, 0.0, 0.0], f"action contains NaN or inf: {out}; actions must be finite"
    return [min(max(v, -1.0), 1.0) for v in out], None


class TeamPushEnv(ParallelEnv[str, dict[str, FloatArray], FloatArray]):
    """Two grippers push a long bar to a goal position and orientation.

    ## Description
    A 0.5 m bar lies on a table; ``pusher_0`` and ``pusher_1`` (Cartesian spheres, our own MJCF
    ``prm_gym/multiagent/assets/team_push.xml``) must push it so its centre and axis match a
    goal pose. A push near one end both moves and turns the bar, so reaching a position *and* a
    yaw is easiest with one pusher at each end, working together. PettingZoo Parallel API:
    both agents act every step.

    ## Action Space
    ``Box(-1, 1, (3,))`` per agent, like prm/Push-v0's first three entries: the pusher's target
    moves ``0.05 · action`` metres (clipped to the workspace; z from 0.02 to 0.15 m, above
    0.08 m a pusher passes over the bar). A zero action holds the pusher where it is (idle).
    Values outside [-1, 1] are clipped. A malformed action (wrong shape, NaN/inf, not numbers,
    missing from the dict) is not an exception: that agent idles this step,
    ``infos[agent]["action_valid"]`` is ``False`` with the reason in ``infos[agent]["error"]``,
    and the other agent's step is unaffected.

    ## Observation Space
    Per agent, a goal-conditioned ``Dict`` (Gymnasium-Robotics style): ``observation`` (17,):
    own pusher position (3) and velocity (3), the other pusher's position (3), the bar's centre
    (2), ``cos 2θ, sin 2θ`` of its yaw (2), the agent's own end of the bar relative to its
    pusher (2: ``pusher_0`` is assigned the bar's −x end, ``pusher_1`` the +x end) and the
    agent's one-hot index (2) so one shared policy can serve both; ``achieved_goal`` and
    ``desired_goal`` (4,): ``(x, y, cos 2θ, sin 2θ)`` of the bar and of the goal.

    ## Rewards
    The team reward is the outcome signal of the manipulation envs: ``reward_type="sparse"``
    gives −1.0 per step until success, 0.0 on success; ``"dense"`` gives −(position error +
    0.2 · yaw error). ``infos[a]["is_success"]`` is 1.0 when the centre is within 5 cm and the
    axis within 0.15 rad of the goal. ``team_shaping`` (default 1.0) adds potential-based
    shaping ``c · (γ Φ(s') − Φ(s))`` with Φ = −(position error + 0.2 · yaw error) (Ng et al.,
    "Policy Invariance under Reward Transformations", 1999); G is the team reward with it.

    ``credit`` decides what each agent receives:

    * ``"team"``: both get G.
    * ``"difference"``: difference rewards D_i = G(s, a) − G(s, a with agent i idle) (Wolpert &
      Tumer, "Optimal Payoff Functions for Members of Collectives", 2001). The counterfactual is
      computed by branching the simulator: the step is replayed from a copy of ``MjData`` with
      agent i's action set to zero. An agent that idles gets exactly 0; an agent that moves the
      bar gets the change in G its own push caused. Costs one extra physics step per agent.
    * ``"potential"``: G plus per-agent potential shaping ``c_a · (γ Φ_i(s') − Φ_i(s))`` with
      Φ_i = −distance from pusher i to its own end of the bar (``agent_shaping``, default 0.5).

    ``infos[a]["reward_components"]`` splits each agent's reward (``outcome``,
    ``team_shaping``, ``agent_shaping`` or ``difference``; they sum to it), and
    ``infos[a]["team_reward"]`` is G. :meth:`compute_reward` gives the team's native reward for
    batches of goals (for hindsight relabelling).

    ## Starting State
    Bar at the table centre with yaw U(−0.2, 0.2); pushers on the −y side of the bar near its
    two ends (jittered 2 cm), at table height. Goal: centre ``U(−goal_range, goal_range)`` in x
    and y from the bar's start (default 0.15 m), yaw ``U(−yaw_range, yaw_range)`` (default
    0.6 rad), redrawn until the start is not already a success. ``reset(seed=s)`` fixes all;
    ``reset(options={"goal": (x, y, yaw)})`` sets the goal pose.

    ## Episode End
    No termination; both agents truncate after ``max_steps`` (default 50) steps.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``credit`` | ``"team"`` | ``"team"``, ``"difference"`` or ``"potential"`` |
    | ``reward_type`` | ``"sparse"`` | ``"sparse"`` (−1/0) or ``"dense"`` (−pose error) |
    | ``team_shaping`` | ``1.0`` | weight c of the team potential shaping (0 disables) |
    | ``agent_shaping`` | ``0.5`` | weight of the per-agent potential (``credit="potential"``) |
    | ``gamma`` | ``0.99`` | discount in the shaping terms |
    | ``goal_range`` / ``yaw_range`` | ``0.15`` / ``0.6`` | goal offsets drawn (m / rad) |
    | ``max_steps`` | ``50`` | steps before truncation |

    ## Version History
    * v0: initial release.

    Example:
        >>> from prm_gym.multiagent import make
        >>> env = make("team_push_v0", credit="difference")
        >>> obs, infos = env.reset(seed=0)
        >>> obs["pusher_0"]["observation"].shape
        (17,)
        >>> obs, rewards, terms, truncs, infos = env.step(
        ...     {"pusher_0": [0.0, 1.0, 0.0], "pusher_1": [0.0, 0.0, 0.0]})
        >>> rewards["pusher_1"]       # idle: no credit
        0.0
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "team_push_v0",
        "render_modes": [],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        *,
        credit: Credit = "team",
        reward_type: Literal["sparse", "dense"] = "sparse",
        team_shaping: float = 1.0,
        agent_shaping: float = 0.5,
        gamma: float = 0.99,
        goal_range: float = 0.15,
        yaw_range: float = 0.6,
        max_steps: int = MAX_EPISODE_STEPS,
        render_mode: str | None = None,
    ) -> None:
        if credit not in ("team", "difference", "potential"):
            raise ValueError(f"credit must be 'team', 'difference' or 'potential', got {credit!r}")
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode is not None:
            raise ValueError("team_push_v0 has no render modes")
        self.credit: Credit = credit
        self.reward_type = reward_type
        self.team_shaping = float(team_shaping)
        self.agent_shaping = float(agent_shaping)
        self.gamma = float(gamma)
        self.goal_range = float(goal_range)
        self.yaw_range = float(yaw_range)
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        xml = resources.files("prm_gym.multiagent").joinpath("assets/team_push.xml").read_text()
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self._branch = mujoco.MjData(self.model)
        self._goal_site = self.model.site("goal").id
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        box = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float64)
        self.observation_spaces = {
            a: spaces.Dict(
                {
                    "observation": spaces.Box(-np.inf, np.inf, shape=(17,), dtype=np.float64),
                    "achieved_goal": box,
                    "desired_goal": box,
                }
            )
            for a in self.possible_agents
        }
        self.action_spaces = {
            a: spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32) for a in self.possible_agents
        }
        self.goal = np.zeros(4)
        self._goal_pose = (0.0, 0.0, 0.0)
        self._elapsed = 0
        self.np_random = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self.action_spaces[agent]

    # -- PettingZoo API -------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, FloatArray]], dict[str, dict[str, Any]]]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        rng = self.np_random
        mujoco.mj_resetData(self.model, self.data)
        q = self.data.qpos
        q[0:3] = [0.0, 0.0, rng.uniform(-0.2, 0.2)]
        ends = self._bar_ends(q[0], q[1], q[2])
        normal = np.array([math.sin(q[2]), -math.cos(q[2])])  # towards -y when yaw = 0
        for i, (off, end) in enumerate(zip(_PUSHER_QPOS, ends, strict=True)):
            xy = end * 0.8 + normal * 0.07 + rng.uniform(-0.02, 0.02, size=2)
            q[off : off + 3] = [xy[0], xy[1], 0.02]
            self.data.ctrl[3 * i : 3 * i + 3] = q[off : off + 3]
        goal = (options or {}).get("goal")
        while True:
            if goal is not None:
                gx, gy, gyaw = (float(v) for v in goal)
            else:
                gx, gy = rng.uniform(-self.goal_range, self.goal_range, size=2)
                gyaw = q[2] + rng.uniform(-self.yaw_range, self.yaw_range)
            self.goal = np.array([gx, gy, math.cos(2 * gyaw), math.sin(2 * gyaw)])
            pos, yaw = pose_errors(self._achieved(), self.goal)
            if goal is not None or not (pos < POS_THRESHOLD and yaw < YAW_THRESHOLD):
                break
        self._goal_pose = (float(gx), float(gy), float(gyaw))
        self.model.site_pos[self._goal_site][:2] = [gx, gy]
        self.model.site_quat[self._goal_site] = [math.cos(gyaw / 2), 0, 0, math.sin(gyaw / 2)]
        mujoco.mj_forward(self.model, self.data)
        self._elapsed = 0
        self.agents = list(self.possible_agents)
        obs = {a: self._obs(i) for i, a in enumerate(self.agents)}
        success = self._success()
        return obs, {a: {"is_success": success} for a in self.agents}

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, dict[str, FloatArray]],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        if not self.agents:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        infos: dict[str, dict[str, Any]] = {a: {"action_valid": True} for a in self.agents}
        deltas = []
        for a in self.agents:
            error: str | None
            if a not in actions:
                delta, error = [0.0, 0.0, 0.0], f"no action given for {a}: it idles this step"
            else:
                delta, error = _check_action(actions[a])
            if error is not None:
                infos[a]["action_valid"] = False
                infos[a]["error"] = error
            deltas.append(delta)
        phi_before = self._team_potential(self.data)
        agent_phi_before = [self._agent_potential(self.data, i) for i in range(2)]
        counterfactual: list[float] = []
        if self.credit == "difference":
            for i in range(2):
                if any(deltas[i]):
                    idle = [d if j != i else [0.0, 0.0, 0.0] for j, d in enumerate(deltas)]
                    mujoco.mj_copyData(self._branch, self.model, self.data)
                    self._advance(self._branch, idle)
                    counterfactual.append(self._team_reward(self._branch, phi_before)[0])
                else:
                    counterfactual.append(math.nan)  # idle: the branch is the real step
        self._advance(self.data, deltas)
        self._elapsed += 1
        team, outcome, shaping = self._team_reward(self.data, phi_before)
        success = self._success()
        rewards: dict[str, float] = {}
        for i, a in enumerate(self.agents):
            info = infos[a]
            info["is_success"] = success
            info["team_reward"] = team
            if self.credit == "team":
                rewards[a] = team
                info["reward_components"] = {"outcome": outcome, "team_shaping": shaping}
            elif self.credit == "difference":
                d = 0.0 if math.isnan(counterfactual[i]) else team - counterfactual[i]
                rewards[a] = d
                info["reward_components"] = {"difference": d}
            else:
                own = self.agent_shaping * (
                    self.gamma * self._agent_potential(self.data, i) - agent_phi_before[i]
                )
                rewards[a] = team + own
                info["reward_components"] = {
                    "outcome": outcome,
                    "team_shaping": shaping,
                    "agent_shaping": own,
                }
        truncated = self._elapsed >= self.max_steps
        obs = {a: self._obs(i) for i, a in enumerate(self.agents)}
        terms = {a: False for a in self.agents}
        truncs = {a: truncated for a in self.agents}
        if truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def compute_reward(
        self, achieved_goal: npt.ArrayLike, desired_goal: npt.ArrayLike, info: Any = None
    ) -> FloatArray:
        """The team's native reward for (batches of) goals ``(..., 4)``, as :meth:`step`
        computes it before shaping: ``-(not success)`` (sparse) or ``-(pos + 0.2·yaw)``."""
        pos, yaw = pose_errors(achieved_goal, desired_goal)
        if self.reward_type == "sparse":
            return -(~((pos < POS_THRESHOLD) & (yaw < YAW_THRESHOLD))).astype(np.float64)
        return -(pos + YAW_WEIGHT * yaw)

    def state(self) -> FloatArray:
        """The simulator's positions and velocities (bar x, y, yaw, then pushers) and the goal."""
        return np.concatenate([self.data.qpos, self.data.qvel, self.goal])

    def close(self) -> None:
        self.agents = []

    # -- internals ------------------------------------------------------------------------
    def _advance(self, data: Any, deltas: list[list[float]]) -> None:
        for i, (off, delta) in enumerate(zip(_PUSHER_QPOS, deltas, strict=True)):
            for k in range(3):
                target = data.qpos[off + k] + MAX_DELTA * delta[k]
                data.ctrl[3 * i + k] = min(max(target, _LOW[k]), _HIGH[k])
        mujoco.mj_step(self.model, data, nstep=N_SUBSTEPS)

    @staticmethod
    def _bar_ends(x: float, y: float, yaw: float) -> list[FloatArray]:
        axis = np.array([math.cos(yaw), math.sin(yaw)]) * BAR_HALF_LENGTH
        centre = np.array([x, y])
        return [centre - axis, centre + axis]

    def _achieved(self, data: Any = None) -> FloatArray:
        q = (data if data is not None else self.data).qpos
        return np.array([q[0], q[1], math.cos(2 * q[2]), math.sin(2 * q[2])])

    def _errors(self, data: Any) -> tuple[float, float]:
        pos, yaw = pose_errors(self._achieved(data), self.goal)
        return float(pos), float(yaw)

    def _success(self, data: Any = None) -> float:
        pos, yaw = self._errors(data if data is not None else self.data)
        return 1.0 if pos < POS_THRESHOLD and yaw < YAW_THRESHOLD else 0.0

    def _team_potential(self, data: Any) -> float:
        pos, yaw = self._errors(data)
        return -(pos + YAW_WEIGHT * yaw)

    def _agent_potential(self, data: Any, i: int) -> float:
        q = data.qpos
        end = self._bar_ends(q[0], q[1], q[2])[i]
        off = _PUSHER_QPOS[i]
        return -float(np.linalg.norm(q[off : off + 2] - end))

    def _team_reward(self, data: Any, phi_before: float) -> tuple[float, float, float]:
        """(G, native outcome term, team shaping term) after a step that ended in ``data``."""
        if self.reward_type == "sparse":
            outcome = self._success(data) - 1.0
        else:
            outcome = self._team_potential(data)
        shaping = self.team_shaping * (self.gamma * self._team_potential(data) - phi_before)
        return outcome + shaping, outcome, shaping

    def _obs(self, i: int) -> dict[str, FloatArray]:
        q, v = self.data.qpos, self.data.qvel
        own, other = _PUSHER_QPOS[i], _PUSHER_QPOS[1 - i]
        end = self._bar_ends(q[0], q[1], q[2])[i]
        achieved = self._achieved()
        observation = np.concatenate(
            [
                q[own : own + 3],
                v[own : own + 3],
                q[other : other + 3],
                q[0:2],
                achieved[2:4],
                end - q[own : own + 2],
                [1.0 - i, float(i)],
            ]
        )
        return {
            "observation": observation,
            "achieved_goal": achieved,
            "desired_goal": self.goal.copy(),
        }
