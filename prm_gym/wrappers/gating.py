"""Gated reward accumulation: dense terms count only if the outcome succeeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.credit import gated_rewards
from prm_gym.wrappers.components import add_reward_component, reward_components

__all__ = ["GatedAccumulation"]


class GatedAccumulation(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Holds dense reward terms back and releases them only when the outcome meets a threshold.

    Gated Reward Accumulation (G-RA; "Stabilizing Long-term Multi-turn Reinforcement Learning
    with Gated Rewards", 2025): r̃_t = r_t^low · 1[r^high ≥ Δ]. Each step this wrapper adds a
    ``name`` term equal to minus the gated components (those named in ``gated``; by default every
    component except ``"outcome"`` recorded by inner wrappers), so nothing gated reaches an online
    learner early. On the final step, if the gate value meets ``threshold``, the accumulated terms
    are paid out at once; otherwise they are dropped. The gate value is ``info["outcome"]`` when
    ``gate_on == "outcome"``, else the episode total of component ``gate_on`` — stacking wrappers
    with different ``gate_on`` gives the paper's priority chain of channels.

    On the final step ``info["step_rewards"]`` holds the redistributed per-step rewards (each
    step's ungated reward plus its gated terms when the gate opened) for trajectory-level
    trainers, and ``info["gate_open"]`` says whether it opened. A policy that farms per-step
    credit without solving the task gains nothing.

    Args:
        env: An env whose inner wrappers record ``reward_components``.
        threshold: Δ, the gate value needed to release the held terms.
        gated: Component names to hold back (default: all but ``"outcome"``).
        gate_on: ``"outcome"`` or the name of a component whose episode total opens the gate.
        name: Key of this wrapper's term under ``info["reward_components"]``.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import GatedAccumulation, ProcessReward
        >>> from prm_gym.rewards import RuleVerifier
        >>> env = gym.make("prm/Math-v0")
        >>> env = GatedAccumulation(ProcessReward(env, RuleVerifier(), coef=0.1), threshold=1.0)
        >>> obs, info = env.reset(seed=0)
        >>> steps = env.unwrapped.task.metadata["gold_steps"]
        >>> obs, reward, terminated, truncated, info = env.step(steps[0])
        >>> info["reward_components"], reward
        ({'outcome': 0.0, 'process': 0.1, 'gate': -0.1}, 0.0)
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        threshold: float = 1.0,
        gated: Sequence[str] | None = None,
        gate_on: str = "outcome",
        name: str = "gate",
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, threshold=threshold, gated=gated, gate_on=gate_on, name=name
        )
        gym.Wrapper.__init__(self, env)
        self.threshold = threshold
        self.gated = None if gated is None else tuple(gated)
        self.gate_on = gate_on
        self.name = name
        self._held: list[float] = []
        self._kept: list[float] = []
        self._gate_total = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._held, self._kept, self._gate_total = [], [], 0.0
        return self.env.reset(seed=seed, options=options)

    def _is_gated(self, key: str) -> bool:
        if self.gated is None:
            return key not in ("outcome", self.gate_on)
        return key in self.gated

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        comps = reward_components(info, reward)
        held = sum(v for k, v in comps.items() if self._is_gated(k))
        self._held.append(held)
        self._kept.append(float(reward) - held)
        self._gate_total += comps.get(self.gate_on, 0.0)
        term = -held
        if terminated or truncated:
            gate_value = (
                float(info.get("outcome", 0.0)) if self.gate_on == "outcome" else self._gate_total
            )
            opened = gate_value >= self.threshold
            if opened:
                term += float(np.sum(self._held))
            released = gated_rewards(np.asarray(self._held), gate_value, self.threshold)
            info["step_rewards"] = (np.asarray(self._kept) + released).tolist()
            info["gate_open"] = opened
        reward = add_reward_component(info, reward, self.name, term)
        return obs, reward, terminated, truncated, info
