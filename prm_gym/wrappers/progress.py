"""The progress form of process reward: pay progress, not presence (DESIGN §5a)."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.core.scorer import ProgressMeasure, Scorer, StepContext
from prm_gym.wrappers.components import EpisodeTerms, RewardRole, check_composition

__all__ = ["ProgressReward"]


class ProgressReward(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Pays each step the rise of the episode's verified progress, recorded as ``name``.

    With Φ_t the progress of the prefix ending at step t (a
    :class:`~prm_gym.core.scorer.ProgressMeasure`: the share of gold intermediate values
    established by correct steps, of gold tool calls made, of tests passed, ...) and
    B_t = max(B_{t−1}, Φ_t) its running best (B_0 = 0), step t earns ``coef · (B_t − B_{t−1})``.
    Each unit of progress is paid once, so the episode's dense total is ``coef · max_t Φ_t``:
    repeating a step, padding with true but useless statements, stalling, resubmitting or
    losing progress and regaining it earn nothing. Compare :class:`ProcessReward`, the raw
    per-step sum, which pays every step the scorer likes again and again.

    A scorer without a ``progress`` method is read through ``score``: Φ_t is the step's score,
    so the term is the rise of the running best score (e.g. of a PRM's step score).

    Actions the env rejected (``info["action_valid"] is False``) are not measured (term 0) and
    do not enter the history later steps are measured against. In single-turn mode
    (``info["steps"]`` holds the split solution) the whole solution is one prefix: the measure
    sees the sub-steps as ``previous_steps`` + ``action``.

    Args:
        env: A text env (observation ``str``).
        measure: A :class:`~prm_gym.core.scorer.ProgressMeasure` (or a
            :class:`~prm_gym.core.scorer.Scorer`, read as a running best score).
        coef: Weight of the progress in the reward.
        name: Key under ``info["reward_components"]``.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import ProgressReward
        >>> from prm_gym.envs.math import MathProgress
        >>> env = ProgressReward(gym.make("prm/Math-v0"), MathProgress(), coef=1.0)
        >>> obs, info = env.reset(seed=0)
        >>> gold = env.unwrapped.task.metadata["gold_steps"]
        >>> total = 0.0
        >>> for step in [gold[0], gold[0], gold[0]]:   # repeating a step pays once
        ...     obs, reward, terminated, truncated, info = env.step(step)
        ...     total += info["reward_components"]["progress"]
        >>> 0.0 < total < 1.0
        True
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        measure: ProgressMeasure | Scorer,
        coef: float = 1.0,
        name: str = "progress",
    ) -> None:
        if not hasattr(measure, "progress") and not hasattr(measure, "score"):
            raise TypeError(
                "measure must have progress(contexts) -> np.ndarray (a ProgressMeasure) or "
                "score(contexts) -> np.ndarray (a Scorer)"
            )
        gym.utils.RecordConstructorArgs.__init__(self, measure=measure, coef=coef, name=name)
        gym.Wrapper.__init__(self, env)
        self.measure = measure
        self.coef = coef
        self.name = name
        self._prompt = ""
        self._steps: list[str] = []
        self._best = 0.0
        self.reward_role = RewardRole(records=(name,))
        check_composition(self, self.reward_role)
        self._terms = EpisodeTerms()

    @property
    def best(self) -> float:
        """The running best progress B_t of the current episode."""
        return self._best

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._prompt = obs if isinstance(obs, str) else str(obs)
        self._steps = []
        self._best = 0.0
        self._terms.reset()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        term = 0.0
        if info.get("action_valid") is not False:
            task = getattr(self.env.unwrapped, "task", None)
            response = obs if isinstance(obs, str) else str(obs)
            sub_steps = info.get("steps")
            if isinstance(sub_steps, list) and sub_steps:
                previous = tuple(str(s) for s in sub_steps[:-1])
                context = StepContext(
                    self._prompt, previous, str(sub_steps[-1]), response, info, task
                )
            else:
                context = StepContext(
                    self._prompt, tuple(self._steps), str(action), response, info, task
                )
                self._steps.append(str(action))
            phi = self._measure(context)
            if phi > self._best:
                term = self.coef * (phi - self._best)
                self._best = phi
        reward = self._terms.add(info, reward, self.name, term, terminated or truncated)
        return obs, reward, terminated, truncated, info

    def _measure(self, context: StepContext) -> float:
        method = getattr(self.measure, "progress", None) or self.measure.score  # type: ignore[union-attr]
        values = np.asarray(method([context]), dtype=np.float64).reshape(-1)
        if len(values) != 1:
            raise ValueError(
                f"{type(self.measure).__name__} returned {len(values)} values for one context"
            )
        value = float(values[0])
        if not np.isfinite(value):
            raise ValueError(f"{type(self.measure).__name__} returned a non-finite progress")
        return value
