"""One prm-gym episode driven by named actions: the shared core of the trainer adapters.

:class:`EpisodeRunner` owns one env (``prm_gym.make_dense`` or the native env), resets it with
a task picked from keyword columns (``task_seed``, ``task_index``, ``task_id``) or a seed,
steps it with action strings, and keeps what trainers ask for afterwards: the episode's return,
its outcome, the per-component sums of ``info["reward_components"]`` and the actions taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

__all__ = ["EpisodeOverError", "EpisodeRunner", "component_names", "reset_options_from"]


class EpisodeOverError(RuntimeError):
    """An action was sent after the episode ended (or before the first reset)."""


def reset_options_from(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The ``reset`` options that pick a row's task: ``task_seed`` or ``task_index`` (when
    ``>= 0``), else ``task_id``; ``{}`` when the row names no task."""
    for key in ("task_seed", "task_index"):
        value = columns.get(key)
        if value is not None and int(value) >= 0:
            return {key: int(value)}
    task_id = columns.get("task_id")
    if task_id not in (None, ""):
        return {"task_id": str(task_id)}
    return {}


def component_names(env: gym.Env[Any, Any]) -> tuple[str, ...]:
    """The ``reward_components`` names a reward-wrapper stack writes: ``"outcome"`` first,
    then each reward wrapper's ``name`` from the innermost out."""
    names: list[str] = []
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        name = getattr(layer, "name", None)
        if isinstance(name, str) and name:
            names.append(name)
        layer = layer.env
    return ("outcome", *reversed(names))


class EpisodeRunner:
    """Plays one episode at a time of ``env_id`` (dense stack or native env).

    Args:
        env_id: Registered id.
        dense: Wrap the env in its family's dense stack (``prm_gym.make_dense``).
        coef: Weight of the dense terms (``None``: the family's default).
        seed: Base seed of resets that name no task (``seed``, ``seed + 1``, ...).
        **make_kwargs: Passed to ``gym.make``.
    """

    def __init__(
        self,
        env_id: str,
        *,
        dense: bool = True,
        coef: float | None = None,
        seed: int | None = None,
        **make_kwargs: Any,
    ) -> None:
        import prm_gym

        self.env_id = env_id
        self.dense = dense
        if dense:
            self.env = prm_gym.make_dense(env_id, coef=coef, **make_kwargs)
        else:
            self.env = gym.make(env_id, **make_kwargs)
        self.components: tuple[str, ...] = component_names(self.env) if dense else ("outcome",)
        self._next_seed = seed
        self.started = False
        self.done = False
        self.episode_return = 0.0
        self.outcome: float | None = None
        self.reward_components: dict[str, float] = {}
        self.actions: list[str] = []
        self.last_info: dict[str, Any] = {}

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None) -> Any:
        """Start an episode; returns the first observation."""
        if seed is None and not options and self._next_seed is not None:
            seed = self._next_seed
            self._next_seed += 1
        obs, info = self.env.reset(seed=seed, options=dict(options) if options else None)
        self.started, self.done = True, False
        self.episode_return, self.outcome = 0.0, None
        self.reward_components = dict.fromkeys(self.components, 0.0)
        self.actions = []
        self.last_info = dict(info)
        return obs

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """One env step; raises :class:`EpisodeOverError` once the episode has ended."""
        if not self.started:
            raise EpisodeOverError("no episode is running: call reset first")
        if self.done:
            raise EpisodeOverError(
                "the episode is over (its reward is final); no more actions are taken"
            )
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(action if isinstance(action, str) else repr(action))
        self.episode_return += float(reward)
        components = info.get("reward_components")
        if isinstance(components, Mapping):
            for name, value in components.items():
                self.reward_components[name] = self.reward_components.get(name, 0.0) + float(value)
        else:
            self.reward_components["outcome"] = self.reward_components.get("outcome", 0.0) + float(
                reward
            )
        if "outcome" in info:
            self.outcome = float(info["outcome"] or 0.0)
        self.done = bool(terminated or truncated)
        self.last_info = dict(info)
        return obs, float(reward), bool(terminated), bool(truncated), dict(info)

    def reward(self) -> float:
        """The episode's return (dense) or its outcome (native; 0 until it is set)."""
        if self.dense:
            return float(self.episode_return)
        return float(self.outcome or 0.0)

    def close(self) -> None:
        self.env.close()
