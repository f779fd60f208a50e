"""Classic-RL views of text envs: a discrete choice among candidate actions, hashed text features.

``TextFeatures(ChoiceActions(env, max_choices=K))`` turns a text env that lists candidate actions
into a ``Box`` observation / ``Discrete(K)`` action env that Stable-Baselines3 trains directly
(MaskablePPO from sb3-contrib uses the wrapper's ``action_masks()``).
"""

from __future__ import annotations

import itertools
import re
import zlib
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from prm_gym.spaces import Text

__all__ = ["ChoiceActions", "TextFeatures", "hashed_text_features"]

_OPTION_CHARS = 600
_OPTIONS_HEADER = "\n\nOptions:\n"


class ChoiceActions(gym.Wrapper[str, np.int64, Any, str], gym.utils.RecordConstructorArgs):
    """A ``Discrete(max_choices)`` action space over the candidate actions the env lists.

    The wrapped env must put the actions it offers in ``info["candidate_actions"]`` (a list of
    ``str``) at ``reset`` and after every step. Action ``i`` sends candidate ``i`` to the env;
    ``info["action_mask"]`` (and :meth:`action_masks`, for sb3-contrib's MaskablePPO) marks the
    indices that hold a candidate. An index without a candidate is sent as a short invalid text
    action, so the env answers it as any invalid action (the step is spent, no crash).
    Candidates past ``max_choices`` are dropped. The observation is the env's text followed by
    the numbered options (``[option_i] ...``, each cut to 600 characters) so a policy can see
    what each index means. When the env lists no candidate (the episode is over) every index is
    marked valid.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import ChoiceActions
        >>> env = ChoiceActions(gym.make("prm/ToolUse-v0", levels=(1,)), max_choices=6)
        >>> obs, info = env.reset(seed=0)
        >>> env.action_space, int(info["action_mask"].sum()) == len(env.candidates)
        (Discrete(6), True)
        >>> "[option_0]" in obs
        True
    """

    def __init__(self, env: gym.Env[Any, Any], max_choices: int = 8) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, max_choices=max_choices)
        gym.Wrapper.__init__(self, env)
        if max_choices < 1:
            raise ValueError(f"max_choices must be >= 1, got {max_choices}")
        self.max_choices = max_choices
        self.action_space = spaces.Discrete(max_choices)
        limit = getattr(env.observation_space, "max_length", 16384)
        self.observation_space = Text(limit + max_choices * (_OPTION_CHARS + 32) + 16)
        self.candidates: list[str] = []

    def _update(self, observation: Any, info: dict[str, Any]) -> str:
        if "candidate_actions" not in info:
            raise KeyError(
                "ChoiceActions needs the env to list its actions in info['candidate_actions'] "
                "(a list of str) at reset and after every step"
            )
        self.candidates = [str(c) for c in info["candidate_actions"]][: self.max_choices]
        info["action_mask"] = self.action_masks()
        lines = [f"[option_{i}] {c[:_OPTION_CHARS]}" for i, c in enumerate(self.candidates)]
        return str(observation) + (_OPTIONS_HEADER + "\n".join(lines) if lines else "")

    def action_masks(self) -> np.ndarray:
        """Which indices hold a candidate action now (all, when none are listed)."""
        mask = np.zeros(self.max_choices, dtype=bool)
        mask[: len(self.candidates)] = True
        return mask if self.candidates else np.ones(self.max_choices, dtype=bool)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        return self._update(observation, info), info

    def step(self, action: Any) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        index = int(action)
        if 0 <= index < len(self.candidates):
            text = self.candidates[index]
        else:
            text = f"invalid choice {index}: only {len(self.candidates)} candidate actions"
        inner: gym.Env[Any, Any] = self.env  # gymnasium types .env with the outer action type
        observation, reward, terminated, truncated, info = inner.step(text)
        info["chosen_action"] = text
        return self._update(observation, info), reward, terminated, truncated, info


_TOKEN = re.compile(r"\w+")


def hashed_text_features(text: str, dim: int) -> np.ndarray:
    """Signed hashed bag of lower-cased word unigrams and bigrams, l2-normalised (float32).

    Each n-gram adds ±1 to bucket ``crc32(ngram) mod dim`` (the sign from another bit of the
    hash), so collisions cancel on average; the hash is stable across processes.
    """
    vector = np.zeros(dim, dtype=np.float32)
    words = _TOKEN.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    for gram in grams:
        h = zlib.crc32(gram.encode())
        vector[h % dim] += 1.0 if (h >> 31) & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class TextFeatures(gym.ObservationWrapper[np.ndarray, Any, Any], gym.utils.RecordConstructorArgs):
    """Text observation → ``Box(-1, 1, (n,), float32)`` hashed bag-of-words features.

    See :func:`hashed_text_features`: unigrams and bigrams of lower-cased words, signed hashing
    into ``dim`` buckets, l2-normalised; ``n = dim`` by default.

    With ``choice_dim > 0`` (over :class:`ChoiceActions`) the observation also describes every
    choice slot, so a policy can tell which index does what; a bag of words of the whole page
    cannot (it loses which option line a word came from). Then the page text is hashed without
    the ``Options:`` block, and for each of the ``K = action_space.n`` slots
    ``choice_dim + 4`` numbers follow (``n = dim + K·(choice_dim + 4)``, zeros for an empty slot):

    * the hashed features of the candidate action (``choice_dim`` buckets);
    * 1 (a candidate is there);
    * the share of the candidate's words that occur in the task prompt (the episode's first
      observation, as every text env's reset returns it) and the share of the prompt's words
      found in the candidate; the candidate's words are those of
      ``info["candidate_descriptions"][i]`` when the env lists such descriptions (what the
      action points at, e.g. a product's title for ``click[<id>]``), else of the action;
    * how often this action was already taken this episode (``min(count, 3) / 3``).

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import ChoiceActions, TextFeatures
        >>> env = TextFeatures(ChoiceActions(gym.make("prm/ToolUse-v0")), dim=64)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype, round(float((obs**2).sum()), 4)
        ((64,), dtype('float32'), 1.0)
        >>> env = TextFeatures(ChoiceActions(gym.make("prm/ToolUse-v0"), max_choices=6),
        ...                    dim=64, choice_dim=8)
        >>> env.reset(seed=0)[0].shape  # 64 + 6 * (8 + 4)
        (136,)
    """

    def __init__(self, env: gym.Env[Any, Any], dim: int = 512, choice_dim: int = 0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, dim=dim, choice_dim=choice_dim)
        gym.ObservationWrapper.__init__(self, env)
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        if choice_dim < 0:
            raise ValueError(f"choice_dim must be >= 0, got {choice_dim}")
        self.dim = dim
        self.choice_dim = choice_dim
        self.num_choices = 0
        if choice_dim:
            if not isinstance(env.action_space, spaces.Discrete):
                raise TypeError("choice_dim > 0 needs a Discrete action space (ChoiceActions)")
            self.num_choices = int(env.action_space.n)
        size = dim + self.num_choices * (choice_dim + 4)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(size,), dtype=np.float32)
        self._info: dict[str, Any] = {}
        self._prompt_words: set[str] = set()
        self._taken: dict[str, int] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        self._info, self._taken = info, {}
        page = str(observation).split(_OPTIONS_HEADER)[0]
        self._prompt_words = set(_TOKEN.findall(page.lower()))
        return self.observation(observation), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._info = info
        if "chosen_action" in info:
            chosen = str(info["chosen_action"])
            self._taken[chosen] = self._taken.get(chosen, 0) + 1
        return self.observation(observation), reward, terminated, truncated, info

    def observation(self, observation: Any) -> np.ndarray:
        if not self.choice_dim:
            return hashed_text_features(str(observation), self.dim)
        page = hashed_text_features(str(observation).split(_OPTIONS_HEADER)[0], self.dim)
        slots = np.zeros((self.num_choices, self.choice_dim + 4), dtype=np.float32)
        actions = [str(a) for a in self._info.get("candidate_actions", ())]
        described = self._info.get("candidate_descriptions")
        for i, action in enumerate(actions[: self.num_choices]):
            text = str(described[i]) if described and i < len(described) else action
            words = set(_TOKEN.findall(text.lower()))
            shared = len(words & self._prompt_words)
            slots[i, : self.choice_dim] = hashed_text_features(action, self.choice_dim)
            slots[i, self.choice_dim :] = (
                1.0,
                shared / len(words) if words else 0.0,
                shared / len(self._prompt_words) if self._prompt_words else 0.0,
                min(self._taken.get(action, 0), 3) / 3.0,
            )
        return np.concatenate([page, slots.ravel()])
