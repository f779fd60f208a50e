"""prm_gym.integrations.verifiers: rollouts with verifiers' own loop against a local
OpenAI-compatible server (prm_gym.testing.openai_server) on 127.0.0.1, serving a tiny GPT-2 built
in-test or a scripted policy; each rollout's reward must equal the prm-gym env's return for the
same actions replayed locally.

The server tests run everywhere; the verifiers tests skip without ``verifiers>=0.3.1,<0.4``
(``pip install 'prm-gym[verifiers]'``)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import pytest

import prm_gym
from prm_gym.integrations._episode import reset_options_from
from prm_gym.testing.openai_server import OpenAICompatibleServer

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _vf() -> Any:
    vf = pytest.importorskip(
        "verifiers", reason="needs verifiers: pip install 'prm-gym[verifiers]'"
    )
    if getattr(vf, "MultiTurnEnv", None) is None:
        pytest.skip("verifiers >= 0.4 has no classic MultiTurnEnv API")
    return vf


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, Mapping) else message.content
    return content if isinstance(content, str) else ""


def _role(message: Any) -> str:
    return str(message.get("role") if isinstance(message, Mapping) else message.role)


def _replay(env_id: str, info: Mapping[str, Any], actions: list[str]) -> tuple[float, dict]:
    """The dense return and per-component sums of ``actions`` played in a fresh local env."""
    env = prm_gym.make_dense(env_id)
    env.reset(options=reset_options_from(info))
    total, components = 0.0, {}
    for action in actions:
        _, reward, terminated, truncated, step_info = env.step(action)
        total += float(reward)
        for name, value in step_info["reward_components"].items():
            components[name] = components.get(name, 0.0) + float(value)
        if terminated or truncated:
            break
    env.close()
    return total, components


def _evaluate(env: Any, policy: Any, **kwargs: Any) -> tuple[list[dict], OpenAICompatibleServer]:
    from openai import AsyncOpenAI

    vf = _vf()
    with OpenAICompatibleServer(policy) as server:
        client = vf.OpenAIChatCompletionsClient(
            AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        )
        results = env.evaluate_sync(client, "tiny", **kwargs)
    return list(results["outputs"]), server


def _gold_policy(env_id: str, dataset: Any) -> Any:
    """A scripted policy that writes each task's gold steps, one per turn."""
    probe = gym.make(env_id)
    gold = {}
    for row in dataset:
        probe.reset(options=reset_options_from(row["info"]))
        gold[row["prompt"][-1]["content"]] = list(probe.unwrapped.task.metadata["gold_steps"])
    probe.close()

    def respond(messages: list[dict[str, str]], body: Mapping[str, Any]) -> str:
        task = next(m["content"] for m in messages if m["role"] == "user")
        turn = sum(m["role"] == "assistant" for m in messages)
        steps = gold[task]
        return steps[turn] if turn < len(steps) else "\\boxed{0}"

    return respond


def _weights(env: Any) -> dict[str, float]:
    """Each rubric function's weight (the env's rubric is a RubricGroup with verifiers' own
    num_turns metric)."""
    rubrics = getattr(env.rubric, "rubrics", [env.rubric])
    return {f.__name__: w for r in rubrics for f, w in zip(r.funcs, r.weights, strict=True)}


def _check_against_replay(env_id: str, output: Mapping[str, Any]) -> float:
    actions = [_text(m) for m in output["completion"] if _role(m) == "assistant"]
    assert actions, "the rollout took no model turn"
    expected, components = _replay(env_id, output["info"], actions)
    assert output["reward"] == pytest.approx(expected, abs=1e-9)
    assert output["metrics"]["env_return"] == pytest.approx(expected, abs=1e-9)
    for name, value in components.items():
        assert output["metrics"][name] == pytest.approx(value, abs=1e-9)
    return expected


# ---------------------------------------------------------------------------------------------
# The OpenAI-compatible test server (no verifiers needed)
# ---------------------------------------------------------------------------------------------


def _post(url: str, payload: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=payload, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_answers_openai_clients_and_rejects_bad_requests() -> None:
    openai = pytest.importorskip("openai")
    seen: list[Any] = []

    def respond(prompt: Any, body: Mapping[str, Any]) -> str:
        seen.append(prompt)
        return "reply"

    with OpenAICompatibleServer(respond, model="m") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        chat = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            n=2,
        )
        assert [c.message.content for c in chat.choices] == ["reply", "reply"]
        completion = client.completions.create(model="m", prompt="Step 1:")
        assert completion.choices[0].text == "reply"
        assert seen[0] == [{"role": "user", "content": "hi"}] and seen[-1] == "Step 1:"
        assert [m.id for m in client.models.list()] == ["m"]
        url = server.base_url + "/chat/completions"
        status, body = _post(url, b"{not json")
        assert status == 400 and "error" in body
        status, body = _post(url, json.dumps({"model": "m", "messages": []}).encode())
        assert status == 400 and "messages" in body["error"]["message"]
        status, body = _post(server.base_url + "/embeddings", b"{}")
        assert status == 404
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("POST", "/v1/chat/completions")
        connection.putheader("Content-Length", "lots")
        connection.endheaders()
        assert connection.getresponse().status == 400
        connection.close()
    with pytest.raises(TypeError, match="policy"):
        OpenAICompatibleServer(42)


def test_server_serves_a_tiny_model_with_sampling_parameters() -> None:
    openai = pytest.importorskip("openai")
    pytest.importorskip("transformers")
    from prm_gym.llm import SamplingParams, TransformersBackend
    from prm_gym.llm.tiny import tiny_causal_lm

    backend = TransformersBackend(*tiny_causal_lm())
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    [[local]] = backend.generate([messages], SamplingParams(max_tokens=8, temperature=0))
    with OpenAICompatibleServer(backend) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        reply = client.chat.completions.create(
            model="tiny", messages=messages, max_tokens=8, temperature=0, logprobs=True
        )
        assert reply.choices[0].message.content == local.text
        assert len(reply.choices[0].logprobs.content) == len(local.token_ids)
        status, body = _post(
            server.base_url + "/chat/completions",
            json.dumps({"model": "tiny", "messages": messages, "temperature": -1}).encode(),
        )
        assert status == 400 and "temperature" in body["error"]["message"]


# ---------------------------------------------------------------------------------------------
# verifiers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_backend() -> Iterator[Any]:
    pytest.importorskip("transformers")
    from prm_gym.llm import TransformersBackend
    from prm_gym.llm.tiny import tiny_causal_lm

    yield TransformersBackend(*tiny_causal_lm())


def test_tiny_model_rollouts_with_verifiers_loop_score_the_env_return(tiny_backend: Any) -> None:
    """The must-show: verifiers' own evaluate loop, a tiny GPT-2 behind the local server, and
    the rubric's reward equal to the env's return for the same actions (groups of 2)."""
    _vf()
    from prm_gym.integrations.verifiers import load_environment

    env = load_environment("prm/Math-v0", num_examples=2, num_eval_examples=2, max_turns=4)
    outputs, server = _evaluate(
        env,
        tiny_backend,
        num_examples=2,
        rollouts_per_example=2,
        sampling_args={"max_tokens": 12, "temperature": 1.0, "seed": 0},
    )
    assert len(outputs) == 4
    assert server.requests, "verifiers never called the server"
    assert all(r["max_completion_tokens"] == 12 for r in server.requests)
    for output in outputs:
        assert output["error"] is None
        assert output["stop_condition"] in ("max_turns_reached", "episode_over")
        _check_against_replay("prm/Math-v0", output)
        turns = [m for m in output["completion"] if _role(m) == "assistant"]
        assert output["metrics"]["num_turns"] == len(turns) <= 4


def test_gold_policy_solves_math_through_verifiers() -> None:
    vf = _vf()
    env = vf.load_environment(  # verifiers' own loader, by module name
        "prm_gym.integrations.verifiers",
        prm_env_id="prm/Math-v0",
        num_examples=3,
        num_eval_examples=0,
    )
    assert type(env).__name__ == "PrmGymMultiTurnEnv"
    assert _weights(env) == {"env_return": 1.0, "outcome": 0.0, "progress": 0.0, "num_turns": 0.0}
    dataset = env.get_dataset()
    assert len(dataset) == 3 and set(dataset[0]["info"]) == {"task_id", "task_seed", "task_index"}
    # Each row's prompt is its task's reset observation.
    probe = gym.make("prm/Math-v0")
    for row in dataset:
        obs, _ = probe.reset(options=reset_options_from(row["info"]))
        assert row["prompt"][-1]["content"] == obs
    outputs, _ = _evaluate(
        env,
        _gold_policy("prm/Math-v0", dataset),
        num_examples=3,
        state_columns=["prm_gym", "trajectory"],
    )
    for output in outputs:
        assert output["stop_condition"] == "episode_over"
        assert output["metrics"]["outcome"] == 1.0
        expected = _check_against_replay("prm/Math-v0", output)
        assert expected > 1.0  # outcome plus the progress terms
        summary = output["prm_gym"]
        assert summary["done"] and summary["reward"] == pytest.approx(expected)
        turns = [step["extras"]["prm_gym"]["reward"] for step in output["trajectory"]]
        assert sum(turns) == pytest.approx(expected)
        assert _text(output["completion"][-1]).endswith("[The episode is over.]")


def test_invalid_actions_get_the_envs_error_and_penalty() -> None:
    _vf()
    from prm_gym.integrations.verifiers import load_environment

    env = load_environment("prm/SQL-v0", num_examples=1, num_eval_examples=0)
    outputs, _ = _evaluate(env, lambda prompt, body: "SELECT 1", num_examples=1)
    [output] = outputs
    replies = [_text(m) for m in output["completion"] if _role(m) == "user"]
    assert replies and all("Invalid action" in r for r in replies)
    assert output["stop_condition"] == "episode_over"  # the env's step limit ended it
    assert _check_against_replay("prm/SQL-v0", output) <= 0.0


def test_max_turns_still_steps_the_last_turn_and_outcome_only_mode() -> None:
    _vf()
    from prm_gym.integrations.verifiers import load_environment

    env = load_environment("prm/Math-v0", num_examples=1, num_eval_examples=0, max_turns=1)
    outputs, _ = _evaluate(
        env,
        _gold_policy("prm/Math-v0", env.get_dataset()),
        num_examples=1,
        state_columns=["prm_gym"],
    )
    [output] = outputs
    assert output["stop_condition"] == "max_turns_reached"
    assert len(output["prm_gym"]["actions"]) == 1 and not output["prm_gym"]["done"]
    assert _check_against_replay("prm/Math-v0", output) > 0.0  # the one step's progress

    sparse = load_environment("prm/Math-v0", dense=False, num_examples=1, num_eval_examples=0)
    assert _weights(sparse) == {"env_return": 1.0, "outcome": 0.0, "num_turns": 0.0}
    outputs, _ = _evaluate(
        sparse, _gold_policy("prm/Math-v0", sparse.get_dataset()), num_examples=1
    )
    assert outputs[0]["reward"] == 1.0 == outputs[0]["metrics"]["outcome"]


def test_bad_arguments_are_clear_errors() -> None:
    _vf()
    from prm_gym.integrations.verifiers import load_environment

    with pytest.raises(ValueError, match="num_examples"):
        load_environment("prm/Math-v0", num_examples=0)
    with pytest.raises(ValueError, match="max_turns"):
        load_environment("prm/Math-v0", max_turns=0)


def test_env_server_mode_rebuilds_the_env_in_worker_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prime-rl runs environments behind verifiers' env server (spawned worker processes that
    rebuild the env from env_id / env_args): the rollouts there score the same."""
    vf = _vf()
    import asyncio

    from prm_gym.integrations.verifiers import load_environment

    monkeypatch.setenv("PRM_GYM_TEST_KEY", "none")
    env = load_environment("prm/Math-v0", num_examples=2, num_eval_examples=0, max_turns=3)
    assert env.env_id == "prm_gym.integrations.verifiers"
    assert env.env_args["prm_env_id"] == "prm/Math-v0" and env.env_args["max_turns"] == 3
    policy = _gold_policy("prm/Math-v0", env.get_dataset())

    async def run(base_url: str) -> Any:
        await env.start_server(startup_timeout=120.0)
        try:
            config = vf.ClientConfig(api_base_url=base_url, api_key_var="PRM_GYM_TEST_KEY")
            return await env.evaluate(config, "tiny", num_examples=2)
        finally:
            await env.stop_server()

    with OpenAICompatibleServer(policy) as server:
        results = asyncio.run(run(server.base_url))
    outputs = results["outputs"]
    assert len(outputs) == 2 and len(server.requests) == 6  # 3 turns each, in the workers
    for output in outputs:
        assert output["error"] is None and output["stop_condition"] == "max_turns_reached"
        assert _check_against_replay("prm/Math-v0", output) > 0.0


# ---------------------------------------------------------------------------------------------
# Tool mode (vf.StatefulToolEnv)
# ---------------------------------------------------------------------------------------------


def _tool_calls(output: Mapping[str, Any]) -> list[tuple[str, dict]]:
    calls = []
    for message in output["completion"]:
        if _role(message) != "assistant":
            continue
        raw = message.get("tool_calls") if isinstance(message, Mapping) else message.tool_calls
        for call in raw or []:  # verifiers' outputs hold each call as a JSON string
            parsed = json.loads(call) if isinstance(call, str) else call
            if not isinstance(parsed, Mapping):
                parsed = parsed.model_dump()
            calls.append((parsed["name"], json.loads(parsed["arguments"])))
    return calls


def _replay_tools(env_id: str, info: Mapping[str, Any], calls: list[tuple[str, dict]]) -> Any:
    """The same tool calls on a fresh TRL environment_factory instance (an independent path)."""
    from prm_gym.integrations.trl import environment_factory

    instance = environment_factory(env_id)()
    instance.reset(**info)
    for name, arguments in calls:
        method = getattr(instance, name, None)
        if method is None or instance.done:
            continue
        try:
            method(**arguments)
        except TypeError:  # bad arguments: verifiers reports them, the env never sees them
            continue
    return instance


def test_tool_mode_plays_tooluse_through_tool_calls() -> None:
    _vf()
    from prm_gym.integrations.verifiers import TOOLS_SYSTEM_PROMPT, load_environment

    env = load_environment("prm/ToolUse-v0", tools=True, num_examples=2, num_eval_examples=0)
    names = {tool.name for tool in env.tool_defs}
    assert {"calculator", "convert_units", "answer"} <= names
    assert all("episode" not in tool.parameters.get("properties", {}) for tool in env.tool_defs)
    dataset = env.get_dataset()
    assert dataset[0]["prompt"][0] == {"role": "system", "content": TOOLS_SYSTEM_PROMPT}
    probe = gym.make("prm/ToolUse-v0")
    gold = {}
    for row in dataset:
        probe.reset(options=reset_options_from(row["info"]))
        gold[row["prompt"][-1]["content"]] = probe.unwrapped.task.answer

    def respond(messages: list[dict[str, str]], body: Mapping[str, Any]) -> Any:
        assert {t["function"]["name"] for t in body["tools"]} == names
        task = gold[next(m["content"] for m in messages if m["role"] == "user")]
        turn = sum(m["role"] == "assistant" for m in messages)
        if turn == 0:  # a bad call first: an unknown tool and a call with a wrong argument
            return {
                "content": None,
                "tool_calls": [
                    {"name": "fly", "arguments": {}},
                    {"name": "calculator", "arguments": {"formula": "1"}},
                ],
            }
        calls = task["calls"]
        if turn - 1 < len(calls):
            call = calls[turn - 1]
            return {"tool_calls": [{"name": call["name"], "arguments": call["parameters"]}]}
        return {"tool_calls": [{"name": "answer", "arguments": {"answer": str(task["answer"])}}]}

    outputs, _ = _evaluate(env, respond, num_examples=2, state_columns=["prm_gym"])
    for output in outputs:
        assert output["error"] is None and output["stop_condition"] == "episode_over"
        tool_replies = [_text(m) for m in output["completion"] if _role(m) == "tool"]
        assert "fly" in tool_replies[0] and "formula" in tool_replies[1]
        assert output["metrics"]["outcome"] == 1.0
        replay = _replay_tools("prm/ToolUse-v0", output["info"], _tool_calls(output))
        assert replay.done
        assert output["reward"] == pytest.approx(replay.get_reward(), abs=1e-9)
        for name, value in replay.reward_components.items():
            assert output["metrics"][name] == pytest.approx(value, abs=1e-9)
        assert output["prm_gym"]["actions"] == replay.actions
        assert sum(output["prm_gym"]["rewards"]) == pytest.approx(output["reward"])


def test_a_row_naming_an_unknown_task_is_a_rollout_error_not_a_crash() -> None:
    vf = _vf()
    from openai import AsyncOpenAI

    from prm_gym.integrations.verifiers import load_environment

    env = load_environment("prm/Math-v0", num_examples=1, num_eval_examples=0)
    good = env.get_dataset()[0]
    bad = {"prompt": good["prompt"], "example_id": 1, "info": {"task_id": "no-such-task"}}
    with OpenAICompatibleServer(lambda prompt, body: "\\boxed{1}") as server:
        client = vf.OpenAIChatCompletionsClient(
            AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        )
        results = env.generate_sync([dict(good), bad], client, model="tiny")
    ok, failed = results["outputs"]
    assert ok["error"] is None and failed["stop_condition"] == "has_error"
    assert "no-such-task" in failed["error"]["message"] and failed["reward"] == 0.0
    assert len(server.requests) == 1  # the bad row never reached the model
