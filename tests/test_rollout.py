"""LLMAgent, rollout() over single and vector envs, token-level rewards, `prm-gym rollout`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from _scripted import ADDITIONS, addition_step, generation
from gymnasium.vector import AutoresetMode

import prm_gym
from prm_gym.agents import (
    LLMAgent,
    rollout,
    step_token_counts,
    token_level_rewards,
    trajectory_to_dict,
)
from prm_gym.llm import Generation, Prompt, SamplingParams
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers.vector import VectorProcessReward


class ScriptedBackend:
    """Solves "What is A + B?" in two steps: ``Step 1: A + B = C`` then ``\\boxed{C}``.

    Records every ``generate`` call, to check batching and the histories the agent sends.
    """

    def __init__(self) -> None:
        self.calls: list[list[list[dict[str, str]]]] = []

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        self.calls.append([list(p) for p in prompts])  # type: ignore[arg-type]
        return [
            [generation(addition_step(messages, wrong_when_odd=False) + "\n")]
            for messages in prompts
        ]

    def logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[list[float]]:
        return [[-0.1] for _ in prompts]


def _check_components(traj: Any) -> None:
    for reward, info in zip(traj.rewards, traj.infos, strict=True):
        comps = info["reward_components"]
        assert set(comps) == {"outcome", "process"}
        assert reward == pytest.approx(sum(comps.values()))


def test_vector_rollout_scripted_solves_every_task() -> None:
    envs = gym.make_vec("prm/Math-v0", num_envs=4, vectorization_mode="sync", tasks=ADDITIONS)
    envs = VectorProcessReward(envs, RuleVerifier(), coef=0.1)
    backend = ScriptedBackend()
    trajs = rollout(envs, LLMAgent(backend), episodes=7, seed=0, progress=False)
    assert len(trajs) == 7
    for traj in trajs:
        a, b = map(int, re.findall(r"\d+", traj.prompt)[:2])
        assert traj.actions == [f"Step 1: {a} + {b} = {a + b}", f"\\boxed{{{a + b}}}"]
        assert traj.terminated and not traj.truncated and traj.outcome == 1.0
        assert traj.task_id.startswith("add-")
        _check_components(traj)
        assert traj.infos[0]["reward_components"]["process"] == pytest.approx(0.1)
        assert step_token_counts(traj) == [7, 1]  # one "token" per word
        assert isinstance(traj.infos[0]["action_valid"], bool)  # NumPy values made plain
    # One generate call per vector step, never more prompts than sub-envs, and none for the
    # NEXT_STEP reset steps: 7 two-step episodes on 4 envs take 6 steps (2 + reset + 2 + ...).
    assert all(1 <= len(call) <= 4 for call in backend.calls)
    assert sum(len(call) for call in backend.calls) == 14
    # Every history is one episode: the first message is always that episode's prompt alone.
    for call in backend.calls:
        for messages in call:
            assert [m["role"] for m in messages] in (["user"], ["user", "assistant", "user"])
            assert messages[0]["content"].startswith("What is")


def test_same_step_autoreset() -> None:
    envs = gym.make_vec(
        "prm/Math-v0",
        num_envs=3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        tasks=ADDITIONS,
    )
    envs = VectorProcessReward(envs, RuleVerifier(), coef=0.1)
    trajs = rollout(envs, LLMAgent(ScriptedBackend()), episodes=5, seed=1, progress=False)
    assert len(trajs) == 5
    for traj in trajs:
        assert traj.outcome == 1.0 and len(traj.actions) == 2
        assert traj.observations[-1].startswith("Final answer")
        assert "reward_components" in traj.infos[-1]


def test_disabled_autoreset_is_rejected() -> None:
    envs = gym.make_vec(
        "prm/Math-v0",
        num_envs=2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED},
    )
    with pytest.raises(ValueError, match="NEXT_STEP"):
        rollout(envs, LLMAgent(ScriptedBackend()), episodes=2, progress=False)


def test_single_env_rollout_and_act() -> None:
    env = gym.make("prm/Math-v0", tasks=ADDITIONS)
    trajs = rollout(env, LLMAgent(ScriptedBackend()), episodes=3, seed=0, progress=False)
    assert [t.outcome for t in trajs] == [1.0, 1.0, 1.0]
    agent = LLMAgent(ScriptedBackend(), system_prompt="Be exact.")
    obs, _ = env.reset(seed=0)
    agent.reset()
    assert agent.act(obs).startswith("Step 1:")
    assert [m["role"] for m in agent.history()] == ["system", "user", "assistant"]


def test_agent_stop_strings_per_env() -> None:
    agent = LLMAgent(ScriptedBackend(), SamplingParams(stop=("###",)))
    assert agent.stop == ("###", "\n")
    agent.reset(2, env_id="prm/Math-v0")
    assert agent.sampling.stop == ("###", "\n")
    assert LLMAgent(ScriptedBackend(), step_stop="</step>").stop == ("</step>",)
    with pytest.raises(ValueError, match="n must be 1"):
        LLMAgent(ScriptedBackend(), SamplingParams(n=2))


def test_token_level_rewards() -> None:
    per_step = token_level_rewards([0.5, 0.0, 1.0], [2, 1, 3])
    assert [r.tolist() for r in per_step] == [[0.0, 0.5], [0.0], [0.0, 0.0, 1.0]]
    flat = np.concatenate(per_step)
    assert flat.sum() == pytest.approx(1.5) and len(flat) == 6
    with pytest.raises(ValueError, match="token counts"):
        token_level_rewards([1.0], [1, 2])
    with pytest.raises(ValueError, match="at least one token"):
        token_level_rewards([1.0], [0])


# ---------------------------------------------------------------------------------------------
# with a tiny real model
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    pytest.importorskip("transformers")
    from prm_gym.llm.tiny import tiny_causal_lm

    return tiny_causal_lm()


def test_tiny_model_vector_rollout_histories_replay(tiny: tuple[Any, Any]) -> None:
    from prm_gym.llm import TransformersBackend

    backend = TransformersBackend(*tiny)
    params = SamplingParams(max_tokens=8, temperature=0)
    envs = gym.make_vec("prm/Math-v0", num_envs=4, vectorization_mode="sync", max_steps=3)
    envs = VectorProcessReward(envs, RuleVerifier())
    trajs = rollout(envs, LLMAgent(backend, params), episodes=6, seed=0, progress=False)
    assert len(trajs) == 6 and len({t.task_id for t in trajs}) == 6
    for traj in trajs:
        assert 1 <= len(traj.actions) <= 3 and (traj.terminated or traj.truncated)
        _check_components(traj)
        counts = step_token_counts(traj)
        assert all(1 <= c <= 8 for c in counts)
        tokens = np.concatenate(token_level_rewards(traj.rewards, counts))
        assert tokens.sum() == pytest.approx(traj.total_reward) and len(tokens) == sum(counts)
        json.dumps(trajectory_to_dict(traj))
    # Greedy actions depend only on the episode's own history: replaying each trajectory alone
    # (batch of one, its own messages) reproduces every action, across autoresets.
    for traj in trajs[3:]:
        messages = [{"role": "user", "content": traj.prompt}]
        for action, observation in zip(traj.actions, traj.observations, strict=True):
            [[gen]] = backend.generate([messages], replace_stop(params))
            assert gen.text.strip() == action
            messages += [
                {"role": "assistant", "content": action},
                {"role": "user", "content": observation},
            ]


def replace_stop(params: SamplingParams) -> SamplingParams:
    return SamplingParams(max_tokens=params.max_tokens, temperature=0, stop=("\n",))


def test_cli_rollout_writes_jsonl(tiny: tuple[Any, Any], tmp_path: Any, capsys: Any) -> None:
    from prm_gym.cli import main

    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    out = tmp_path / "runs.jsonl"
    argv = ["rollout", "prm/Math-v0", "--model", str(tmp_path / "model"), "--episodes", "3"]
    argv += ["--num-envs", "2", "--max-tokens", "4", "--out", str(out), "--seed", "0", "--quiet"]
    assert main(argv) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        record = json.loads(line)
        assert set(record["reward_components"]) == {"outcome", "process"}
        assert len(record["actions"]) == len(record["rewards"]) == len(record["infos"])
        assert "token_ids" in record["infos"][0]["generation"]
        assert "prompt_token_ids" not in record["infos"][0]["generation"]
    assert "3 trajectories" in capsys.readouterr().err
    assert main(["rollout", "prm/Nope-v0", "--model", str(tmp_path / "model")]) == 2
    assert main(["rollout", "prm/Math-v0", "--model", str(tmp_path / "missing")]) == 2


def test_context_overflow_truncates_the_episode_and_the_run_goes_on(
    tiny: tuple[Any, Any],
) -> None:
    from prm_gym.agents.rollout import CONTEXT_OVERFLOW
    from prm_gym.core.threads import torch_threads
    from prm_gym.llm import ContextOverflowError, TransformersBackend

    backend = TransformersBackend(*tiny)
    backend.max_length = 130  # a short context: Math-v0 prompts overflow it within a few steps
    params = SamplingParams(max_tokens=16, temperature=1.0, seed=0)
    envs = gym.make_vec("prm/Math-v0", num_envs=3, vectorization_mode="sync", max_steps=10)
    try:
        with torch_threads(1):  # a tiny model: one thread is fastest on a shared CPU
            trajs = rollout(envs, LLMAgent(backend, params), episodes=4, seed=0, progress=False)
    finally:
        envs.close()
    assert len(trajs) == 4
    cut = [t for t in trajs if t.truncated_reason == CONTEXT_OVERFLOW]
    assert cut, [len(t.actions) for t in trajs]
    for traj in cut:
        assert traj.truncated and not traj.terminated
        assert len(traj.actions) < 10  # cut before the env's own limit
        if traj.infos:
            assert traj.infos[-1]["truncated_reason"] == CONTEXT_OVERFLOW
        assert trajectory_to_dict(traj)["truncated_reason"] == CONTEXT_OVERFLOW
    env = gym.make("prm/Math-v0", max_steps=10)
    try:
        with torch_threads(1):
            single = rollout(env, LLMAgent(backend, params), episodes=1, seed=0, progress=False)
            assert [t.truncated_reason for t in single] == [CONTEXT_OVERFLOW]
            agent = LLMAgent(backend, params)
            obs, _ = env.reset(seed=0)
            with pytest.raises(ContextOverflowError):  # act() on one env raises instead
                for _ in range(10):
                    obs, *_ = env.step(agent.act(obs))
    finally:
        env.close()


def test_cli_rollout_writes_every_episode_despite_overflow(
    tiny: tuple[Any, Any], tmp_path: Any, capsys: Any
) -> None:
    from prm_gym.cli import main

    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    out = tmp_path / "runs.jsonl"
    argv = ["rollout", "prm/Math-v0", "--model", str(tmp_path / "model"), "--episodes", "3"]
    # 1,024 positions: no Math-v0 prompt leaves room for 1,000 new tokens
    argv += ["--num-envs", "2", "--max-tokens", "1000", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    assert all(r["truncated_reason"] == "context_overflow" for r in records)
    assert all(r["truncated"] and not r["terminated"] for r in records)
    assert "3 truncated by context overflow" in capsys.readouterr().err


class _LengthScorer:
    """A stand-in process scorer for any text env: longer steps score higher (capped)."""

    def score(self, contexts: Sequence[Any]) -> np.ndarray:
        return np.array([min(len(c.action), 40) / 40 for c in contexts], dtype=np.float32)


@pytest.fixture(scope="module")
def long_context_tiny() -> Any:
    """A tiny model whose context fits SQL schemas and tool lists (prompts of ~5k tokens)."""
    from prm_gym.llm import TransformersBackend
    from prm_gym.llm.tiny import tiny_causal_lm

    return TransformersBackend(*tiny_causal_lm(n_layer=1, n_positions=16384))


def _text_env_ids() -> list[str]:
    from prm_gym.spaces import Text

    ids = []
    for env_id in prm_gym.ENV_IDS:
        env = gym.make(env_id)
        try:
            if isinstance(env.observation_space, Text):
                ids.append(env_id)
        finally:
            env.close()
    return ids


@pytest.mark.parametrize("env_id", _text_env_ids())
def test_tiny_model_rollout_on_every_text_env(long_context_tiny: Any, env_id: str) -> None:
    """Every landed text env runs under the LLM agent in a 4-env vector env, unchanged."""
    backend = long_context_tiny
    params = SamplingParams(max_tokens=6, temperature=0)
    # SQL-v0 and Code-v0 name their episode limit after turns, as their issues specify
    limit = {"max_turns": 2} if env_id in ("prm/SQL-v0", "prm/Code-v0") else {"max_steps": 2}
    envs = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync", **limit)
    envs = VectorProcessReward(envs, _LengthScorer(), coef=0.1)
    try:
        trajs = rollout(envs, LLMAgent(backend, params), episodes=4, seed=0, progress=False)
    finally:
        envs.close()
    assert len(trajs) == 4
    for traj in trajs:
        assert traj.terminated or traj.truncated
        _check_components(traj)
        assert traj.outcome is not None


class _ShortContext:
    """A backend whose context holds prompts of at most ``fits`` characters; it names the
    prompts that overflow only when ``names`` is set."""

    def __init__(self, fits: int, names: bool) -> None:
        self.fits, self.names, self.calls = fits, names, 0

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        from prm_gym.llm import ContextOverflowError

        self.calls += 1
        over = [i for i, p in enumerate(prompts) if len(str(p)) > self.fits]
        if over:
            raise ContextOverflowError("too long", over if self.names else ())
        return [[Generation(f"echo {p}")] * params.n for p in prompts]


@pytest.mark.parametrize("names", [True, False])
def test_generate_within_context_skips_only_the_prompts_that_do_not_fit(names: bool) -> None:
    from prm_gym.agents.llm_agent import generate_within_context

    backend: Any = _ShortContext(fits=3, names=names)  # generate() is all it needs
    out = generate_within_context(backend, ["a", "toolong", "bb", "xxxxxx"], SamplingParams(n=2))
    assert [None if g is None else [x.text for x in g] for g in out] == [
        ["echo a", "echo a"],
        None,
        ["echo bb", "echo bb"],
        None,
    ]
    # Named: one retry of the prompts that fit. Unnamed: then one call per prompt.
    assert backend.calls == (2 if names else 5)
    empty: Any = _ShortContext(0, names)
    assert generate_within_context(empty, ["a"], SamplingParams()) == [None]
