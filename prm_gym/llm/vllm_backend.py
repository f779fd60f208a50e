"""An LLM backend on an in-process ``vllm.LLM`` engine (GPU).

vLLM is imported when a :class:`VLLMBackend` is built, never when this module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from prm_gym.llm._text import as_messages, is_chat, render_fallback
from prm_gym.llm.base import ContextOverflowError, Generation, Prompt, SamplingParams

__all__ = ["VLLMBackend"]


class VLLMBackend:
    """Batched generation and scoring with vLLM, in this process.

    All prompts of a :meth:`generate` call go to ``LLM.generate`` at once (continuous batching
    does the rest). Chat messages are rendered with the tokenizer's chat template
    (``add_generation_prompt=True``), or the fallback template of
    :func:`prm_gym.llm._text.render_fallback` when the tokenizer has none. Sampling maps to
    ``vllm.SamplingParams`` field for field (``temperature == 0`` is greedy; ``top_k`` is
    off), with ``logprobs=0`` so each generated token's log-prob comes back. As in vLLM, the
    text excludes the stop string and ``token_ids`` keep the tokens up to the one that
    completed it.

    Args:
        model: A model directory / hub id already in the local cache, or a built ``vllm.LLM``.
        seed: Engine seed (per-call seeds come from ``SamplingParams.seed``).
        **llm_kwargs: Passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``,
            ``dtype``, ``tensor_parallel_size``, ...).

    Attributes:
        llm: The ``vllm.LLM`` engine. tokenizer: its tokenizer.
    """

    def __init__(self, model: Any, *, seed: int = 0, **llm_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(
                "VLLMBackend needs vLLM (a CUDA GPU and pip install 'prm-gym[vllm]'); on a CPU "
                "use TransformersBackend, or OpenAIBackend against a remote `vllm serve`"
            ) from exc
        self._vllm = vllm
        if isinstance(model, str | os.PathLike):
            model = vllm.LLM(model=os.fspath(model), seed=seed, **llm_kwargs)
        self.llm = model
        self.tokenizer = self.llm.get_tokenizer()

    def render(self, prompt: Prompt) -> str:
        """The prompt text the model sees (chat messages rendered with the chat template)."""
        if not is_chat(prompt):
            return str(prompt)
        messages = as_messages(prompt)
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        return render_fallback(messages)

    def _encode(self, prompt: Prompt) -> list[int]:
        templated = is_chat(prompt) and bool(getattr(self.tokenizer, "chat_template", None))
        return list(self.tokenizer(self.render(prompt), add_special_tokens=not templated).input_ids)

    def _check_lengths(self, prompt_lengths: Sequence[int]) -> None:
        """Raise :class:`ContextOverflowError` for prompts that leave no room in ``max_model_len``.

        vLLM itself stops a generation at ``max_model_len`` (finish reason ``"length"``), so only
        a prompt that leaves no room for one new token overflows.
        """
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        limit = getattr(config, "max_model_len", None)
        if not isinstance(limit, int):
            return
        over = [i for i, n in enumerate(prompt_lengths) if n >= limit]
        if over:
            raise ContextOverflowError(
                f"prompt {over[0]} of {prompt_lengths[over[0]]} tokens leaves no room in "
                f"max_model_len {limit}; shorten the prompt",
                over,
            )

    def sampling_params(self, params: SamplingParams) -> Any:
        """The ``vllm.SamplingParams`` for ``params``."""
        return self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=-1,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=0,
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        """For each prompt, ``params.n`` generations, in prompt order."""
        if isinstance(prompts, str):
            raise TypeError("generate() takes a sequence of prompts; wrap a single prompt: [p]")
        if not prompts:
            return []
        requests = [{"prompt_token_ids": self._encode(p)} for p in prompts]
        self._check_lengths([len(r["prompt_token_ids"]) for r in requests])
        outputs = self.llm.generate(requests, self.sampling_params(params), use_tqdm=False)
        result: list[list[Generation]] = []
        for request in outputs:
            gens = []
            for out in sorted(request.outputs, key=lambda o: o.index):
                ids = tuple(int(t) for t in out.token_ids)
                lps: tuple[float, ...] = ()
                if out.logprobs is not None:
                    lps = tuple(
                        float(step[token].logprob)
                        for token, step in zip(ids, out.logprobs, strict=False)
                    )
                finish = "length" if out.finish_reason == "length" else "stop"
                gens.append(
                    Generation(
                        text=out.text,
                        token_ids=ids,
                        logprobs=lps,
                        finish_reason=finish,
                        prompt_token_ids=tuple(request.prompt_token_ids or ()),
                    )
                )
            result.append(gens)
        return result

    def logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str | Sequence[int]]
    ) -> list[list[float]]:
        """Per-token log-probs of each continuation (text or token ids) given its prompt."""
        if len(prompts) != len(continuations):
            raise ValueError(
                f"logprobs() needs one continuation per prompt, got {len(prompts)} prompts and "
                f"{len(continuations)} continuations"
            )
        requests = []
        lengths = []
        for prompt, cont in zip(prompts, continuations, strict=True):
            if isinstance(cont, str):
                c_ids = list(self.tokenizer(cont, add_special_tokens=False).input_ids)
            else:
                c_ids = [int(t) for t in cont]
            requests.append({"prompt_token_ids": self._encode(prompt) + c_ids})
            lengths.append(len(c_ids))
        scoring = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate(requests, scoring, use_tqdm=False)
        result = []
        for request, length, out in zip(requests, lengths, outputs, strict=True):
            ids = request["prompt_token_ids"]
            start = len(ids) - length
            tail = zip(ids[start:], out.prompt_logprobs[start:], strict=True)
            result.append([float(step[token].logprob) for token, step in tail])
        return result
