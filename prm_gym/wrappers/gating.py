"""Gated reward accumulation: dense terms count only if the outcome succeeds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.wrappers.components import (
    EpisodeLedger,
    RewardRole,
    check_composition,
    component_keys,
    record_reward_component,
    reward_components,
)

__all__ = ["GatedAccumulation"]


class GatedAccumulation(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Holds dense reward terms back and releases them only when the outcome meets a threshold.

    Gated Reward Accumulation (G-RA; "Stabilizing Long-term Multi-turn Reinforcement Learning
    with Gated Rewards", 2025): r̃_t = r_t^low · 1[r^high ≥ Δ]. Each step this wrapper adds a
    ``name`` term equal to minus the gated components (those named in ``gated``; by default every
    component except ``"outcome"`` recorded by inner wrappers), so nothing gated reaches an online
    learner early. On the final step, if the gate value meets ``threshold``, the accumulated terms
    are paid out at once; otherwise they are dropped. The gate value is the episode total of
    component ``gate_on`` — stacking wrappers with different ``gate_on`` gives the paper's
    priority chain of channels — except for ``gate_on="outcome"``, where it is
    ``info["outcome"]`` where the env sets it, else ``info["is_success"]`` (the goal-conditioned
    manipulation envs report only that), else 0.

    On the final step ``info["step_rewards"]`` holds the redistributed per-step rewards (each
    step's ungated reward plus its gated terms when the gate opened; an inner trajectory-level
    wrapper's redistribution is kept) and ``info["step_reward_components"]`` the same per
    component, for trajectory-level trainers; ``info["gate_open"]`` says whether it opened. A
    policy that farms per-step credit without solving the task gains nothing.

    Composition: the gate acts on the terms recorded *inside* it. A per-step wrapper outside it
    (e.g. :class:`PotentialShaping`) is paid ungated and adds its terms to ``step_rewards``. A
    gate with an explicit ``gated`` list also holds the terms that rewrite those components
    (:class:`RewardTransform`, :class:`RewardNormalize`), and refuses to sit outside a
    trajectory-level wrapper that already holds one of them.

    Args:
        env: An env whose inner wrappers record ``reward_components``.
        threshold: Δ, the gate value needed to release the held terms.
        gated: Component names to hold back (default: every component recorded inside, but
            ``"outcome"`` and ``gate_on``).
        gate_on: ``"outcome"`` (``info["outcome"]``, else ``info["is_success"]``) or the name of
            a component whose episode total opens the gate.
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
        self.reward_role = RewardRole(
            reads=self.gated or (), holds=self.gated or (), holds_all=self.gated is None
        )
        check_composition(self, self.reward_role)
        self._ledger = EpisodeLedger()
        self._held: list[float] = []
        self._gate_total = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._ledger.reset()
        self._held, self._gate_total = [], 0.0
        return self.env.reset(seed=seed, options=options)

    def _held_keys(self, info: dict[str, Any], keys: Iterable[str]) -> list[str]:
        if self.gated is None:
            return [k for k in keys if k not in ("outcome", self.gate_on)]
        wanted = {k for g in self.gated for k in component_keys(info, g)}
        return [k for k in keys if k in wanted]

    def gate_value(self, info: dict[str, Any]) -> float:
        """The value compared with ``threshold`` on the final step.

        With ``gate_on="outcome"``: ``info["outcome"]`` when the env sets it, else
        ``info["is_success"]`` (goal-conditioned envs such as the manipulation family), else 0.
        Otherwise the episode total of component ``gate_on``.
        """
        if self.gate_on != "outcome":
            return self._gate_total
        for key in ("outcome", "is_success"):
            value = info.get(key)
            if value is not None:
                return float(value)
        return 0.0

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        comps = reward_components(info, reward)
        self._ledger.record(comps)
        held = sum(comps[k] for k in self._held_keys(info, comps))
        self._held.append(held)
        self._gate_total += comps.get(self.gate_on, 0.0)
        term = -held
        opened = False
        if terminated or truncated:
            opened = self.gate_value(info) >= self.threshold
            if opened:
                term += float(np.sum(self._held))
        reward, key = record_reward_component(info, reward, self.name, term)
        if terminated or truncated:
            view = self._ledger.view(info)
            keys = self._held_keys(info, view)
            held_view = np.zeros(len(self._held))
            for k in keys:
                held_view += view[k]
            view[key] = np.zeros(len(self._held)) if opened else -held_view
            self._ledger.publish(info, view)
            info["gate_open"] = opened
        return obs, reward, terminated, truncated, info
