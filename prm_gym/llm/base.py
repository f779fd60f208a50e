"""The backend protocol every LLM backend implements (DESIGN §7).

Agents (``prm_gym.agents``) and learned scorers (``prm_gym.rewards``) talk to models only through
this protocol, so a transformers model on CPU, an in-process vLLM engine and an OpenAI-compatible
server are interchangeable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias, runtime_checkable

__all__ = ["ContextOverflowError", "Generation", "LLMBackend", "Prompt", "SamplingParams"]

#: A prompt is plain text, or OpenAI-style chat messages that the backend renders with the
#: model's chat template.
Prompt: TypeAlias = str | Sequence[Mapping[str, str]]


class ContextOverflowError(ValueError):
    """A prompt plus the tokens to generate does not fit the model's context window.

    Backends raise it from ``generate``/``logprobs`` before generating anything. ``indices``
    lists the positions (in the call's ``prompts``) of every prompt that does not fit, so a
    caller can drop those and retry the rest (:class:`~prm_gym.agents.LLMAgent` does, ending
    those episodes as truncated); it is empty when the backend cannot tell which prompt it was.
    A ``ValueError`` subclass, so code that caught ``ValueError`` keeps working.
    """

    def __init__(self, message: str, indices: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.indices: tuple[int, ...] = tuple(int(i) for i in indices)


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")


@dataclass(frozen=True)
class Generation:
    """One sampled continuation.

    Attributes:
        text: The generated text, cut before the first stop string (the stop string excluded).
        token_ids: The generated token ids (after the cut, when the backend can map it).
        logprobs: Log-probability of each generated token under the sampling model.
        finish_reason: ``"stop"`` (stop string or end-of-sequence) or ``"length"``.
        prompt_token_ids: The prompt's token ids as the model saw them (after templating).
    """

    text: str
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()
    finish_reason: str = "stop"
    prompt_token_ids: tuple[int, ...] = field(default=(), repr=False)


@runtime_checkable
class LLMBackend(Protocol):
    """Batched generation and scoring."""

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        """For each prompt, ``params.n`` generations, in prompt order."""
        ...

    def logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[list[float]]:
        """Per-token log-probabilities of each ``continuation`` given its prompt (implicit PRMs)."""
        ...
