"""SPA step rewards: a progress estimator's per-step contributions plus a grounding term."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.wrappers.components import (
    EpisodeLedger,
    RewardRole,
    check_composition,
    record_reward_component,
    reward_components,
)

__all__ = ["ProgressAttribution"]


class ProgressAttribution(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Adds SPA's step reward r_t = α·ĉ_t + β·g_t (progress under ``name``, grounding under
    ``grounding_name``).

    SPA-RL ("Stepwise Progress Attribution", 2025): ĉ_t is a trained
    :class:`~prm_gym.rewards.ProgressEstimator`'s contribution of step t (Σ_t ĉ_t ≈ the final
    reward) and g_t = ``grounding_value`` if the step's ``info["action_valid"]`` is true (or
    absent, as in classic envs), else 0. (SPA's own code gives 0.5 when the next observation is
    not "Nothing happens" and always 0.5 on the last step; ours follows the paper's definition.)

    The grounding term is paid on every step. The progress term is a trajectory-level
    redistribution (DESIGN §5): by default it is held back (recorded as 0) and the final step
    adds α·Σ_t ĉ_t, computed in one estimator call over the whole episode, and publishes
    ``info["step_rewards"]`` -- each step's other components (an inner trajectory-level
    wrapper's redistribution kept) plus β·g_t and α·ĉ_t -- and ``info["step_reward_components"]``
    for trajectory-level trainers. With ``online=True`` α·ĉ_t is paid at step t instead (ĉ_t
    depends only on the prefix, so this is exact but costs one estimator call per step); both
    terms are then per-step and, outside a trajectory-level wrapper, are added to its
    ``step_rewards`` on the final step.

    Text envs (``str`` observations): the trajectory is ``(reset observation, actions)``.
    Other envs: step t's features are ``estimator.step_features(obs_{t−1}, obs_t)``.

    Args:
        env: Any env.
        estimator: A fitted progress estimator (:class:`~prm_gym.rewards.ProgressEstimator`):
            :class:`~prm_gym.rewards.spa.TextProgressEstimator` (text envs),
            :class:`~prm_gym.rewards.spa.VectorProgressEstimator` or
            :class:`~prm_gym.rewards.LearnedProgressPotential` (ĉ_t = Φ(s_t) − Φ(s_{t−1})).
            :class:`~prm_gym.wrappers.vector.VectorProgressAttribution` is the vector version.
        alpha: Weight of the contribution ĉ_t.
        beta: Weight of the grounding term (0 turns it off).
        grounding_value: g_t of a valid action.
        online: Pay α·ĉ_t at every step instead of at the end.
        name: Key of the progress term.
        grounding_name: Key of the grounding term.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from prm_gym.rewards.spa import VectorProgressEstimator
        >>> from prm_gym.wrappers import ProgressAttribution
        >>> est = VectorProgressEstimator(hidden=(4,))
        >>> trajs = [np.ones((3, 8)), np.zeros((2, 8))]
        >>> _ = est.fit(trajs, [1.0, 0.0], epochs=2)
        >>> env = ProgressAttribution(gym.make("CartPole-v1"), est, beta=0.1)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(0)
        >>> info["reward_components"]
        {'outcome': 1.0, 'grounding': 0.1, 'progress': 0.0}
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        estimator: Any,
        alpha: float = 1.0,
        beta: float = 0.1,
        grounding_value: float = 1.0,
        online: bool = False,
        name: str = "progress",
        grounding_name: str = "grounding",
    ) -> None:
        if not hasattr(estimator, "contributions"):
            raise TypeError("estimator must have contributions(trajectory) -> np.ndarray")
        gym.utils.RecordConstructorArgs.__init__(
            self,
            _disable_deepcopy=True,  # holds a sandbox / model: record, don't copy
            estimator=estimator,
            alpha=alpha,
            beta=beta,
            grounding_value=grounding_value,
            online=online,
            name=name,
            grounding_name=grounding_name,
        )
        gym.Wrapper.__init__(self, env)
        self.estimator = estimator
        self.alpha = alpha
        self.beta = beta
        self.grounding_value = grounding_value
        self.online = online
        self.name = name
        self.grounding_name = grounding_name
        self.reward_role = RewardRole(
            records=(name, grounding_name), holds=() if online else (name,)
        )
        check_composition(self, self.reward_role)
        self._ledger = EpisodeLedger()
        self._first: Any = None
        self._last_obs: Any = None
        self._steps: list[Any] = []
        self._grounding: list[float] = []
        self._progress: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._first, self._last_obs = obs, obs
        self._steps, self._grounding, self._progress = [], [], []
        self._ledger.reset()
        return obs, info

    def _trajectory(self) -> Any:
        if isinstance(self._first, str):
            return (self._first, list(self._steps))
        return np.stack(self._steps) if self._steps else np.zeros((0, 0))

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if isinstance(self._first, str):
            self._steps.append(str(action))
        else:
            self._steps.append(self.estimator.step_features(self._last_obs, obs))
        self._last_obs = obs
        valid = info.get("action_valid", True) is not False
        grounding = self.beta * (self.grounding_value if valid else 0.0)
        done = terminated or truncated
        publish = done and (not self.online or "step_rewards" in info)
        self._ledger.record(reward_components(info, reward))
        reward, g_key = record_reward_component(info, reward, self.grounding_name, grounding)
        self._grounding.append(grounding)
        shaped = np.zeros(0)
        if self.online:
            term = self.alpha * float(self.estimator.contributions(self._trajectory())[-1])
            self._progress.append(term)
            shaped = np.asarray(self._progress)
        elif done:
            shaped = self.alpha * np.asarray(self.estimator.contributions(self._trajectory()))
            term = float(shaped.sum())
        else:
            term = 0.0
        view = self._ledger.view(info) if publish else {}
        reward, p_key = record_reward_component(info, reward, self.name, term)
        if publish:
            if len(shaped) != len(self._grounding):
                raise ValueError(
                    f"estimator returned {len(shaped)} contributions for {len(self._grounding)} "
                    "steps"
                )
            view[g_key], view[p_key] = np.asarray(self._grounding), shaped
            self._ledger.publish(info, view)
        return obs, reward, terminated, truncated, info
