"""Episode records: the live :class:`Transcript` and the finished :class:`Trajectory`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Trajectory", "Transcript", "Turn"]


@dataclass
class Turn:
    """One agent action and the env's response to it."""

    action: str
    observation: str
    action_valid: bool = True
    error: str | None = None


@dataclass
class Transcript:
    """The whole episode so far: the prompt and every turn."""

    prompt: str
    turns: list[Turn] = field(default_factory=list)

    def messages(self, system_prompt: str | None = None) -> list[dict[str, str]]:
        """The episode as OpenAI-style chat messages (agent = assistant, env = user)."""
        out = [{"role": "system", "content": system_prompt}] if system_prompt else []
        out.append({"role": "user", "content": self.prompt})
        for turn in self.turns:
            out.append({"role": "assistant", "content": turn.action})
            out.append({"role": "user", "content": turn.observation})
        return out

    def render(self) -> str:
        lines = [f"[task] {self.prompt}"]
        for i, turn in enumerate(self.turns, 1):
            lines.append(f"[agent {i}] {turn.action}")
            lines.append(f"[env {i}] {turn.observation}")
        return "\n".join(lines)


@dataclass
class Trajectory:
    """A finished (or cut) episode as trainers consume it.

    ``rewards[t]`` is the reward returned by ``step`` t (the sum of ``reward_components``), and
    ``step_rewards`` the redistributed per-step rewards a trajectory-level wrapper published on
    the final step (``None`` when no wrapper did).
    """

    task_id: str
    prompt: str
    actions: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    #: Why an agent cut the episode short (``"context_overflow"``: the next prompt no longer fit
    #: the model's context), or ``None``.
    truncated_reason: str | None = None

    def append(self, action: str, observation: str, reward: float, info: dict[str, Any]) -> None:
        self.actions.append(action)
        self.observations.append(observation)
        self.rewards.append(float(reward))
        self.infos.append(info)

    @property
    def outcome(self) -> float | None:
        return self.infos[-1].get("outcome") if self.infos else None

    @property
    def total_reward(self) -> float:
        return float(np.sum(self.rewards))

    @property
    def step_rewards(self) -> np.ndarray | None:
        if not self.infos or "step_rewards" not in self.infos[-1]:
            return None
        return np.asarray(self.infos[-1]["step_rewards"], dtype=np.float64)

    def components(self) -> dict[str, np.ndarray]:
        """Per-step arrays of each reward component (0 where a step lacks one)."""
        names: dict[str, None] = {}
        for info in self.infos:
            names.update(dict.fromkeys(info.get("reward_components", {})))
        return {
            name: np.array([i.get("reward_components", {}).get(name, 0.0) for i in self.infos])
            for name in names
        }
