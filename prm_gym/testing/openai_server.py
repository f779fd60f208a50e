"""A small OpenAI-compatible HTTP server on 127.0.0.1, for testing trainer integrations offline.

Trainer stacks that talk to a model over HTTP (verifiers / prime-rl, OpenAI-client evaluation
loops) need an endpoint. :class:`OpenAICompatibleServer` serves ``POST /v1/chat/completions``
and ``POST /v1/completions`` (and ``GET /v1/models``) from a local policy, with no network
beyond the loopback interface and no downloads:

* a :class:`~prm_gym.llm.LLMBackend` (e.g. ``TransformersBackend(*tiny_causal_lm())``): the
  request's ``max_tokens`` / ``max_completion_tokens``, ``temperature``, ``top_p``, ``n``,
  ``stop`` and ``seed`` become :class:`~prm_gym.llm.SamplingParams`, and each choice carries the
  generated text, its finish reason and its token log-probabilities;
* or any callable ``respond(prompt, body)`` (a scripted policy, :data:`Responder`): ``prompt``
  is the request's chat messages (each ``content`` flattened to text) or its completion prompt;
  it returns the reply text, or a message with ``tool_calls`` to script a tool-calling model.

Tool definitions in a request are not interpreted (a backend's reply is plain text). Requests
are served on threads; generation is serialised with a lock. A malformed request gets a 400 with an
OpenAI-style ``{"error": {"message": ...}}`` body, a prompt over the model's context a 400 worded
as vLLM words it, and any other failure a 500 with the exception's message.

Example:
    >>> from openai import OpenAI
    >>> from prm_gym.testing.openai_server import OpenAICompatibleServer
    >>> with OpenAICompatibleServer(lambda prompt, body: "\\\\boxed{4}") as server:
    ...     client = OpenAI(base_url=server.base_url, api_key="none")
    ...     reply = client.chat.completions.create(
    ...         model="tiny", messages=[{"role": "user", "content": "2 + 2?"}]
    ...     )
    >>> reply.choices[0].message.content
    '\\\\boxed{4}'
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAICompatibleServer", "Responder"]

Responder = Callable[[Any, Mapping[str, Any]], "str | Mapping[str, Any]"]
"""A scripted policy: ``(chat messages or completion prompt, request body) -> reply``, the reply
being the text, or a message ``{"content": str | None, "tool_calls": [{"name": str,
"arguments": dict | str}, ...]}`` (chat only; each call gets an id)."""


_MAX_BODY = 64 * 2**20  # bytes of one request body


class _BadRequest(ValueError):
    pass


def _text(content: Any) -> str:
    """A message's ``content`` as text: a string, a list of parts (their ``text``) or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
            for part in content
        )
    return str(content)


def _messages(body: Mapping[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty list of chat messages")
    out = []
    for message in messages:
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise _BadRequest(f"each message needs a string 'role', got {message!r}")
        out.append({"role": str(message["role"]), "content": _text(message.get("content"))})
    return out


# (content, tool_calls, finish_reason, token_ids, logprobs) of one choice
_Choice = tuple[
    str | None, list[dict[str, Any]] | None, str, tuple[int, ...], tuple[float, ...] | None
]


def _scripted(reply: Any, k: int) -> _Choice:
    """A responder's reply as a choice: text, or a message with ``tool_calls``."""
    if isinstance(reply, str):
        return reply, None, "stop", (), None
    if not isinstance(reply, Mapping):
        raise TypeError(f"a responder returns a string or a message dict, got {reply!r}")
    calls = []
    for i, call in enumerate(reply.get("tool_calls") or []):
        arguments = call.get("arguments", {})
        calls.append(
            {
                "id": f"call_{k}_{i}",
                "type": "function",
                "function": {
                    "name": str(call["name"]),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    content = reply.get("content")
    return (
        None if content is None else str(content),
        calls or None,
        "tool_calls" if calls else "stop",
        (),
        None,
    )


class OpenAICompatibleServer:
    """Serves a local policy as an OpenAI-compatible endpoint on a background thread.

    Args:
        policy: An :class:`~prm_gym.llm.LLMBackend` (anything with ``generate(prompts,
            params)``) or a :data:`Responder` callable.
        model: The model name reported in responses and by ``GET /v1/models``.
        host: Interface to bind (``"127.0.0.1"``: loopback only).
        port: Port (0 = a free one; read :attr:`port` / :attr:`base_url` after :meth:`start`).
        default_max_tokens: Tokens per reply when a request names no limit.

    Attributes:
        requests: Every request body received, in order (for tests).
        base_url: ``http://host:port/v1``, the ``base_url`` of an ``openai`` client.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        policy: Any,
        *,
        model: str = "tiny",
        host: str = "127.0.0.1",
        port: int = 0,
        default_max_tokens: int = 64,
    ) -> None:
        if not (callable(policy) or hasattr(policy, "generate")):
            raise TypeError(
                "policy must be an LLMBackend (with generate(prompts, params)) or a callable "
                f"respond(prompt, body) -> str, got {type(policy).__name__}"
            )
        if default_max_tokens < 1:
            raise ValueError(f"default_max_tokens must be >= 1, got {default_max_tokens}")
        self.policy = policy
        self.model = model
        self.host = host
        self.default_max_tokens = default_max_tokens
        self.requests: list[dict[str, Any]] = []
        self._port = port
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running: call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> OpenAICompatibleServer:
        """Bind and serve on a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((self.host, self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="openai-compatible-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd, self._thread = None, None

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------
    # Request handling (called from the handler threads)
    # ------------------------------------------------------------------------------------

    def complete(self, body: Mapping[str, Any], chat: bool) -> dict[str, Any]:
        """The response body of one (chat) completion request."""
        self.requests.append(dict(body))
        prompt: Any = _messages(body) if chat else body.get("prompt")
        if not chat and not isinstance(prompt, str):
            raise _BadRequest("'prompt' must be a string")
        try:
            n = int(body.get("n") or 1)
        except (TypeError, ValueError) as exc:
            raise _BadRequest(f"'n' must be an integer, got {body.get('n')!r}") from exc
        if not 1 <= n <= 64:
            raise _BadRequest(f"'n' must be between 1 and 64, got {n}")
        with self._lock:
            choices = self._choices(prompt, body, n)
        payloads = []
        for k, (text, tool_calls, finish, token_ids, logprobs) in enumerate(choices):
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if tool_calls:
                    message["tool_calls"] = tool_calls
                choice: dict[str, Any] = {"index": k, "message": message, "finish_reason": finish}
                if logprobs is not None:
                    choice["logprobs"] = {
                        "content": [
                            {
                                "token": f"token_id:{t}",
                                "logprob": lp,
                                "bytes": None,
                                "top_logprobs": [],
                            }
                            for t, lp in zip(token_ids, logprobs, strict=True)
                        ]
                    }
            else:
                choice = {"index": k, "text": text, "finish_reason": finish, "logprobs": None}
            payloads.append(choice)
        completion_tokens = sum(len(c[3]) for c in choices)
        return {
            "id": f"cmpl-{len(self.requests)}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.model),
            "choices": payloads,
            "usage": {
                "prompt_tokens": 0,
                "completion_tokens": completion_tokens,
                "total_tokens": completion_tokens,
            },
        }

    def _choices(self, prompt: Any, body: Mapping[str, Any], n: int) -> list[_Choice]:
        if not hasattr(self.policy, "generate"):
            return [_scripted(self.policy(prompt, body), k) for k in range(n)]
        from prm_gym.llm import SamplingParams

        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        stop = body.get("stop") or ()
        temperature = body.get("temperature")
        top_p = body.get("top_p")
        try:
            params = SamplingParams(
                max_tokens=int(limit) if limit else self.default_max_tokens,
                temperature=1.0 if temperature is None else float(temperature),
                top_p=1.0 if top_p is None else float(top_p),
                n=n,
                stop=(stop,) if isinstance(stop, str) else tuple(str(s) for s in stop),
                seed=None if body.get("seed") is None else int(body["seed"]),
            )
        except (TypeError, ValueError) as exc:
            raise _BadRequest(f"bad sampling parameters: {exc}") from exc
        [generations] = self.policy.generate([prompt], params)
        return [
            (str(g.text), None, str(g.finish_reason), tuple(g.token_ids), tuple(g.logprobs))
            for g in generations
        ]


def _make_handler(server: OpenAICompatibleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(
                    200, {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                )
            else:
                self._error(404, f"no route GET {self.path}")

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= _MAX_BODY:
                self.close_connection = True
                self._error(400, f"Content-Length must be between 0 and {_MAX_BODY} bytes")
                return
            raw = self.rfile.read(length) if length > 0 else b""
            path = self.path.split("?", 1)[0].rstrip("/")
            if path not in ("/v1/chat/completions", "/v1/completions"):
                self._error(404, f"no route POST {self.path}")
                return
            try:
                body = json.loads(raw or b"null")
                if not isinstance(body, dict):
                    raise _BadRequest("the request body must be a JSON object")
                if body.get("stream"):
                    raise _BadRequest("streaming is not supported by this test server")
                payload = server.complete(body, chat=path.endswith("chat/completions"))
            except (json.JSONDecodeError, _BadRequest) as exc:
                self._error(400, str(exc))
                return
            except Exception as exc:
                from prm_gym.llm import ContextOverflowError

                if isinstance(exc, ContextOverflowError):
                    self._error(400, f"This model's maximum context length is exceeded: {exc}")
                else:
                    self._error(500, f"{type(exc).__name__}: {exc}")
                return
            self._send(200, payload)

    return Handler
