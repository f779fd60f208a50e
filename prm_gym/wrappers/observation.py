"""Observation wrappers for chat models."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from prm_gym.core.text_env import abbreviate_action
from prm_gym.spaces import Chat

__all__ = ["ChatObservation"]


class ChatObservation(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Turns a text env's observation into the OpenAI-style message list of the whole episode.

    The task prompt (and an optional system prompt) open the list; each agent action becomes an
    ``assistant`` message and each env response a ``user`` message (over-long actions are
    abbreviated as the env's transcript abbreviates them). The list is rebuilt from the wrapper's
    own history, so it works on any text env; it is a plain ``list`` in a
    :class:`~prm_gym.spaces.Chat` space and can be fed to ``tokenizer.apply_chat_template`` or an
    OpenAI-compatible server directly.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import ChatObservation
        >>> env = ChatObservation(gym.make("prm/Math-v0"), system_prompt="Be precise.")
        >>> messages, info = env.reset(seed=0)
        >>> [m["role"] for m in messages]
        ['system', 'user']
        >>> messages, *_ = env.step("Step 1: think.")
        >>> [m["role"] for m in messages]
        ['system', 'user', 'assistant', 'user']
    """

    def __init__(self, env: gym.Env[Any, Any], system_prompt: str | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, system_prompt=system_prompt)
        gym.Wrapper.__init__(self, env)
        self.system_prompt = system_prompt
        limit = getattr(env.observation_space, "max_length", 16384)
        self.observation_space = Chat(max(limit, len(system_prompt or "")))
        self._action_limit: int | None = getattr(env.action_space, "max_length", None)
        self._messages: list[dict[str, str]] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, str]], dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._messages = []
        if self.system_prompt:
            self._messages.append({"role": "system", "content": self.system_prompt})
        self._messages.append({"role": "user", "content": str(obs)})
        return [dict(m) for m in self._messages], info

    def step(
        self, action: Any
    ) -> tuple[list[dict[str, str]], SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        text = str(action)
        if self._action_limit is not None:
            text = abbreviate_action(text, self._action_limit)
        self._messages.append({"role": "assistant", "content": text})
        self._messages.append({"role": "user", "content": str(obs)})
        return [dict(m) for m in self._messages], reward, terminated, truncated, info
