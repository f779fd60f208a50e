"""Spaces for text environments.

Gymnasium's own :class:`gymnasium.spaces.Text` only admits strings over a fixed character set
(alphanumerics by default), which rejects ordinary model output such as ``"3 × 4 = 12"`` or
``"\\boxed{\\frac{1}{2}}"``. :class:`Text` here admits *any* Unicode string up to ``max_length``.

Vector envs: :class:`Text` registers shared-memory support with Gymnasium's
``create_shared_memory`` / ``read_from_shared_memory`` / ``write_to_shared_memory``, so
``gym.make_vec(id, num_envs, vectorization_mode="async")`` works on the text envs as they are
(each sub-env's observation travels as a length and ``max_length`` int32 code points, so lone
surrogates and NUL survive). :class:`Chat` observations have no fixed size: an async vector env
of a ``ChatObservation``-wrapped env needs ``vector_kwargs={"shared_memory": False}`` (a clear
``TypeError`` says so otherwise).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from collections.abc import Sequence as SequenceABC
from types import ModuleType
from typing import Any, overload

import numpy as np
from gymnasium.spaces import Space
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

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


# -- shared memory for AsyncVectorEnv -----------------------------------------------------------
# Layout per sub-env: one int32 holding the string's length, then max_length int32 code points.
@create_shared_memory.register(Text)
def _create_text_shared_memory(space: Text, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


class SharedTextBatch(SequenceABC[str]):
    """The sub-envs' text observations, decoded from shared memory when read.

    Gymnasium's ``AsyncVectorEnv`` reads its shared observation buffer once and relies on the
    result being a live view (as NumPy arrays are). Strings cannot be views, so this sequence
    decodes ``shared_memory`` on every access; ``copy.deepcopy`` (which the vector env applies
    unless ``copy=False``) turns it into a plain ``tuple`` of ``str``, as a sync vector env
    returns.
    """

    def __init__(self, space: Text, shared_memory: Any, n: int) -> None:
        self._space = space
        self._memory = shared_memory
        self._n = n

    def _rows(self) -> np.ndarray:
        data = np.frombuffer(self._memory.get_obj(), dtype=np.int32)
        return data.reshape(self._n, self._space.max_length + 1)

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        row = self._rows()[index]
        return row[1 : 1 + int(row[0])].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SequenceABC) and not isinstance(other, str):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> tuple[str, ...]:
        return tuple(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (tuple(self),))

    def __repr__(self) -> str:
        return f"SharedTextBatch({tuple(self)!r})"


@read_from_shared_memory.register(Text)
def _read_text_from_shared_memory(space: Text, shared_memory: Any, n: int = 1) -> SharedTextBatch:
    return SharedTextBatch(space, shared_memory, n)


@write_to_shared_memory.register(Text)
def _write_text_to_shared_memory(space: Text, index: int, value: str, shared_memory: Any) -> None:
    if not isinstance(value, str) or len(value) > space.max_length:
        got = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise ValueError(
            f"a {space!r} observation must be a str of at most {space.max_length} characters; "
            f"got {got}"
        )
    size = space.max_length + 1
    row = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)[index * size : (index + 1) * size]
    codes = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    row[0] = len(codes)
    row[1 : 1 + len(codes)] = codes.astype(np.int32)


@create_shared_memory.register(Chat)
def _create_chat_shared_memory(space: Chat, n: int = 1, ctx: ModuleType = mp) -> Any:
    raise TypeError(
        f"{space!r} observations (message lists) have no fixed size, so they cannot go in shared "
        "memory: make the async vector env with vector_kwargs={'shared_memory': False}, e.g. "
        "gym.make_vec(id, n, vectorization_mode='async', wrappers=[ChatObservation], "
        "vector_kwargs={'shared_memory': False})"
    )
