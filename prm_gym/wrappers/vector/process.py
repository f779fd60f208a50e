"""Dense step rewards for vector text envs: one scorer call per step for all sub-envs."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from prm_gym.core.scorer import Scorer, StepContext
from prm_gym.core.vector import AutoresetTracker, step_info
from prm_gym.wrappers.vector._util import VectorEpisodeTerms, set_components

__all__ = ["VectorProcessReward"]


class VectorProcessReward(VectorWrapper):
    """:class:`~prm_gym.wrappers.ProcessReward` for a Gymnasium vector env of text envs.

    Every step, the contexts of all sub-envs (and all sub-steps of single-turn solutions) go to
    the scorer in **one** ``score`` call, so a learned PRM runs one batched forward pass per vector
    step. Histories are kept per sub-env and restart at each autoreset; the autoreset step itself
    (whose action the env ignored) is not scored. Each sub-env's current task is read once per
    episode with ``get_attr("task")`` (public attribute, DESIGN §3). Rejected actions
    (``action_valid`` false) score ``invalid_score`` and stay out of the history.

    Outside a trajectory-level wrapper (a sub-env's ``GatedAccumulation``, a vector wrapper that
    publishes ``step_rewards``) its per-step terms are added to that episode's ``step_rewards``
    when the episode ends, so they still sum to the sub-env's return.

    With a transformer PRM, build it with ``cache_size >= num_envs`` (e.g.
    ``RewardHeadPRM(path, cache_size=4 * num_envs)``): each sub-env's transcript then stays in
    the scorer's key/value cache and a vector step runs only the new steps, in one forward
    pass that reuses the previous step's batched cache as is, without reassembling it row by
    row (``benchmarks/scoring.py``).

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.rewards import RuleVerifier
        >>> from prm_gym.wrappers.vector import VectorProcessReward
        >>> envs = gym.make_vec("prm/Math-v0", num_envs=2, vectorization_mode="sync")
        >>> envs = VectorProcessReward(envs, RuleVerifier(), coef=0.1)
        >>> obs, info = envs.reset(seed=0)
        >>> obs, rewards, *_ , info = envs.step(("Step 1: 2 * 3 = 7", "Let me think."))
        >>> info["reward_components"]["process"].tolist()
        [-0.1, 0.0]
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        scorer: Scorer,
        coef: float = 1.0,
        name: str = "process",
        aggregate: Literal["mean", "min", "sum"] = "mean",
        invalid_score: float = 0.0,
    ) -> None:
        super().__init__(env)
        if aggregate not in ("mean", "min", "sum"):
            raise ValueError(f"aggregate must be 'mean', 'min' or 'sum', got {aggregate!r}")
        self.scorer = scorer
        self.coef = coef
        self.name = name
        self.aggregate = aggregate
        self.invalid_score = invalid_score
        self._tracker = AutoresetTracker(env)
        n = env.num_envs
        self._prompts = [""] * n
        self._steps: list[list[str]] = [[] for _ in range(n)]
        self._tasks: list[Any] = [None] * n
        self._terms = VectorEpisodeTerms(n)

    def _start(self, i: int, prompt: Any) -> None:
        self._prompts[i] = prompt if isinstance(prompt, str) else str(prompt)
        self._steps[i] = []

    def _refresh_tasks(self) -> None:
        try:
            self._tasks = list(self.env.get_attr("task"))  # type: ignore[attr-defined]
        except AttributeError:
            self._tasks = [None] * self.num_envs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self._tracker.reset()
        self._terms.reset()
        for i in range(self.num_envs):
            self._start(i, obs[i])
        self._refresh_tasks()
        return obs, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        resetting = self._tracker.resetting()
        done = np.logical_or(terminated, truncated)
        same_step = self._tracker.mode == AutoresetMode.SAME_STEP
        values = np.zeros(self.num_envs)
        contexts: list[StepContext] = []
        owners: list[int] = []
        sub_scores: dict[int, list[float]] = {}
        for i in range(self.num_envs):
            if resetting[i]:
                continue
            # SAME_STEP: a finished sub-env is already reset; score its final obs and info.
            final = bool(same_step and done[i])
            info = step_info(infos, i, final)
            action = str(actions[i])
            response = str(infos["final_obs"][i] if final else obs[i])
            if info.get("action_valid") is False:
                values[i] = self.invalid_score
                continue
            sub_steps = info.get("steps")
            if isinstance(sub_steps, list):
                sub_scores[i] = []
                for k, s in enumerate(sub_steps):
                    prev = tuple(sub_steps[:k])
                    contexts.append(
                        StepContext(self._prompts[i], prev, s, response, info, self._tasks[i])
                    )
                    owners.append(i)
            else:
                prev = tuple(self._steps[i])
                contexts.append(
                    StepContext(self._prompts[i], prev, action, response, info, self._tasks[i])
                )
                owners.append(i)
                self._steps[i].append(action)
        if contexts:
            scores = np.asarray(self.scorer.score(contexts), dtype=np.float64).reshape(-1)
            if len(scores) != len(contexts):
                raise ValueError(
                    f"{type(self.scorer).__name__}.score returned {len(scores)} values for "
                    f"{len(contexts)} contexts"
                )
            for owner, score in zip(owners, scores, strict=True):
                if owner in sub_scores:
                    sub_scores[owner].append(float(score))
                else:
                    values[owner] = score
            for owner, owned in sub_scores.items():
                values[owner] = float(getattr(np, self.aggregate)(owned)) if owned else 0.0
        self._terms.record(infos, self.coef * values, resetting, done, same_step)
        self._tracker.update(terminated, truncated)
        if resetting.any():
            for j in np.flatnonzero(resetting):
                self._start(int(j), obs[j])
            self._refresh_tasks()
        if same_step and done.any():
            for j in np.flatnonzero(done):
                self._start(int(j), obs[j])
            self._refresh_tasks()
        rewards, _ = set_components(infos, rewards, self.name, self.coef * values)
        return obs, rewards, terminated, truncated, infos
