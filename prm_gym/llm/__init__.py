"""LLM backends shared by agents and learned rewards. Heavy libraries load lazily.

* :class:`TransformersBackend` (``prm_gym.llm.transformers_backend``): Hugging Face models, CPU or
  GPU, batched with left padding; extra ``[llm]``.
* :class:`VLLMBackend` (``prm_gym.llm.vllm_backend``): an in-process ``vllm.LLM``; extra ``[vllm]``.
* :class:`OpenAIBackend` (``prm_gym.llm.openai_backend``): any OpenAI-compatible server (e.g.
  ``vllm serve``); extra ``[openai]``.

All implement :class:`LLMBackend`. ``import prm_gym.llm`` imports neither torch nor transformers:
the backend classes are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prm_gym.llm.base import ContextOverflowError, Generation, LLMBackend, Prompt, SamplingParams

if TYPE_CHECKING:
    from prm_gym.llm.openai_backend import (
        OpenAIBackend,
        OpenAIContextOverflowError,
        OpenAIRequestError,
    )
    from prm_gym.llm.transformers_backend import TransformersBackend
    from prm_gym.llm.vllm_backend import VLLMBackend

__all__ = [
    "ContextOverflowError",
    "Generation",
    "LLMBackend",
    "OpenAIBackend",
    "OpenAIContextOverflowError",
    "OpenAIRequestError",
    "Prompt",
    "SamplingParams",
    "TransformersBackend",
    "VLLMBackend",
]

_LAZY = {
    "OpenAIBackend": "prm_gym.llm.openai_backend",
    "OpenAIContextOverflowError": "prm_gym.llm.openai_backend",
    "OpenAIRequestError": "prm_gym.llm.openai_backend",
    "TransformersBackend": "prm_gym.llm.transformers_backend",
    "VLLMBackend": "prm_gym.llm.vllm_backend",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
