"""An LLM backend for any OpenAI-compatible server (``vllm serve``, TGI, llama.cpp, OpenAI).

The ``openai`` client is imported when an :class:`OpenAIBackend` is built.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from prm_gym.llm._text import as_messages, cut_at_stop, is_chat
from prm_gym.llm.base import ContextOverflowError, Generation, Prompt, SamplingParams

__all__ = ["OpenAIBackend", "OpenAIRequestError"]

_T = TypeVar("_T")

#: Client errors worth retrying: request timeout and rate limiting. Other 4xx fail at once.
_RETRYABLE_4XX = frozenset({408, 429})


class OpenAIRequestError(RuntimeError):
    """A request to the OpenAI-compatible server failed for good.

    Attributes:
        status_code: The HTTP status (``None`` for connection errors and timeouts).
        attempts: How many times the request was tried.
    """

    def __init__(self, message: str, status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class OpenAIContextOverflowError(ContextOverflowError, OpenAIRequestError):
    """The server refused prompts as longer than the model's context (HTTP 400).

    Both a :class:`~prm_gym.llm.ContextOverflowError` (``indices``: the refused prompts of the
    ``generate`` call, so :class:`~prm_gym.agents.LLMAgent` can end those episodes and go on)
    and an :class:`OpenAIRequestError` (``status_code``, ``attempts``).
    """

    def __init__(
        self,
        message: str,
        indices: Sequence[int] = (),
        status_code: int | None = 400,
        attempts: int = 1,
    ) -> None:
        Exception.__init__(self, message)
        self.indices = tuple(int(i) for i in indices)
        self.status_code = status_code
        self.attempts = attempts


#: How OpenAI and vLLM servers word a prompt that does not fit the context.
_CONTEXT_MESSAGE = re.compile(
    r"maximum context length|context_length_exceeded|context window|longer than the maximum",
    re.IGNORECASE,
)


class OpenAIBackend:
    """Generation through an OpenAI-compatible HTTP server.

    Chat prompts (message lists) go to ``/v1/chat/completions``, text prompts to
    ``/v1/completions``; each prompt is one request asking for ``params.n`` choices, and up to
    ``max_concurrency`` requests run at once. ``stop``, ``temperature`` (0 = greedy),
    ``top_p``, ``max_tokens`` and ``seed`` map to the request fields of the same name. The
    server cuts at stop strings; the text is cut again client-side in case it does not.

    Log-probs are requested (``logprobs``) and returned when the server sends them; token ids are
    returned only when the server sends them as tokens of the form ``"token_id:123"`` (vLLM's
    ``--return-tokens-as-token-ids``), else ``Generation.token_ids`` is empty.

    Failures: connection errors, timeouts, 5xx, 408 and 429 are retried ``max_retries`` times
    with exponential backoff (``backoff * 2**k`` seconds, jittered, capped at ``max_backoff``);
    other 4xx raise :class:`OpenAIRequestError` at once with the server's message (a wrong model
    name, an over-long prompt, an unsupported field).

    Args:
        model: Model name as the server knows it (``vllm serve MODEL`` serves ``MODEL``).
        base_url: Server URL including ``/v1``, e.g. ``"http://127.0.0.1:8000/v1"``.
        api_key: Key for servers that check one (local servers accept any; default ``"EMPTY"``).
        timeout: Seconds allowed per request.
        max_retries: Retries after the first attempt for retryable failures.
        backoff, max_backoff: Backoff schedule in seconds.
        max_concurrency: Requests in flight at once.
        request_logprobs: Ask the server for log-probs (turn off for servers that reject it).
        extra_body: Extra JSON fields for every request (e.g. vLLM's ``{"top_k": -1}``).
        client: A ready ``openai.OpenAI`` client (``base_url``/``api_key``/``timeout`` ignored).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_concurrency: int = 8,
        request_logprobs: bool = True,
        extra_body: dict[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "OpenAIBackend needs the openai client: pip install 'prm-gym[openai]'"
            ) from exc
        self._openai = openai
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_concurrency = max_concurrency
        self.request_logprobs = request_logprobs
        self.extra_body = dict(extra_body or {})
        # Retries are ours (we decide what is retryable and report attempts), so the client's
        # own retry loop is switched off.
        self.client = client or openai.OpenAI(
            base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=0
        )

    # -- requests ---------------------------------------------------------------------------
    def _call(self, request: Callable[[], _T], what: str) -> _T:
        openai = self._openai
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return request()
            except openai.APIStatusError as exc:
                status = exc.status_code
                message = _server_message(exc)
                if status == 400 and _CONTEXT_MESSAGE.search(message):
                    raise OpenAIContextOverflowError(
                        f"{what} does not fit the model's context (HTTP 400: {message})",
                        attempts=attempt,
                    ) from exc
                if status < 500 and status not in _RETRYABLE_4XX:
                    raise OpenAIRequestError(
                        f"{what} was rejected by the server at {self._where()} with HTTP "
                        f"{status}: {message}. Check the model name ({self.model!r}), the prompt "
                        "length and the sampling fields; this error is not retried.",
                        status_code=status,
                        attempts=attempt,
                    ) from exc
                failure = f"HTTP {status}: {message}"
                last: tuple[str, int | None, BaseException] = (failure, status, exc)
            except openai.APITimeoutError as exc:
                last = (f"no answer within {self.timeout:g} s", None, exc)
            except openai.APIConnectionError as exc:
                last = (f"connection failed ({exc})", None, exc)
            if attempt < attempts:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random() / 2))
        failure, status, cause = last
        raise OpenAIRequestError(
            f"{what} to {self._where()} failed after {attempts} attempts: {failure}. Is the "
            "server running and healthy? Raise timeout= or max_retries= for slow servers.",
            status_code=status,
            attempts=attempts,
        ) from cause

    def _where(self) -> str:
        return str(self.base_url or getattr(self.client, "base_url", "the server"))

    def _sampling_fields(self, params: SamplingParams) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "model": self.model,
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            fields["stop"] = list(params.stop)
        if params.seed is not None:
            fields["seed"] = params.seed
        if self.extra_body:
            fields["extra_body"] = dict(self.extra_body)
        return fields

    def _generate_one(self, prompt: Prompt, params: SamplingParams) -> list[Generation]:
        fields = self._sampling_fields(params)
        if is_chat(prompt):
            messages = as_messages(prompt)
            if self.request_logprobs:
                fields["logprobs"] = True
            response = self._call(
                lambda: self.client.chat.completions.create(messages=cast(Any, messages), **fields),
                "chat completion request",
            )
            return [_from_chat_choice(c, params.stop) for c in _ordered(response.choices)]
        if self.request_logprobs:
            fields["logprobs"] = 1
        response = self._call(
            lambda: self.client.completions.create(prompt=str(prompt), **fields),
            "completion request",
        )
        return [_from_text_choice(c, params.stop) for c in _ordered(response.choices)]

    def _map(self, fn: Callable[[Any], _T], items: Sequence[Any]) -> list[_T]:
        if len(items) <= 1 or self.max_concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    # -- protocol ---------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        """For each prompt, ``params.n`` generations, in prompt order."""
        if isinstance(prompts, str):
            raise TypeError("generate() takes a sequence of prompts; wrap a single prompt: [p]")

        def one(prompt: Prompt) -> list[Generation] | OpenAIContextOverflowError:
            try:
                return self._generate_one(prompt, params)
            except OpenAIContextOverflowError as exc:
                return exc

        results = self._map(one, list(prompts))
        refused = [i for i, r in enumerate(results) if isinstance(r, OpenAIContextOverflowError)]
        if refused:
            first = results[refused[0]]
            raise OpenAIContextOverflowError(
                f"{len(refused)} of {len(results)} prompts (first: prompt {refused[0]}): {first}",
                refused,
            )
        return [r for r in results if not isinstance(r, OpenAIContextOverflowError)]

    def logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[list[float]]:
        """Per-token log-probs of each continuation, via ``/v1/completions`` with ``echo``.

        Works with servers that support ``echo=True`` with ``logprobs`` (vLLM does; OpenAI's
        hosted models do not). Only text prompts: render chat messages with the model's chat
        template first.
        """
        if len(prompts) != len(continuations):
            raise ValueError(
                f"logprobs() needs one continuation per prompt, got {len(prompts)} prompts and "
                f"{len(continuations)} continuations"
            )
        if any(is_chat(p) for p in prompts):
            raise TypeError(
                "OpenAIBackend.logprobs() takes text prompts only (chat endpoints cannot echo "
                "the prompt); render the messages with the model's chat template first"
            )
        return self._map(
            lambda pc: self._score_one(str(pc[0]), pc[1]),
            list(zip(prompts, continuations, strict=True)),
        )

    def _score_one(self, prompt: str, continuation: str) -> list[float]:
        fields: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt + continuation,
            "echo": True,
            "logprobs": 0,
            "max_tokens": 1,
            "temperature": 0.0,
        }
        if self.extra_body:
            fields["extra_body"] = dict(self.extra_body)
        response = self._call(
            lambda: self.client.completions.create(**fields), "log-prob (echo) request"
        )
        logprobs = response.choices[0].logprobs
        if logprobs is None or logprobs.text_offset is None:
            raise OpenAIRequestError(
                f"the server at {self._where()} returned no echoed log-probs; it must support "
                "completions with echo=True and logprobs (vLLM does)"
            )
        start = len(prompt)
        end = len(prompt) + len(continuation)
        out = []
        for offset, value in zip(logprobs.text_offset, logprobs.token_logprobs, strict=False):
            if start <= offset < end and value is not None:
                out.append(float(value))
        return out


def _ordered(choices: Sequence[Any]) -> list[Any]:
    return sorted(choices, key=lambda c: getattr(c, "index", 0) or 0)


def _finish_reason(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


def _token_ids(tokens: Sequence[str]) -> tuple[int, ...]:
    """Token ids when the server sends tokens as ``"token_id:123"``, else ``()``."""
    ids = []
    for token in tokens:
        if not token.startswith("token_id:"):
            return ()
        try:
            ids.append(int(token[len("token_id:") :]))
        except ValueError:
            return ()
    return tuple(ids)


def _from_chat_choice(choice: Any, stops: Sequence[str]) -> Generation:
    text, _, _ = cut_at_stop(choice.message.content or "", stops)
    lps: tuple[float, ...] = ()
    ids: tuple[int, ...] = ()
    content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
    if content:
        lps = tuple(float(t.logprob) for t in content)
        ids = _token_ids([t.token for t in content])
    return Generation(text, ids, lps, _finish_reason(choice.finish_reason))


def _from_text_choice(choice: Any, stops: Sequence[str]) -> Generation:
    text, _, _ = cut_at_stop(choice.text or "", stops)
    lps: tuple[float, ...] = ()
    ids: tuple[int, ...] = ()
    if choice.logprobs is not None and choice.logprobs.token_logprobs:
        lps = tuple(float(v) for v in choice.logprobs.token_logprobs if v is not None)
        ids = _token_ids(list(choice.logprobs.tokens or []))
    return Generation(text, ids, lps, _finish_reason(choice.finish_reason))


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if isinstance(error, str):
            return error
        detail = body.get("detail")
        if detail:
            return str(detail)
    return str(getattr(exc, "message", exc))
