"""SPA step rewards for vector envs: one progress-estimator call per vector step."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from prm_gym.core.vector import AutoresetTracker, info_at, step_info
from prm_gym.wrappers.vector._util import set_components

__all__ = ["VectorProgressAttribution"]


class VectorProgressAttribution(VectorWrapper):
    """:class:`~prm_gym.wrappers.ProgressAttribution` for a Gymnasium vector env.

    Each sub-env gets exactly the rewards the single-env wrapper would give it: the grounding
    term β·g_t every step (``grounding_name``) and the progress term α·ĉ_t (``name``), held back
    to the episode's final step (α·Σ_t ĉ_t there, with ``info["step_rewards"]``) or, with
    ``online=True``, paid every step. The estimator is called **once per vector step** with
    ``contributions_batch`` over the trajectories that need scoring (the sub-envs whose episode
    ends, or every sub-env when online), so a text estimator runs one padded forward pass and an
    MLP estimator one matrix product for all sub-envs.

    Histories restart at each autoreset and nothing is computed across the boundary: in
    ``NEXT_STEP`` mode the reset step (action ignored) gets 0 for both terms and its observation
    starts the new episode; in ``SAME_STEP`` mode the final step's features use
    ``info["final_obs"]`` and the returned observation starts the next episode.
    ``info["step_rewards"]`` is an object array over sub-envs (a list per finished episode) with
    the mask ``info["_step_rewards"]``.

    Args:
        env: A vector env (text envs: observations are ``str``).
        estimator: A fitted progress estimator with ``contributions_batch`` (and
            ``step_features`` for non-text envs), e.g.
            :class:`~prm_gym.rewards.spa.VectorProgressEstimator`.
        alpha: Weight of the contribution ĉ_t.
        beta: Weight of the grounding term (0 turns it off).
        grounding_value: g_t of a valid action (``info["action_valid"]`` not false).
        online: Pay α·ĉ_t at every step instead of at the end.
        name: Key of the progress term.
        grounding_name: Key of the grounding term.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from prm_gym.rewards.spa import VectorProgressEstimator
        >>> from prm_gym.wrappers.vector import VectorProgressAttribution
        >>> est = VectorProgressEstimator(hidden=(4,))
        >>> _ = est.fit([np.ones((3, 8)), np.zeros((2, 8))], [1.0, 0.0], epochs=2)
        >>> envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
        >>> envs = VectorProgressAttribution(envs, est, beta=0.1)
        >>> obs, info = envs.reset(seed=0)
        >>> obs, rewards, terminated, truncated, info = envs.step(np.array([0, 1]))
        >>> info["reward_components"]["grounding"].tolist()
        [0.1, 0.1]
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        estimator: Any,
        alpha: float = 1.0,
        beta: float = 0.1,
        grounding_value: float = 1.0,
        online: bool = False,
        name: str = "progress",
        grounding_name: str = "grounding",
    ) -> None:
        super().__init__(env)
        if not hasattr(estimator, "contributions_batch"):
            raise TypeError(
                "estimator must have contributions_batch(trajectories) -> list of arrays (a "
                "prm_gym.rewards ProgressEstimator)"
            )
        self.estimator = estimator
        self.alpha = alpha
        self.beta = beta
        self.grounding_value = grounding_value
        self.online = online
        self.name = name
        self.grounding_name = grounding_name
        self._tracker = AutoresetTracker(env)
        n = env.num_envs
        self._first: list[Any] = [None] * n
        self._last: list[Any] = [None] * n
        self._steps: list[list[Any]] = [[] for _ in range(n)]
        self._kept: list[list[float]] = [[] for _ in range(n)]
        self._grounding: list[list[float]] = [[] for _ in range(n)]

    def _split(self, obs: Any) -> list[Any]:
        """Per-sub-env observations of a batched observation."""
        if isinstance(obs, (tuple, list)):
            return list(obs)
        return list(gym.vector.utils.iterate(self.env.observation_space, obs))

    def _start(self, i: int, obs: Any) -> None:
        self._first[i], self._last[i] = obs, obs
        self._steps[i], self._kept[i], self._grounding[i] = [], [], []

    def _trajectory(self, i: int) -> Any:
        if isinstance(self._first[i], str):
            return (self._first[i], list(self._steps[i]))
        return np.stack(self._steps[i]) if self._steps[i] else np.zeros((0, 0))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self._tracker.reset()
        for i, o in enumerate(self._split(obs)):
            self._start(i, o)
        return obs, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        n = self.num_envs
        resetting = self._tracker.resetting()
        done = np.logical_or(terminated, truncated)
        same_step = self._tracker.mode == AutoresetMode.SAME_STEP
        per_env = self._split(obs)
        outcome = np.asarray(rewards, dtype=np.float64)
        grounding, progress = np.zeros(n), np.zeros(n)
        pending: list[int] = []
        for i in range(n):
            if resetting[i]:
                continue
            info = step_info(infos, i, bool(same_step and done[i]))
            new_obs = infos["final_obs"][i] if same_step and done[i] else per_env[i]
            if isinstance(self._first[i], str):
                self._steps[i].append(str(actions[i]))
            else:
                self._steps[i].append(self.estimator.step_features(self._last[i], new_obs))
            self._last[i] = new_obs
            valid = info.get("action_valid", True) is not False
            grounding[i] = self.beta * (self.grounding_value if valid else 0.0)
            self._kept[i].append(float(outcome[i]) + float(grounding[i]))
            self._grounding[i].append(float(grounding[i]))
            if self.online or done[i]:
                pending.append(i)
        step_rewards: dict[int, list[float]] = {}
        if pending:
            values = self.estimator.contributions_batch([self._trajectory(i) for i in pending])
            for i, c in zip(pending, values, strict=True):
                shaped = self.alpha * np.asarray(c, dtype=np.float64)
                if self.online:
                    progress[i] = float(shaped[-1])
                    continue
                progress[i] = float(shaped.sum())
                kept = np.asarray(self._kept[i])
                # A sub-env's own wrapper reports in its step info (final_info after a
                # SAME_STEP reset); an inner vector wrapper at the top level.
                inner = step_info(infos, i, bool(same_step and done[i])).get("step_rewards")
                if inner is None:
                    inner = info_at(infos, i).get("step_rewards")
                if inner is not None and len(inner) == len(kept):
                    # An inner wrapper redistributed its own terms: build on its per-step rewards.
                    kept = np.asarray(inner, dtype=np.float64) + np.asarray(self._grounding[i])
                step_rewards[i] = (kept + shaped).tolist()
        if step_rewards:
            _publish_step_rewards(infos, step_rewards, n)
        self._tracker.update(terminated, truncated)
        for i in range(n):
            if resetting[i] or (same_step and done[i]):
                self._start(i, per_env[i])
        rewards, _ = set_components(infos, outcome, self.grounding_name, grounding)
        rewards, _ = set_components(infos, rewards, self.name, progress)
        return obs, rewards, terminated, truncated, infos


def _publish_step_rewards(infos: dict[str, Any], values: dict[int, list[float]], n: int) -> None:
    """Set ``infos["step_rewards"][i]`` (object array, masked) for the sub-envs in ``values``."""
    current = infos.get("step_rewards")
    array = np.empty(n, dtype=object)
    mask = np.zeros(n, dtype=bool)
    if current is not None:
        array[:] = list(current)
        mask |= np.asarray(infos.get("_step_rewards", np.ones(n, dtype=bool)), dtype=bool)
    for i, v in values.items():
        array[i] = v
        mask[i] = True
    infos["step_rewards"], infos["_step_rewards"] = array, mask
