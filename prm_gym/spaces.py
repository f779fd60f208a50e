"""Spaces for text environments.

Gymnasium's own :class:`gymnasium.spaces.Text` only admits strings over a fixed character set
(alphanumerics by default), which rejects ordinary model output such as ``"3 × 4 = 12"`` or
``"\\boxed{\\frac{1}{2}}"``. :class:`Text` here admits *any* Unicode string up to ``max_length``.
"""

from __future__ import annotations

from typing import Any

from gymnasium.spaces import Space

__all__ = ["Chat", "Text"]

# Characters drawn by ``sample()``: printable ASCII, a few maths symbols and some non-Latin
# letters, so sampled actions exercise Unicode handling without producing unprintable text.
_SAMPLE_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
    "+-*/=().,:;!?'\"\\{}[]<>%$#@&_^|~\n"
    "×÷−≤≥≠πΣ√∞éüßñçøåαβγδλμ中文字ありがとう"
)


class Text(Space[str]):
    """Any Unicode string of length ``min_length`` to ``max_length`` (inclusive).

    Example:
        >>> from prm_gym.spaces import Text
        >>> space = Text(max_length=16, seed=0)
        >>> "3 × 4 = 12" in space
        True
        >>> "x" * 17 in space
        False
        >>> len(space.sample()) <= 16
        True
    """

    def __init__(
        self, max_length: int = 4096, *, min_length: int = 0, seed: int | None = None
    ) -> None:
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        if not isinstance(min_length, int) or not 0 <= min_length <= max_length:
            raise ValueError(f"min_length must be an int in [0, max_length], got {min_length!r}")
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string of printable characters (ASCII, maths symbols, non-Latin letters).

        Lengths are uniform in ``[max(min_length, 1), min(max_length, 64)]`` so that samples are
        short enough to be useful as smoke-test actions.
        """
        if mask is not None or probability is not None:
            raise NotImplementedError("Text.sample() does not support mask or probability")
        low = max(self.min_length, 1)
        high = max(low, min(self.max_length, 64))
        length = int(self.np_random.integers(low, high + 1))
        idx = self.np_random.integers(0, len(_SAMPLE_ALPHABET), size=length)
        return "".join(_SAMPLE_ALPHABET[i] for i in idx)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"Text(min_length={self.min_length}, max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Text)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((Text, self.min_length, self.max_length))

    def to_jsonable(self, sample_n: Any) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[str]) -> list[str]:
        return list(sample_n)


CHAT_ROLES = ("system", "user", "assistant", "tool")


class Chat(Space[list[dict[str, str]]]):
    """An OpenAI-style message list: ``[{"role": ..., "content": str}, ...]``.

    ``role`` is one of ``system``, ``user``, ``assistant``, ``tool``; each ``content`` is any
    Unicode string up to ``max_length`` characters. Observations are plain lists, so they can go
    straight to ``tokenizer.apply_chat_template`` or an OpenAI-compatible client.

    Example:
        >>> from prm_gym.spaces import Chat
        >>> [{"role": "user", "content": "2 + 2?"}] in Chat(max_length=100)
        True
        >>> [{"role": "robot", "content": "hi"}] in Chat(max_length=100)
        False
    """

    def __init__(self, max_length: int = 16384, *, seed: int | None = None) -> None:
        self.content = Text(max_length)
        self.max_length = max_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> int | list[int] | dict[str, int]:
        seeds = super().seed(seed)
        self.content.seed(int(self.np_random.integers(0, 2**31 - 1)))
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        """One ``user`` message followed by alternating ``assistant``/``user`` turns."""
        n = 1 + 2 * int(self.np_random.integers(0, 2))
        return [
            {"role": "user" if i % 2 == 0 else "assistant", "content": self.content.sample()}
            for i in range(n)
        ]

    def contains(self, x: Any) -> bool:
        return isinstance(x, list) and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and m["role"] in CHAT_ROLES
            and m["content"] in self.content
            for m in x
        )

    def __repr__(self) -> str:
        return f"Chat(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Chat) and self.max_length == other.max_length

    def __hash__(self) -> int:
        return hash((Chat, self.max_length))
