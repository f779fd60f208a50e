"""LLM backends shared by agents and learned rewards. Heavy libraries load lazily."""

from prm_gym.llm.base import Generation, LLMBackend, Prompt, SamplingParams

__all__ = ["Generation", "LLMBackend", "Prompt", "SamplingParams"]
