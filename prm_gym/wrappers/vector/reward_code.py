"""LLM-written reward code for vector envs: one sandbox job per vector step."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from prm_gym.core.vector import AutoresetTracker
from prm_gym.rewards.reward_code import RewardCode, RewardCodeError, parse_state
from prm_gym.wrappers.reward_code import reward_code_terms
from prm_gym.wrappers.vector._util import VectorEpisodeTerms, set_components

__all__ = ["VectorRewardCodeShaping"]


class VectorRewardCodeShaping(VectorWrapper):
    """:class:`~prm_gym.wrappers.RewardCodeShaping` for a Gymnasium vector env.

    Each sub-env gets the term the single-env wrapper would give it: ``coef · r(s_{t+1})``, or
    with ``potential=True`` ``coef · (γ·r(s_{t+1}) − r(s_t))`` (r(s_T) = 0 on termination).
    States are read with ``call("describe_state")`` after every step. A sandbox job costs
    ≈10-150 ms, so the code runs **once per vector step** for all sub-envs: with
    ``batch="step"`` on every sub-env's new state (and, in potential mode, the new episodes'
    first states), with ``batch="episode"`` on all states of the episodes that end at this step
    (their term is held back, paid on the final step and spread over ``info["step_rewards"]``,
    an object array over sub-envs with the mask ``info["_step_rewards"]``).

    If the code fails, the term is 0 for every sub-env of that job and the reason is put in
    ``info["reward_code_error"]`` (a single env would fail only on the state that broke it).

    Only ``NEXT_STEP`` autoreset is supported (the default): in ``SAME_STEP`` mode a sub-env has
    already reset when the step returns, so the final state can no longer be described. The
    reset step of a sub-env (action ignored) gets term 0 and starts the new episode.

    Args:
        env: A ``NEXT_STEP`` vector env whose sub-envs have ``describe_state()``.
        reward_code: An accepted :class:`~prm_gym.rewards.RewardCode`.
        coef: Weight of the term.
        potential: Use the code as a potential instead of a reward.
        gamma: The learner's discount (``potential=True`` only).
        batch: ``"step"`` or ``"episode"``.
        name: Key under ``info["reward_components"]``.
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        reward_code: RewardCode,
        coef: float = 1.0,
        potential: bool = False,
        gamma: float = 0.99,
        batch: Literal["step", "episode"] = "step",
        name: str = "reward_code",
    ) -> None:
        super().__init__(env)
        if batch not in ("step", "episode"):
            raise ValueError(f"batch must be 'step' or 'episode', got {batch!r}")
        self._tracker = AutoresetTracker(env)
        if self._tracker.mode != AutoresetMode.NEXT_STEP:
            raise ValueError(
                "VectorRewardCodeShaping needs autoreset_mode=NEXT_STEP: with SAME_STEP the final "
                "state is gone (the sub-env already reset) before it can be described"
            )
        self.reward_code = reward_code
        self.coef = coef
        self.potential = potential
        self.gamma = gamma
        self.batch = batch
        self.name = name
        n = env.num_envs
        self._states: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        self._kept: list[list[float]] = [[] for _ in range(n)]
        self._prev_value = np.zeros(n)
        self._episode_terms = VectorEpisodeTerms(n)

    def _describe(self) -> list[dict[str, Any]]:
        texts = self.env.call("describe_state")  # type: ignore[attr-defined]
        return [parse_state(text) for text in texts]

    def _values(self, states: list[dict[str, Any]], infos: dict[str, Any]) -> np.ndarray | None:
        """One sandbox job; ``None`` (and ``infos["reward_code_error"]``) if the code failed."""
        try:
            return self.reward_code.evaluate(states)[0]
        except RewardCodeError as exc:
            infos["reward_code_error"] = str(exc)
            return None

    def _terms(self, values: np.ndarray, terminated: bool) -> np.ndarray:
        return reward_code_terms(values, terminated, self.potential, self.coef, self.gamma)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self._tracker.reset()
        states = self._describe()
        self._states = [[s] for s in states]
        self._kept = [[] for _ in range(self.num_envs)]
        self._prev_value = np.zeros(self.num_envs)
        self._episode_terms.reset()
        if self.potential and self.batch == "step":
            values = self._values(states, infos)
            if values is not None:
                self._prev_value = np.asarray(values, dtype=np.float64).copy()
        return obs, infos

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        n = self.num_envs
        resetting = self._tracker.resetting()
        outcome = np.asarray(rewards, dtype=np.float64)
        states = self._describe()
        terms = np.zeros(n)
        if self.batch == "step":
            need = [i for i in range(n) if self.potential or not resetting[i]]
            values = self._values([states[i] for i in need], infos) if need else None
            if values is not None:
                for i, v in zip(need, values, strict=True):
                    if not resetting[i]:
                        pair = np.array([self._prev_value[i], v])
                        terms[i] = float(self._terms(pair, bool(terminated[i]))[0])
                    self._prev_value[i] = float(v)
            done_now = np.logical_or(terminated, truncated)
            self._episode_terms.record(infos, terms, resetting, done_now, same_step=False)
        else:
            for i in range(n):
                if resetting[i]:
                    self._states[i], self._kept[i] = [states[i]], []
                else:
                    self._states[i].append(states[i])
                    self._kept[i].append(float(outcome[i]))
            done = [i for i in range(n) if not resetting[i] and (terminated[i] or truncated[i])]
            flat = [s for i in done for s in self._states[i]]
            values = self._values(flat, infos) if flat else None
            if values is not None:
                step_rewards = np.empty(n, dtype=object)
                mask = np.zeros(n, dtype=bool)
                bounds = np.cumsum([len(self._states[i]) for i in done])[:-1]
                for i, v in zip(done, np.split(values, bounds), strict=True):
                    per_step = self._terms(v, bool(terminated[i]))
                    terms[i] = float(per_step.sum())
                    step_rewards[i] = (np.asarray(self._kept[i]) + per_step).tolist()
                    mask[i] = True
                infos["step_rewards"], infos["_step_rewards"] = step_rewards, mask
        self._tracker.update(terminated, truncated)
        rewards, _ = set_components(infos, outcome, self.name, terms)
        return obs, rewards, terminated, truncated, infos
