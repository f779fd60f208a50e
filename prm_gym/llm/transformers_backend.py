"""An LLM backend on Hugging Face ``transformers``: CPU-testable, batched, with log-probs.

torch and transformers are imported when a :class:`TransformersBackend` is built, never when this
module is imported.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Any

from prm_gym.llm._text import as_messages, cut_at_stop, is_chat, render_fallback
from prm_gym.llm.base import ContextOverflowError, Generation, Prompt, SamplingParams

__all__ = ["TransformersBackend"]


def _require_llm_extra() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "TransformersBackend needs torch and transformers: pip install 'prm-gym[llm]'"
        ) from exc
    return torch, transformers


class TransformersBackend:
    """Batched generation and scoring with a ``transformers`` causal LM.

    Prompts are plain text or chat messages. Messages are rendered with the tokenizer's chat
    template (``add_generation_prompt=True``); a tokenizer without one gets the documented
    fallback of :func:`prm_gym.llm._text.render_fallback` (``"User: ...\\nAssistant:"``). Prompts
    are left-padded into one batch and decoded with ``model.generate`` (KV cache; position ids
    follow the attention mask, so a padded prompt decodes exactly as it would alone).

    Generation semantics (shared with the other backends):

    * ``temperature == 0`` is greedy; otherwise multinomial sampling with ``temperature`` and
      ``top_p`` (no top-k, no repetition penalty: the model's own ``generation_config`` sampling
      defaults are overridden so all backends sample the same distribution).
    * ``stop`` strings: ``text`` is cut before the first stop string. ``token_ids`` and
      ``logprobs`` keep the generated tokens up to and including the token that completed the
      stop string (or the end-of-sequence token), i.e. exactly what the model chose before it
      stopped, as vLLM reports them. A sequence stops as soon as it has written a stop string,
      and decoding ends when every sequence has stopped.
    * ``logprobs`` are the model's own log-probabilities (temperature 1, before ``top_p``) of the
      generated tokens, the quantity policy-gradient trainers need; :meth:`logprobs` computes
      the same numbers for given continuations.
    * ``seed`` makes sampling reproducible for a given batch, without touching the global RNG.

    Args:
        model: A local model directory (``save_pretrained`` output; no downloads are attempted
            here, but a hub id works if the cache already holds it) or a built
            ``PreTrainedModel``.
        tokenizer: The tokenizer (required with a built model; loaded from ``model`` otherwise).
        device: ``"cuda"``, ``"cpu"``, ... ``None`` (auto): a model loaded from a path goes to
            CUDA when available, else CPU; a built model stays where it is.
        dtype: torch dtype for loading from a path (``"auto"`` = as saved).
        max_batch_size: Rows (prompts x ``n``) per ``generate`` call; ``None`` = all at once.
        chat_template: Overrides the tokenizer's chat template.
        trust_remote_code: Passed to ``from_pretrained``.

    Attributes:
        model, tokenizer: The Hugging Face objects (public: trainers update the weights in place).
        device: Where inputs are placed.

    Example:
        >>> from prm_gym.llm import SamplingParams, TransformersBackend
        >>> from prm_gym.llm.tiny import tiny_causal_lm
        >>> backend = TransformersBackend(*tiny_causal_lm())
        >>> [[gen]] = backend.generate(["Step 1:"], SamplingParams(max_tokens=5, temperature=0))
        >>> len(gen.token_ids) == len(gen.logprobs) <= 5
        True
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        dtype: Any = "auto",
        max_batch_size: int | None = None,
        chat_template: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        torch, transformers = _require_llm_extra()
        self._torch = torch
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1 or None, got {max_batch_size}")
        if isinstance(model, str | os.PathLike):
            path = os.fspath(model)
            if tokenizer is None:
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    path, trust_remote_code=trust_remote_code
                )
            major = int(transformers.__version__.split(".")[0])
            dtype_key = "dtype" if major >= 5 else "torch_dtype"
            model = transformers.AutoModelForCausalLM.from_pretrained(
                path, trust_remote_code=trust_remote_code, **{dtype_key: dtype}
            )
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        elif tokenizer is None:
            raise ValueError(
                "TransformersBackend(model, tokenizer): pass the tokenizer with a built model, "
                "or pass a model directory to load both"
            )
        if device is not None:
            model = model.to(device)
        model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.max_batch_size = max_batch_size
        if chat_template is not None:
            tokenizer.chat_template = chat_template
        self.eos_token_ids = self._eos_ids()
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = min(self.eos_token_ids) if self.eos_token_ids else 0
        self.pad_token_id: int = int(pad)
        config = model.config
        self.max_length: int | None = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        self._takes_position_ids = "position_ids" in inspect.signature(model.forward).parameters

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], **kwargs: Any) -> TransformersBackend:
        """Load model and tokenizer from a local directory (``TransformersBackend(path)``)."""
        return cls(path, **kwargs)

    # -- prompts ----------------------------------------------------------------------------
    def _eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        generation_config = getattr(self.model, "generation_config", None)
        for source in (
            getattr(generation_config, "eos_token_id", None),
            self.tokenizer.eos_token_id,
        ):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, list | tuple):
                ids.update(int(i) for i in source)
        return frozenset(ids)

    def render(self, prompt: Prompt) -> str:
        """The prompt text the model sees (chat messages rendered with the chat template)."""
        if not is_chat(prompt):
            return str(prompt)
        messages = as_messages(prompt)
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return str(text)
        return render_fallback(messages)

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """Token ids of the rendered prompt (special tokens as the template writes them)."""
        templated = is_chat(prompt) and bool(getattr(self.tokenizer, "chat_template", None))
        # A chat template writes its own BOS; tokenising its output must not add a second one.
        encoded = self.tokenizer(self.render(prompt), add_special_tokens=not templated)
        return list(encoded["input_ids"])

    def _check_lengths(self, lengths: Sequence[tuple[int, int]]) -> None:
        """Raise :class:`ContextOverflowError` naming every (prompt, new tokens) that overflows."""
        if self.max_length is None:
            return
        over = [i for i, (p, n) in enumerate(lengths) if p + n > self.max_length]
        if over:
            prompt_len, new_tokens = lengths[over[0]]
            which = f"prompt {over[0]}" if len(lengths) > 1 else "the prompt"
            more = f" (and {len(over) - 1} more)" if len(over) > 1 else ""
            raise ContextOverflowError(
                f"{which}{more}: {prompt_len} tokens + {new_tokens} new tokens exceeds the "
                f"model's context of {self.max_length} tokens; shorten the prompt (fewer env "
                "steps, e.g. a smaller max_steps, or a shorter system prompt) or lower max_tokens",
                over,
            )

    def _pad_left(self, rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        torch = self._torch
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
                mask[i, width - len(row) :] = 1
        return ids.to(self.device), mask.to(self.device)

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        if seed is None:
            yield
            return
        torch = self._torch
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    # -- generation -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        """For each prompt, ``params.n`` generations, in prompt order (see the class docs)."""
        if isinstance(prompts, str):
            raise TypeError("generate() takes a sequence of prompts; wrap a single prompt: [p]")
        if not prompts:
            return []
        encoded = [self.encode_prompt(p) for p in prompts]
        self._check_lengths([(len(ids), params.max_tokens) for ids in encoded])
        rows = [ids for ids in encoded for _ in range(params.n)]
        size = self.max_batch_size or len(rows)
        flat: list[Generation] = []
        with self._torch.inference_mode(), self._seeded(params.seed):
            for start in range(0, len(rows), size):
                flat.extend(self._generate_rows(rows[start : start + size], params))
        return [flat[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    def _generation_config(self, params: SamplingParams) -> Any:
        from transformers import GenerationConfig

        sample = params.temperature > 0
        # Every sampling knob is set explicitly: transformers fills unset (None) values from the
        # model's generation_config, which may carry top_k / repetition penalties.
        return GenerationConfig(
            max_new_tokens=params.max_tokens,
            min_length=0,
            do_sample=sample,
            num_beams=1,
            num_return_sequences=1,
            temperature=params.temperature if sample else 1.0,
            top_p=params.top_p if sample else 1.0,
            top_k=0 if sample else None,
            min_p=0.0 if sample else None,
            typical_p=1.0,
            epsilon_cutoff=0.0,
            eta_cutoff=0.0,
            repetition_penalty=1.0,
            encoder_repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            use_cache=True,
            pad_token_id=self.pad_token_id,
            eos_token_id=sorted(self.eos_token_ids) or None,
            output_logits=True,
            return_dict_in_generate=True,
        )

    def _generate_rows(
        self, rows: Sequence[Sequence[int]], params: SamplingParams
    ) -> list[Generation]:
        torch = self._torch
        input_ids, attention_mask = self._pad_left(rows)
        width = input_ids.shape[1]
        stopping = _stop_string_criteria(self.tokenizer, params.stop, width)
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=self._generation_config(params),
            stopping_criteria=stopping,
        )
        new_tokens = out.sequences[:, width:]
        logprobs = torch.zeros(new_tokens.shape, dtype=torch.float32, device=new_tokens.device)
        for t, step_logits in enumerate(out.logits):
            step = torch.log_softmax(step_logits.float(), dim=-1)
            logprobs[:, t] = step.gather(-1, new_tokens[:, t : t + 1]).squeeze(-1)
        del out
        token_rows = new_tokens.tolist()
        logprob_rows = logprobs.tolist()
        return [
            self._finish(list(prompt), tokens, lps, params.stop)
            for prompt, tokens, lps in zip(rows, token_rows, logprob_rows, strict=True)
        ]

    def _decode(self, tokens: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(tokens), skip_special_tokens=True))

    def _finish(
        self, prompt: list[int], tokens: list[int], lps: list[float], stops: Sequence[str]
    ) -> Generation:
        finish = "length"
        for k, token in enumerate(tokens):
            if token in self.eos_token_ids:
                tokens, lps, finish = tokens[: k + 1], lps[: k + 1], "stop"
                break
        text = self._decode(tokens)
        kept, matched, end = cut_at_stop(text, stops)
        if matched is not None:
            # Keep the tokens up to the one that completed the stop string.
            lo, hi = 1, len(tokens)
            while lo < hi:
                mid = (lo + hi) // 2
                if len(self._decode(tokens[:mid])) >= end:
                    hi = mid
                else:
                    lo = mid + 1
            tokens, lps, finish = tokens[:lo], lps[:lo], "stop"
        return Generation(
            text=kept,
            token_ids=tuple(tokens),
            logprobs=tuple(lps),
            finish_reason=finish,
            prompt_token_ids=tuple(prompt),
        )

    # -- scoring ----------------------------------------------------------------------------
    def logprobs(
        self,
        prompts: Sequence[Prompt],
        continuations: Sequence[str | Sequence[int]],
    ) -> list[list[float]]:
        """Per-token log-probabilities of each continuation given its prompt.

        A continuation is text (tokenised on its own and appended to the prompt's tokens, the
        boundary generation uses) or the token ids themselves, e.g. ``Generation.token_ids``,
        which reproduces a generation's ``logprobs`` exactly up to float rounding.
        """
        if len(prompts) != len(continuations):
            raise ValueError(
                f"logprobs() needs one continuation per prompt, got {len(prompts)} prompts and "
                f"{len(continuations)} continuations"
            )
        torch = self._torch
        pairs: list[tuple[list[int], list[int]]] = []
        for prompt, cont in zip(prompts, continuations, strict=True):
            p_ids = self.encode_prompt(prompt)
            if isinstance(cont, str):
                c_ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"])
            else:
                c_ids = [int(t) for t in cont]
            if not p_ids:
                raise ValueError("logprobs() needs a non-empty prompt to condition on")
            pairs.append((p_ids, c_ids))
        self._check_lengths([(len(p), len(c)) for p, c in pairs])
        size = self.max_batch_size or len(pairs) or 1
        out: list[list[float]] = []
        with torch.inference_mode():
            for start in range(0, len(pairs), size):
                out.extend(self._score_rows(pairs[start : start + size]))
        return out

    def _score_rows(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[list[float]]:
        torch = self._torch
        input_ids, attention_mask = self._pad_left([p + c for p, c in pairs])
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self._takes_position_ids:
            kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(**kwargs).logits
        width = input_ids.shape[1]
        result: list[list[float]] = []
        for i, (_, c_ids) in enumerate(pairs):
            if not c_ids:
                result.append([])
                continue
            # logits at position j predict token j + 1; the continuation fills the last columns.
            rows = logits[i, width - len(c_ids) - 1 : width - 1].float()
            targets = input_ids[i, width - len(c_ids) :]
            lp = torch.log_softmax(rows, dim=-1).gather(-1, targets[:, None]).squeeze(-1)
            result.append([float(x) for x in lp.tolist()])
        return result


def _stop_string_criteria(tokenizer: Any, stops: Sequence[str], prompt_width: int) -> Any:
    """A ``StoppingCriteriaList`` that ends each row once its new text holds a stop string."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    stops = tuple(s for s in stops if s)
    if not stops:
        return StoppingCriteriaList()
    # A stop string of L characters is spread over at most L tokens (plus partial bytes), so
    # decoding a short window of new tokens suffices to spot it without re-decoding everything.
    window = max(len(s) for s in stops) + 4

    class _StopStrings(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            new = input_ids[:, prompt_width:]
            tail = new[:, -window:].tolist()
            done = [
                any(s in tokenizer.decode(row, skip_special_tokens=True) for s in stops)
                for row in tail
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_StopStrings()])
