"""One role of a PettingZoo AEC env seen as a single-agent Gymnasium env (for single-agent
trainers such as :class:`~prm_gym.agents.PGTrainer`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, SupportsFloat

import gymnasium as gym

__all__ = ["RoleEnv"]

Policy = Callable[[Any], Any] | Any
"""``policy(observation) -> action``, or an object with ``act(observation)`` (and optionally
``reset()``, called at every episode start), such as an :class:`~prm_gym.agents.LLMAgent`."""


class RoleEnv(gym.Env[Any, Any]):
    """Plays ``role`` of an AEC env; every other agent is played by its policy in ``others``.

    ``reset`` and ``step`` return the role's observation and the reward it accumulated since
    its previous action (``env.last()``), and end when the role terminates or truncates. The
    info is the role's, with ``reward_components`` summed over the turns in between, and on
    the final step ``info["outcome"]``: the role's terminal score, read from
    ``info[outcome_key]`` when present (e.g. the verifier's ``"verification"``), else the env's
    outcome. So :class:`~prm_gym.agents.PGTrainer` trains one role against fixed partners:
    ``PGTrainer(backend, lambda: RoleEnv(make("solver_verifier_v0"), "solver", {...}))``.

    Args:
        env: A PettingZoo AEC env (e.g. ``make("solver_verifier_v0")``).
        role: The agent this env lets you play.
        others: For every other agent, its policy: a callable ``observation -> action`` or an
            object with ``act(observation)`` and optionally ``reset()`` (an
            :class:`~prm_gym.agents.LLMAgent` keeps its history for the episode).
        outcome_key: Info key holding the role's terminal score (default: ``"outcome"``).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium declares it an instance variable)

    def __init__(
        self,
        env: Any,
        role: str,
        others: Mapping[str, Policy],
        outcome_key: str = "outcome",
    ) -> None:
        missing = [a for a in env.possible_agents if a != role and a not in others]
        if role not in env.possible_agents or missing:
            raise ValueError(
                f"role must be one of {env.possible_agents} and others must give a policy for "
                f"every other agent (missing: {missing})"
            )
        self.env = env
        self.role = role
        self.others = dict(others)
        self.outcome_key = outcome_key
        self.observation_space = env.observation_space(role)
        self.action_space = env.action_space(role)
        self._components: dict[str, float] = {}

    def _advance(self) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Let the other agents act until the role is selected or the episode is over."""
        components: dict[str, float] = {}
        while self.env.agents:
            agent = self.env.agent_selection
            obs, reward, terminated, truncated, info = self.env.last()
            if agent == self.role:
                for k, v in info.get("reward_components", {}).items():
                    components[k] = components.get(k, 0.0) + float(v)
                out = dict(info)
                out["reward_components"] = components
                if terminated or truncated:
                    score = out.get(self.outcome_key, out.get("outcome"))
                    out["outcome"] = float(score) if score is not None else 0.0
                    self.env.step(None)
                return obs, float(reward), bool(terminated), bool(truncated), out
            policy = self.others[agent]
            if terminated or truncated:
                action = None
            elif hasattr(policy, "act"):
                action = policy.act(obs)
            else:
                action = policy(obs)
            self.env.step(action)
        raise RuntimeError(f"the episode ended without {self.role!r} being selected")

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.env.reset(seed=seed, options=options)
        for policy in self.others.values():
            if hasattr(policy, "reset"):
                policy.reset()
        obs, _, _, _, info = self._advance()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        self.env.step(action)
        return self._advance()

    def close(self) -> None:
        self.env.close()
