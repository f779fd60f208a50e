"""Dense reward from accepted LLM-written reward code (Text2Reward / Eureka), run sandboxed."""

from __future__ import annotations

from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.rewards.reward_code import RewardCode, RewardCodeError, parse_state
from prm_gym.wrappers.components import (
    EpisodeLedger,
    EpisodeTerms,
    RewardRole,
    check_composition,
    record_reward_component,
    reward_components,
)

__all__ = ["RewardCodeShaping"]


def reward_code_terms(
    values: np.ndarray, terminated: bool, potential: bool, coef: float, gamma: float
) -> np.ndarray:
    """Per-step terms from r(s_0..s_T) (``values`` has T + 1 entries).

    As a reward: ``coef · r(s_t)`` for t = 1..T. As a potential: ``coef · (γ·r(s_{t+1}) − r(s_t))``
    with r of a terminal state taken as 0 (Ng, Harada & Russell, 1999). Shared by the single-env
    and vector wrappers.
    """
    if not potential:
        return coef * values[1:]
    nxt = values[1:].copy()
    if terminated:
        nxt[-1] = 0.0
    return coef * (gamma * nxt - values[:-1])


class RewardCodeShaping(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Adds ``coef`` × the reward code's value of each new state, recorded as ``name``.

    The state is ``parse_state(env.unwrapped.describe_state())``. With ``potential=False``
    (Eureka: the code *is* the dense reward) the term is ``coef · r(s_{t+1})``; with
    ``potential=True`` it is ``coef · (γ·r(s_{t+1}) − r(s_t))`` (Ng et al. 1999, r(s_{T}) = 0 on
    termination), which leaves the optimal policy unchanged.

    Each evaluation is a sandbox job (≈10-150 ms), so ``batch="step"`` (one job per step) is
    slow. ``batch="episode"`` holds the term back (recorded as 0), evaluates every state of the
    episode in one job on the final step, adds the episode's total there and publishes
    ``info["step_rewards"]`` (each step's other components, an inner trajectory-level wrapper's
    redistribution kept, plus this term's share) and ``info["step_reward_components"]``, like
    the other trajectory-level wrappers (DESIGN §5). With ``batch="step"`` the term is per-step
    and, outside a trajectory-level wrapper, is added to its ``step_rewards`` on the final step.

    Code that fails at run time never crashes the env: the term is 0 and the reason is put in
    ``info["reward_code_error"]``.

    Args:
        env: An env whose ``unwrapped`` has ``describe_state()``.
        reward_code: An accepted :class:`~prm_gym.rewards.RewardCode`.
        coef: Weight of the term.
        potential: Use the code as a potential (see above) instead of a reward.
        gamma: The learner's discount (``potential=True`` only).
        batch: ``"step"`` or ``"episode"``.
        name: Key under ``info["reward_components"]``.

    :class:`~prm_gym.wrappers.vector.VectorRewardCodeShaping` is the vector version (one
    sandbox job per vector step).
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        reward_code: RewardCode,
        coef: float = 1.0,
        potential: bool = False,
        gamma: float = 0.99,
        batch: Literal["step", "episode"] = "step",
        name: str = "reward_code",
    ) -> None:
        if batch not in ("step", "episode"):
            raise ValueError(f"batch must be 'step' or 'episode', got {batch!r}")
        if not hasattr(env.unwrapped, "describe_state"):
            raise TypeError(f"{type(env.unwrapped).__name__} has no describe_state()")
        gym.utils.RecordConstructorArgs.__init__(
            self,
            _disable_deepcopy=True,  # holds a sandbox / model: record, don't copy
            reward_code=reward_code,
            coef=coef,
            potential=potential,
            gamma=gamma,
            batch=batch,
            name=name,
        )
        gym.Wrapper.__init__(self, env)
        self.reward_code = reward_code
        self.coef = coef
        self.potential = potential
        self.gamma = gamma
        self.batch = batch
        self.name = name
        self.reward_role = RewardRole(records=(name,), holds=(name,) if batch == "episode" else ())
        check_composition(self, self.reward_role)
        self._episode_terms = EpisodeTerms()
        self._ledger = EpisodeLedger()
        self._states: list[dict[str, Any]] = []
        self._prev_value = 0.0

    def _state(self) -> dict[str, Any]:
        return parse_state(self.env.unwrapped.describe_state())  # type: ignore[attr-defined]

    def _values(self, states: list[dict[str, Any]], info: dict[str, Any]) -> np.ndarray | None:
        try:
            return self.reward_code.evaluate(states)[0]
        except RewardCodeError as exc:
            info["reward_code_error"] = str(exc)
            return None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._states = [self._state()]
        self._episode_terms.reset()
        self._ledger.reset()
        self._prev_value = 0.0
        if self.potential and self.batch == "step":
            values = self._values(self._states, info)
            self._prev_value = float(values[0]) if values is not None else 0.0
        return obs, info

    def _terms(self, values: np.ndarray, terminated: bool) -> np.ndarray:
        return reward_code_terms(values, terminated, self.potential, self.coef, self.gamma)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        state = self._state()
        done = terminated or truncated
        if self.batch == "step":
            term = 0.0
            values = self._values([state], info)
            if values is not None:
                pair = np.array([self._prev_value, values[0]])
                term = float(self._terms(pair, terminated)[0])
                self._prev_value = float(values[0])
            reward = self._episode_terms.add(info, reward, self.name, term, done)
            return obs, reward, terminated, truncated, info
        self._states.append(state)
        self._ledger.record(reward_components(info, reward))
        terms: np.ndarray | None = None
        if done:
            values = self._values(self._states, info)
            if values is not None:
                terms = self._terms(values, terminated)
        total = 0.0 if terms is None else float(terms.sum())
        view = self._ledger.view(info) if done else {}
        reward, key = record_reward_component(info, reward, self.name, total)
        if done:
            view[key] = np.zeros(len(self._states) - 1) if terms is None else terms
            self._ledger.publish(info, view)
        return obs, reward, terminated, truncated, info
