"""Scripted experts for the manipulation envs and demo collection for progress models.

Each expert is a function of the current observation only (no memory), so it recovers from any
state, e.g. after a slip or a perturbed action, and can label states collected by another
policy. ``noise`` adds Gaussian noise to its actions, for perturbed demonstrations.

Example:
    >>> from prm_gym.envs.manipulation.experts import collect_demos
    >>> demos = collect_demos("prm/Reach-v0", n_episodes=2, seed=0)
    >>> len(demos), demos[0]["observation"].shape, demos[0]["action"].shape
    (2, (51, 8), (50, 4))
    >>> bool(demos[0]["is_success"][-1])
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from prm_gym.envs.manipulation.layout import (
    BLOCK_HALF,
    BLOCK_POS,
    FINGER_WIDTH,
    GRIP_LOW,
    GRIP_POS,
    MAX_DELTA,
    PUSH_OFFSET,
    TaskName,
    task_name,
)

__all__ = [
    "ENV_ID_OF_TASK",
    "ScriptedExpert",
    "collect_demos",
    "expert_action",
    "expert_for",
    "random_start_demos",
]

_GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")

Observation = Mapping[str, npt.NDArray[np.float64]]
FloatArray = npt.NDArray[np.float64]

ENV_ID_OF_TASK: dict[TaskName, str] = {
    "reach": "prm/Reach-v0",
    "push": "prm/Push-v0",
    "pick_place": "prm/PickPlace-v0",
}

# Push: the pusher (closed fingers, about 2.4 x 3.2 cm) is placed this far behind the block
# centre before it comes down, so that it clears the block in any direction, rotated or not.
_APPROACH_OFFSET = 0.06
# Height above the block centre at which the gripper travels over the block.
_CLEARANCE = 0.06
# Stop pushing when the block is this close to the goal (success is < 0.05).
_PUSH_DONE = 0.035
# Push: once the block is this close (success is < 0.05), the expert no longer goes around the
# block to correct an overshoot.
_PUSH_HOLD = 0.045
# Push: the pusher aims this far ahead of its contact point (sets the push speed; the block
# slides on after the pusher stops, so it must arrive slowly).
_PUSH_LEAD = 0.02
# Push: largest sideways offset from the block-goal line at which the pusher keeps pushing.
_PUSH_LATERAL = 0.012
# Grasp: the grip point must be this close to the block centre (x, y) before descending.
_ALIGN_XY = 0.008
_ALIGN_Z = 0.008
# Fingers closed on the block: the opening stops near the block's width.
_HELD_WIDTH = 2 * BLOCK_HALF + 0.006


def _move(grip: FloatArray, target: FloatArray) -> list[float]:
    """Δxyz action that sends the grip point to ``target`` (full speed beyond 5 cm)."""
    delta = (np.asarray(target) - grip) / MAX_DELTA
    out: list[float] = np.clip(delta, -1.0, 1.0).tolist()
    return out


def reach_action(obs: Observation) -> FloatArray:
    """Move the grip point straight to the goal; fingers stay closed."""
    grip = obs["observation"][GRIP_POS]
    return np.array([*_move(grip, obs["desired_goal"]), -1.0])


def push_action(obs: Observation) -> FloatArray:
    """Come down behind the block (opposite the goal), then push it along the line to the goal.

    Stages follow from the state: away from the push line the gripper lifts, travels over the
    block to the approach point and comes down; on the line it pushes toward the goal and
    steers back onto the line as the block drifts sideways.
    """
    o = obs["observation"]
    grip, block, goal = o[GRIP_POS], o[BLOCK_POS], np.asarray(obs["desired_goal"])
    to_goal = goal[:2] - block[:2]
    dist = math.hypot(*to_goal.tolist())
    if dist < _PUSH_DONE:
        return np.array([0.0, 0.0, 0.0, -1.0])
    u = to_goal / dist
    rel = grip[:2] - block[:2]
    along = float(rel @ u)
    lateral = abs(float(rel[0] * u[1] - rel[1] * u[0]))
    low = grip[2] < block[2] + 0.02
    if low and along < -BLOCK_HALF and lateral < 0.04:
        # Behind the block: aim ahead of the contact point along the line. The aim is computed
        # from the block's current position, so it also pulls the pusher back onto the line.
        # Further off the line, stand off and slide across instead: pushing a corner spins
        # the block, and sliding along its face drags it sideways.
        behind = block[:2] - u * PUSH_OFFSET
        on_line = lateral < _PUSH_LATERAL
        xy = behind + u * min(dist, _PUSH_LEAD) if on_line else behind - u * 0.02
        # Push as low as the gripper goes: the fingers then cover the block's whole face, so
        # the contact cannot tip it, and the height does not follow a block that tilts.
        return np.array([*_move(grip, np.array([xy[0], xy[1], GRIP_LOW[2]])), -1.0])
    if dist < _PUSH_HOLD:
        # Close enough to count as success: starting a new approach would only risk a bump.
        return np.array([0.0, 0.0, 0.0, -1.0])
    approach = block[:2] - u * _APPROACH_OFFSET
    safe_z = block[2] + _CLEARANCE
    off = math.hypot(*(grip[:2] - approach).tolist())
    if off > 0.012:
        if grip[2] < safe_z - 0.01 and math.hypot(*rel.tolist()) < 0.1:
            # Low and next to the block: go straight up before crossing over it.
            target = np.array([grip[0], grip[1], safe_z])
        else:
            target = np.array([approach[0], approach[1], safe_z])
        return np.array([*_move(grip, target), -1.0])
    return np.array([*_move(grip, np.array([approach[0], approach[1], block[2]])), -1.0])


def pick_place_action(obs: Observation) -> FloatArray:
    """Open above the block, come down around it, close, then carry it to the goal."""
    o = obs["observation"]
    grip, block, goal = o[GRIP_POS], o[BLOCK_POS], np.asarray(obs["desired_goal"])
    width = float(o[FINGER_WIDTH])
    rel = block - grip
    rel_xy = math.hypot(float(rel[0]), float(rel[1]))
    if math.sqrt(float(rel @ rel)) < 0.02 and width < _HELD_WIDTH:
        # Held: move the grip point so that the block (not the grip point) lands on the goal.
        return np.array([*_move(grip, goal - rel), -1.0])
    above = block[2] + _CLEARANCE
    if rel_xy > _ALIGN_XY:
        if grip[2] < block[2] + 0.03 and rel_xy < 0.06:
            # Low beside the block (e.g. after a slip): rise first so the fingers do not hit it.
            target = np.array([grip[0], grip[1], above])
        else:
            target = np.array([block[0], block[1], above])
        return np.array([*_move(grip, target), 1.0])
    if abs(float(rel[2])) > _ALIGN_Z and width > _HELD_WIDTH:
        return np.array([*_move(grip, block), 1.0])
    # Around the block: hold still and close.
    return np.array([*_move(grip, block), -1.0])


_POLICIES: dict[TaskName, Callable[[Observation], FloatArray]] = {
    "reach": reach_action,
    "push": push_action,
    "pick_place": pick_place_action,
}


def expert_action(task: TaskName, obs: Observation) -> FloatArray:
    """The noiseless expert action (float64, shape (4,)) for ``task`` in ``obs``."""
    return _POLICIES[task](obs)


class ScriptedExpert:
    """A scripted policy ``obs_dict -> action`` for one manipulation task.

    The policy reads the current observation only; the object's one piece of state is the
    random generator for ``noise``, reseeded by :meth:`reset`.

    Args:
        task: ``"reach"``, ``"push"`` or ``"pick_place"``.
        noise: Standard deviation of Gaussian noise added to every action component (then
            clipped to [-1, 1]); 0 for the clean expert.
        seed: Seed of the noise generator.
    """

    def __init__(self, task: TaskName, noise: float = 0.0, seed: int | None = None) -> None:
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.task: TaskName = task
        self.noise = float(noise)
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseed the noise generator (call at episode start for reproducible noisy demos)."""
        self._rng = np.random.default_rng(seed)

    def __call__(self, obs: Observation) -> npt.NDArray[np.float32]:
        action = expert_action(self.task, obs)
        if self.noise > 0:
            action = np.clip(action + self._rng.normal(0.0, self.noise, size=4), -1.0, 1.0)
        return action.astype(np.float32)

    def __repr__(self) -> str:
        return f"ScriptedExpert(task={self.task!r}, noise={self.noise})"


def expert_for(
    env_id_or_env: str | gym.Env[Any, Any], noise: float = 0.0, seed: int | None = None
) -> ScriptedExpert:
    """The scripted expert of a manipulation env.

    Args:
        env_id_or_env: ``"prm/Reach-v0"``, ``"prm/Push-v0"``, ``"prm/PickPlace-v0"``, a task
            name (``"push"``) or an env instance (wrappers are looked through).
        noise: Standard deviation of the Gaussian action noise (0: the clean expert, which
            succeeds in at least 95% of episodes on every task).
        seed: Seed of the noise generator.

    Returns:
        A :class:`ScriptedExpert`: call it with an observation dict to get a float32 action.
    """
    return ScriptedExpert(task_name(env_id_or_env), noise=noise, seed=seed)


def collect_demos(
    env_id: str, n_episodes: int, seed: int, noise: float = 0.0
) -> list[dict[str, Any]]:
    """Roll out the scripted expert and return one dict of arrays per episode.

    Episode ``i`` resets the env with ``seed + i`` and seeds the action noise with ``seed + i``,
    so the same call returns the same demos. Episodes run to truncation (50 steps), so every
    episode has the same length T = 50.

    Args:
        env_id: A manipulation id (``"prm/Push-v0"``) or task name.
        n_episodes: Number of episodes.
        seed: Base seed.
        noise: Standard deviation of the Gaussian action noise (see :func:`expert_for`).

    Returns:
        A list of ``n_episodes`` dicts with

        - ``"observation"``: float64 ``(T + 1, obs_dim)``, the states s_0 … s_T (s_0 from reset);
        - ``"achieved_goal"``, ``"desired_goal"``: float64 ``(T + 1, 3)``, aligned with the states;
        - ``"is_success"``: float64 ``(T + 1,)``, ``info["is_success"]`` of each state (1.0/0.0);
        - ``"action"``: float32 ``(T, 4)``, a_t taken in s_t;
        - ``"reward"``: float64 ``(T,)``, the env's native (sparse) reward of each step;
        - ``"seed"``: the episode's reset seed; ``"env_id"``: the registered id.
    """
    import prm_gym  # noqa: F401  (registers the prm/* ids)

    if n_episodes < 0:
        raise ValueError(f"n_episodes must be >= 0, got {n_episodes}")
    task = task_name(env_id)
    full_id = ENV_ID_OF_TASK[task]
    env = gym.make(full_id)
    expert = expert_for(task, noise=noise)
    demos: list[dict[str, Any]] = []
    try:
        for i in range(n_episodes):
            obs, info = env.reset(seed=seed + i)
            expert.reset(seed + i)
            observations, achieved, desired = [obs["observation"]], [obs["achieved_goal"]], []
            desired.append(obs["desired_goal"])
            success, actions, rewards = [float(info["is_success"])], [], []
            done = False
            while not done:
                action = expert(obs)
                obs, reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                observations.append(obs["observation"])
                achieved.append(obs["achieved_goal"])
                desired.append(obs["desired_goal"])
                success.append(float(info["is_success"]))
                actions.append(action)
                rewards.append(float(reward))
            demos.append(
                {
                    "observation": np.stack(observations),
                    "achieved_goal": np.stack(achieved),
                    "desired_goal": np.stack(desired),
                    "is_success": np.asarray(success, dtype=np.float64),
                    "action": np.stack(actions).astype(np.float32),
                    "reward": np.asarray(rewards, dtype=np.float64),
                    "seed": seed + i,
                    "env_id": full_id,
                }
            )
    finally:
        env.close()
    return demos


def random_start_demos(
    env_id: str,
    n_demos: int,
    *,
    seed: int,
    noise_levels: Sequence[float] = (0.0,),
    max_random_steps: int = 25,
) -> list[dict[str, Any]]:
    """Demos that start where random actions left a manipulation env, then follow the expert.

    Episode ``i`` resets with ``seed + i``, takes ``m ~ U{1, …, max_random_steps}`` uniform
    random actions, then lets the scripted expert (noise ``noise_levels[i % len]``) act until the
    episode ends. The returned demo holds only the expert part, from the state the expert took
    over in (so :func:`prm_gym.rewards.progress.progress_labels` starts it at 0), in the
    format of :func:`collect_demos`.
    """
    import prm_gym  # noqa: F401  (registers the prm/* ids)

    if not noise_levels:
        raise ValueError("noise_levels must name at least one level")
    task = task_name(env_id)
    env = gym.make(ENV_ID_OF_TASK[task])
    demos: list[dict[str, Any]] = []
    try:
        for i in range(n_demos):
            rng = np.random.default_rng(seed + i)
            expert = expert_for(task, noise=float(noise_levels[i % len(noise_levels)]))
            expert.reset(seed + i)
            obs, info = env.reset(seed=seed + i)
            done = False
            for _ in range(int(rng.integers(1, max_random_steps + 1))):
                obs, _, terminated, truncated, info = env.step(
                    rng.uniform(-1.0, 1.0, 4).astype(np.float32)
                )
                done = terminated or truncated
                if done:
                    break
            if done:
                continue
            rows: dict[str, list[Any]] = {k: [obs[k]] for k in _GOAL_KEYS}
            success, actions = [float(info["is_success"])], []
            while not done:
                action = expert(obs)
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                for k in _GOAL_KEYS:
                    rows[k].append(obs[k])
                success.append(float(info["is_success"]))
                actions.append(action)
            demos.append(
                {
                    **{k: np.stack(v) for k, v in rows.items()},
                    "is_success": np.asarray(success),
                    "action": np.stack(actions),
                    "seed": seed + i,
                    "env_id": ENV_ID_OF_TASK[task],
                }
            )
    finally:
        env.close()
    return demos
