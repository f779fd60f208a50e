"""LLM backends: transformers (tiny GPT-2 built here), OpenAI-compatible HTTP, vLLM (GPU only)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

try:  # the stub server's endpoints resolve their `Request` annotation from module globals
    from fastapi import Request
except ImportError:  # pragma: no cover - the server tests skip
    Request = Any  # type: ignore[misc,assignment]

from prm_gym.llm import (
    ContextOverflowError,
    Generation,
    LLMBackend,
    SamplingParams,
    TransformersBackend,
)
from prm_gym.llm._text import cut_at_stop, render_fallback
from prm_gym.llm.tiny import tiny_causal_lm

GREEDY = SamplingParams(max_tokens=12, temperature=0)
PROMPTS: list[Any] = [
    "Step 1: 12 * 3 =",
    [{"role": "user", "content": "What is 2 + 3?"}],
    "Ana has apples and buys more marbles. How many are left? Step",
    "7",
]


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    return TransformersBackend(*tiny_causal_lm())


def test_imports_stay_light() -> None:
    code = (
        "import sys, prm_gym, prm_gym.llm, prm_gym.agents\n"
        "import prm_gym.llm.transformers_backend, prm_gym.llm.openai_backend\n"
        "import prm_gym.llm.vllm_backend, prm_gym.llm.tiny\n"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'openai') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_satisfies_protocol(backend: TransformersBackend) -> None:
    assert isinstance(backend, LLMBackend)
    assert backend.device.type in ("cpu", "cuda")


def test_chat_template_and_fallback(backend: TransformersBackend) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"}]
    assert backend.render(messages) == "<|system|>Be brief.<|end|><|user|>2+3?<|end|><|assistant|>"
    assert backend.render("plain") == "plain"
    assert render_fallback(messages) == "System: Be brief.\nUser: 2+3?\nAssistant:"
    model, tokenizer = backend.model, backend.tokenizer
    saved = tokenizer.chat_template
    try:
        tokenizer.chat_template = None
        assert TransformersBackend(model, tokenizer).render(messages) == render_fallback(messages)
    finally:
        tokenizer.chat_template = saved


def test_batched_greedy_equals_one_by_one(backend: TransformersBackend) -> None:
    batched = backend.generate(PROMPTS, GREEDY)
    assert [len(g) for g in batched] == [1] * len(PROMPTS)
    for prompt, [gen] in zip(PROMPTS, batched, strict=True):
        [[alone]] = backend.generate([prompt], GREEDY)
        assert gen.token_ids == alone.token_ids
        assert gen.text == alone.text
        assert (
            gen.prompt_token_ids == alone.prompt_token_ids == tuple(backend.encode_prompt(prompt))
        )
        assert gen.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
        assert len(gen.logprobs) == len(gen.token_ids) == 12
        assert gen.finish_reason == "length"


def test_greedy_logprobs_match_scoring(backend: TransformersBackend) -> None:
    gens = [g[0] for g in backend.generate(PROMPTS, GREEDY)]
    scored = backend.logprobs(PROMPTS, [g.token_ids for g in gens])
    for gen, lps in zip(gens, scored, strict=True):
        assert lps == pytest.approx(gen.logprobs, abs=1e-4)
        assert sum(lps) == pytest.approx(sum(gen.logprobs), abs=1e-3)
        # Greedy tokens are each step's arg-max, so none is less likely than uniform.
        assert min(gen.logprobs) >= -torch.log(torch.tensor(float(len(backend.tokenizer))))
    # Text continuations score the same when they re-tokenise to the generated ids.
    text = " 12 * 3 = 36"
    ids = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert backend.logprobs(["Step 1:"], [text]) == backend.logprobs(["Step 1:"], [ids])
    with pytest.raises(ValueError, match="one continuation per prompt"):
        backend.logprobs(["a", "b"], ["c"])


def test_stop_strings_cut_at_first_stop(backend: TransformersBackend) -> None:
    params = SamplingParams(max_tokens=24, temperature=0)
    [[full]] = backend.generate([PROMPTS[2]], params)
    # Pick stops that occur in the unstopped greedy text, so the cut is known in advance.
    text = backend.tokenizer.decode(list(full.token_ids), skip_special_tokens=True)
    stops = (text[-2:], text[len(text) // 2 : len(text) // 2 + 2])
    stop = min(stops, key=text.find)  # the one that occurs first
    [[cut]] = backend.generate([PROMPTS[2]], replace(params, stop=stops))
    assert cut.text == text[: text.find(stop)]
    assert cut.finish_reason == "stop"
    assert not any(s in cut.text for s in stops)
    # Token ids run up to the token completing the stop string: a prefix of the full output.
    assert cut.token_ids == full.token_ids[: len(cut.token_ids)]
    assert len(cut.token_ids) < len(full.token_ids)  # generation ended early
    decoded = backend.tokenizer.decode(list(cut.token_ids))
    assert stop in decoded and stop not in backend.tokenizer.decode(list(cut.token_ids[:-1]))
    assert cut.logprobs == pytest.approx(full.logprobs[: len(cut.token_ids)], abs=1e-4)
    # Batched with other prompts, the same row stops the same way.
    batch = backend.generate(PROMPTS, replace(params, stop=(stop,)))
    assert batch[2][0].text == cut.text and batch[2][0].token_ids == cut.token_ids
    assert cut_at_stop("a\nb\nc", ["\n"]) == ("a", "\n", 2)
    assert cut_at_stop("abc", ["x"]) == ("abc", None, 3)


def test_sampling_n_seed_and_global_rng(backend: TransformersBackend) -> None:
    params = SamplingParams(max_tokens=8, temperature=1.0, top_p=0.9, n=3, seed=7)
    state = torch.random.get_rng_state()
    first = backend.generate(PROMPTS[:2], params)
    assert torch.equal(state, torch.random.get_rng_state())  # seeded calls leave it alone
    assert [len(g) for g in first] == [3, 3]
    assert backend.generate(PROMPTS[:2], params) == first
    other = backend.generate(PROMPTS[:2], replace(params, seed=8))
    assert other != first
    texts = {g.text for g in first[0]}
    assert len(texts) > 1  # n samples differ


def test_context_overflow_is_a_clear_error(backend: TransformersBackend) -> None:
    with pytest.raises(ValueError, match="exceeds the model's context"):
        backend.generate(["Step " * 2000], GREEDY)
    # every overflowing prompt of a batch is named, so callers can drop those and go on
    with pytest.raises(ContextOverflowError) as caught:
        backend.generate(["Step 1", "Step " * 2000, "2 + 2", "Step " * 3000], GREEDY)
    assert caught.value.indices == (1, 3)
    with pytest.raises(ContextOverflowError) as caught:
        backend.logprobs(["Step " * 1020], ["1 2 3 4 5 6 7 8 9"])
    assert caught.value.indices == (0,)


def test_save_and_load_from_directory(backend: TransformersBackend, tmp_path: Any) -> None:
    backend.model.save_pretrained(tmp_path)
    backend.tokenizer.save_pretrained(tmp_path)
    loaded = TransformersBackend.from_pretrained(tmp_path, device="cpu")
    assert loaded.generate(PROMPTS, GREEDY) == backend.generate(PROMPTS, GREEDY)
    with pytest.raises(ValueError, match="pass the tokenizer"):
        TransformersBackend(backend.model)


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible server over real HTTP
# ---------------------------------------------------------------------------------------------
class _ServerState:
    def __init__(self, backend: TransformersBackend) -> None:
        self.backend = backend
        self.mode = "ok"
        self.failures_left = 0
        self.requests: list[dict[str, Any]] = []


def _choice_payload(backend: TransformersBackend, gen: Generation, k: int, chat: bool) -> Any:
    tokens = [f"token_id:{t}" for t in gen.token_ids]
    if chat:
        content = [
            {"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
            for t, lp in zip(tokens, gen.logprobs, strict=True)
        ]
        return {
            "index": k,
            "message": {"role": "assistant", "content": gen.text},
            "finish_reason": gen.finish_reason,
            "logprobs": {"content": content},
        }
    return {
        "index": k,
        "text": gen.text,
        "finish_reason": gen.finish_reason,
        "logprobs": {
            "tokens": tokens,
            "token_logprobs": list(gen.logprobs),
            "text_offset": [0] * len(tokens),
            "top_logprobs": None,
        },
    }


def _make_app(state: _ServerState) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    def answer(body: dict[str, Any], chat: bool) -> Any:
        state.requests.append(body)
        if state.mode == "slow":
            time.sleep(1.0)
        if state.mode == "bad":
            return JSONResponse(
                status_code=404,
                content={"error": {"message": f"The model `{body['model']}` does not exist."}},
            )
        if state.failures_left > 0:
            state.failures_left -= 1
            return JSONResponse(status_code=500, content={"error": {"message": "overloaded"}})
        backend = state.backend
        if not chat and body.get("echo"):
            return _echo(backend, body)
        params = SamplingParams(
            max_tokens=body["max_tokens"],
            temperature=body["temperature"],
            top_p=body["top_p"],
            n=body["n"],
            stop=tuple(body.get("stop") or ()),
            seed=body.get("seed"),
        )
        prompt = body["messages"] if chat else body["prompt"]
        try:
            [gens] = backend.generate([prompt], params)
        except ContextOverflowError:  # as vLLM's server words it
            message = "This model's maximum context length is 1024 tokens. Reduce the length."
            return JSONResponse(status_code=400, content={"error": {"message": message}})
        return {
            "id": "cmpl-1",
            "object": "chat.completion" if chat else "text_completion",
            "created": 0,
            "model": body["model"],
            "choices": [_choice_payload(backend, g, k, chat) for k, g in enumerate(gens)],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        return await _in_thread(answer, body, True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        return await _in_thread(answer, body, False)

    return app


async def _in_thread(fn: Any, *args: Any) -> Any:
    import anyio

    return await anyio.to_thread.run_sync(fn, *args)


def _echo(backend: TransformersBackend, body: dict[str, Any]) -> Any:
    enc = backend.tokenizer(body["prompt"], add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], [o[0] for o in enc["offset_mapping"]]
    [lps] = backend.logprobs([backend.tokenizer.decode(ids[:1])], [ids[1:]])
    return {
        "id": "cmpl-echo",
        "object": "text_completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "text": body["prompt"],
                "finish_reason": "length",
                "logprobs": {
                    "tokens": [str(i) for i in ids],
                    "token_logprobs": [None, *lps],
                    "text_offset": offsets,
                    "top_logprobs": None,
                },
            }
        ],
    }


@pytest.fixture(scope="module")
def server(backend: TransformersBackend) -> Iterator[tuple[str, _ServerState]]:
    pytest.importorskip("openai")
    pytest.importorskip("fastapi")
    uvicorn = pytest.importorskip("uvicorn")
    state = _ServerState(backend)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(_make_app(state), log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", state
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def state(server: tuple[str, _ServerState]) -> _ServerState:
    _, st = server
    st.mode, st.failures_left, st.requests = "ok", 0, []
    return st


def _client(server: tuple[str, _ServerState], **kwargs: Any) -> Any:
    from prm_gym.llm import OpenAIBackend

    options = {"timeout": 10.0, "max_retries": 2, "backoff": 0.01}
    return OpenAIBackend("tiny", base_url=server[0], **{**options, **kwargs})


def test_openai_backend_matches_local_generation(
    server: tuple[str, _ServerState], state: _ServerState, backend: TransformersBackend
) -> None:
    client = _client(server)
    assert isinstance(client, LLMBackend)
    params = SamplingParams(max_tokens=10, temperature=0, stop=("\n",))
    remote = client.generate(PROMPTS, params)
    local = backend.generate(PROMPTS, params)
    for r, loc in zip(remote, local, strict=True):
        assert r[0].text == loc[0].text
        assert r[0].token_ids == loc[0].token_ids  # parsed from "token_id:N" tokens
        assert r[0].logprobs == pytest.approx(loc[0].logprobs, abs=1e-4)
        assert r[0].finish_reason == loc[0].finish_reason
    chat_request = next(b for b in state.requests if "messages" in b)
    assert chat_request["stop"] == ["\n"] and chat_request["max_tokens"] == 10
    assert chat_request["temperature"] == 0 and chat_request["logprobs"] is True
    sampled = client.generate(["Step"], SamplingParams(max_tokens=4, n=3, seed=1))
    assert len(sampled[0]) == 3


def test_openai_backend_echo_logprobs(
    server: tuple[str, _ServerState], state: _ServerState, backend: TransformersBackend
) -> None:
    client = _client(server)
    [got] = client.logprobs(["Step 1:"], [" 12 * 3 = 36"])
    [want] = backend.logprobs(["Step 1:"], [" 12 * 3 = 36"])
    assert len(got) == len(want) == 5
    assert got == pytest.approx(want, abs=1e-4)
    assert state.requests[-1]["echo"] is True
    with pytest.raises(TypeError, match="text prompts only"):
        client.logprobs([[{"role": "user", "content": "hi"}]], ["x"])


def test_openai_backend_retries_server_errors(
    server: tuple[str, _ServerState], state: _ServerState
) -> None:
    from prm_gym.llm import OpenAIRequestError

    state.failures_left = 2
    [[gen]] = _client(server, max_retries=2).generate(["Step"], GREEDY)
    assert len(state.requests) == 3 and gen.token_ids
    state.requests, state.failures_left = [], 5
    with pytest.raises(OpenAIRequestError, match="failed after 2 attempts: HTTP 500") as info:
        _client(server, max_retries=1).generate(["Step"], GREEDY)
    assert info.value.status_code == 500 and info.value.attempts == 2
    assert len(state.requests) == 2


def test_openai_backend_context_overflow_names_the_prompts(
    server: tuple[str, _ServerState], state: _ServerState
) -> None:
    from prm_gym.llm import OpenAIContextOverflowError, OpenAIRequestError

    prompts = ["Step", "Step " * 2000, "2 + 2", "Step " * 3000]
    with pytest.raises(ContextOverflowError) as caught:
        _client(server, max_retries=3).generate(prompts, GREEDY)
    assert caught.value.indices == (1, 3)
    assert isinstance(caught.value, OpenAIContextOverflowError)
    assert isinstance(caught.value, OpenAIRequestError) and caught.value.status_code == 400
    assert len(state.requests) == 4  # one request per prompt: the refusals are not retried


def test_openai_backend_client_error_is_not_retried(
    server: tuple[str, _ServerState], state: _ServerState
) -> None:
    from prm_gym.llm import OpenAIRequestError

    state.mode = "bad"
    with pytest.raises(OpenAIRequestError, match=r"HTTP 404: The model `tiny` does not exist"):
        _client(server).generate([[{"role": "user", "content": "hi"}]], GREEDY)
    assert len(state.requests) == 1


def test_openai_backend_timeout(server: tuple[str, _ServerState], state: _ServerState) -> None:
    from prm_gym.llm import OpenAIRequestError

    state.mode = "slow"
    start = time.monotonic()
    with pytest.raises(OpenAIRequestError, match=r"no answer within 0\.2 s") as info:
        _client(server, timeout=0.2, max_retries=1).generate(["Step"], GREEDY)
    assert info.value.attempts == 2 and info.value.status_code is None
    assert time.monotonic() - start < 3


def test_openai_backend_connection_refused() -> None:
    pytest.importorskip("openai")
    from prm_gym.llm import OpenAIBackend, OpenAIRequestError

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0)
    with pytest.raises(OpenAIRequestError, match="connection failed"):
        client.generate(["hi"], GREEDY)


# ---------------------------------------------------------------------------------------------
# vLLM (GPU only)
# ---------------------------------------------------------------------------------------------
def _has_vllm() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _has_vllm(), reason="needs a CUDA GPU and vllm")
def test_vllm_backend_greedy_matches_scoring(backend: TransformersBackend, tmp_path: Any) -> None:
    from prm_gym.llm import VLLMBackend

    backend.model.save_pretrained(tmp_path)
    backend.tokenizer.save_pretrained(tmp_path)
    llm = VLLMBackend(str(tmp_path), gpu_memory_utilization=0.2, enforce_eager=True)
    gens = [g[0] for g in llm.generate(PROMPTS, GREEDY)]
    assert all(len(g.token_ids) == len(g.logprobs) > 0 for g in gens)
    scored = llm.logprobs(PROMPTS, [g.token_ids for g in gens])
    for gen, lps in zip(gens, scored, strict=True):
        assert sum(lps) == pytest.approx(sum(gen.logprobs), abs=1e-2)
    [[cut]] = llm.generate([PROMPTS[0]], SamplingParams(max_tokens=12, temperature=0, stop=(" ",)))
    assert " " not in cut.text


class _OverflowAfter:
    """Writes a valid reward function, then refuses prompts as too long after ``calls`` calls."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.prompts: list[Any] = []

    def generate(self, prompts: Any, params: SamplingParams) -> list[list[Generation]]:
        self.prompts.append(prompts)
        if len(self.prompts) > self.calls:
            raise ContextOverflowError("prompt too long", indices=range(len(prompts)))
        code = '```python\ndef compute_dense_reward(state):\n    return 0.0, {"zero": 0.0}\n```'
        return [[Generation(code) for _ in range(params.n)] for _ in prompts]


def test_reward_code_search_keeps_earlier_rounds_when_the_feedback_overflows() -> None:
    from prm_gym.rewards.reward_code import search_reward_code

    backend = _OverflowAfter(calls=1)
    result = search_reward_code(
        backend, "prm/Reach-v0", rounds=3, candidates=2, evaluate=lambda code: 0.5, max_tokens=8
    )
    assert len(backend.prompts) == 2  # round 2's prompt (with feedback) overflowed: stop there
    assert [r.round for r in result.records] == [0, 0]
    assert result.best is not None and result.best_score == 0.5
    with pytest.raises(ContextOverflowError):  # nothing to search with when round 1 overflows
        search_reward_code(
            _OverflowAfter(calls=0), "prm/Reach-v0", rounds=2, candidates=1, evaluate=lambda c: 0.5
        )
