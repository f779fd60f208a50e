"""LLM-written reward code: checks, sandboxed evaluation, shaping, search loop (issue 6)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401
from prm_gym.llm.base import Generation, SamplingParams
from prm_gym.rewards.reward_code import (
    RewardCode,
    RewardCodeError,
    check_candidate,
    extract_code,
    parse_state,
    sample_states,
    search_reward_code,
    static_check,
)
from prm_gym.sandbox import Sandbox
from prm_gym.wrappers import RewardCodeShaping

GOOD = """
import math

def compute_dense_reward(state):
    d = state["gripper_to_goal"]
    return -d + 0.0 * math.pi, {"distance": -d}
"""

BAD = {
    "loop": ("def compute_dense_reward(state):\n    while True:\n        pass\n", "timed out"),
    "raises": (
        "def compute_dense_reward(state):\n    return state['no_such_key'], {}\n",
        "KeyError",
    ),
    "nan": ("def compute_dense_reward(state):\n    return float('nan'), {'x': 1.0}\n", "nan"),
    "inf_component": (
        "def compute_dense_reward(state):\n    return 0.0, {'x': float('inf')}\n",
        "non-finite x",
    ),
    "signature": ("def compute_dense_reward(state, action):\n    return 0.0, {}\n", "signature"),
    "no_function": ("def reward(state):\n    return 0.0, {}\n", "no top-level function"),
    "returns_float": ("def compute_dense_reward(state):\n    return 1.0\n", "(float, dict"),
    "syntax": ("def compute_dense_reward(state)\n    return 0\n", "syntax error"),
    "import_os": (
        "import os\ndef compute_dense_reward(state):\n"
        "    os.system('echo pwned')\n    return 0.0, {}\n",
        "imports 'os'",
    ),
    "read_file": (
        "def compute_dense_reward(state):\n    return float(len(open('/etc/passwd').read())), {}\n",
        "forbidden name 'open'",
    ),
    "dunder_escape": (
        "def compute_dense_reward(state):\n"
        "    return float(len(().__class__.__base__.__subclasses__())), {}\n",
        "dunder attribute",
    ),
    "import_hidden": (
        "def compute_dense_reward(state):\n    m = __import__('os')\n    return 0.0, {}\n",
        "forbidden name '__import__'",
    ),
}


@pytest.fixture(scope="module")
def box() -> Any:
    with Sandbox(pool_size=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def states() -> list[dict[str, Any]]:
    env = gym.make("prm/Reach-v0")
    try:
        return sample_states(env, n=6, seed=0)
    finally:
        env.close()


def test_parse_state_and_extract_code() -> None:
    env = gym.make("prm/Push-v0")
    env.reset(seed=0)
    state = parse_state(env.unwrapped.describe_state())  # type: ignore[attr-defined]
    assert set(state) >= {"gripper_pos", "block_pos", "goal", "block_to_goal", "step"}
    assert isinstance(state["goal"], list) and len(state["goal"]) == 3
    reply = "Here:\n```python\ndef f():\n    pass\n```\nand\n```python\nx = 1\n```"
    assert extract_code(reply) == "x = 1\n"
    assert extract_code("no fences") == "no fences\n"


def test_valid_code_runs_sandboxed_on_a_batch(box: Any, states: list[dict[str, Any]]) -> None:
    rc = RewardCode.from_code(GOOD, sample_states=states, sandbox=box)
    rewards, comps = rc.evaluate(states)
    expected = [-s["gripper_to_goal"] for s in states]
    np.testing.assert_allclose(rewards, expected)
    np.testing.assert_allclose(comps["distance"], expected)
    stats = rc.check(states).statistics()
    assert stats["distance"]["max"] == pytest.approx(max(expected))


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_code_is_rejected_with_a_reason(
    kind: str, box: Any, states: list[dict[str, Any]]
) -> None:
    code, reason = BAD[kind]
    check = check_candidate(code, states, timeout=1.0, sandbox=box)
    assert not check.ok
    assert check.reason is not None and reason in check.reason
    with pytest.raises(RewardCodeError, match=r"\w"):
        RewardCode.from_code(code, sample_states=states, timeout=1.0, sandbox=box)


def test_static_check_is_not_the_only_guard(box: Any, states: list[dict[str, Any]]) -> None:
    """Even with `os` allowed, the code runs in the sandbox: host files are out of reach."""
    marker = f"/tmp/prm-gym-reward-code-{uuid.uuid4().hex}"
    code = (
        "import os\ndef compute_dense_reward(state):\n"
        f"    os.system('touch {marker}')\n    return 0.0, {{}}\n"
    )
    assert static_check(code, allowed_imports={"math", "os"}) is None
    check = check_candidate(code, states[:1], sandbox=box, allowed_imports={"math", "os"})
    assert check.ok
    assert not os.path.exists(marker)


def test_shaping_on_reach_per_step_and_per_episode(box: Any) -> None:
    rc = RewardCode(GOOD, sandbox=box)
    env = RewardCodeShaping(gym.make("prm/Reach-v0", max_episode_steps=4), rc, coef=2.0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    step_terms = []
    for _ in range(3):
        _, reward, _, _, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        d = parse_state(env.unwrapped.describe_state())["gripper_to_goal"]  # type: ignore[attr-defined]
        assert info["reward_components"]["reward_code"] == pytest.approx(-2.0 * d)
        assert float(reward) == pytest.approx(sum(info["reward_components"].values()))
        step_terms.append(info["reward_components"]["reward_code"])

    # Per episode: one sandbox job at the end, same per-step terms in info["step_rewards"].
    env = RewardCodeShaping(
        gym.make("prm/Reach-v0", max_episode_steps=3), rc, coef=2.0, batch="episode"
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    rewards, infos = [], []
    done = False
    while not done:
        _, r, terminated, truncated, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        rewards.append(float(r))
        infos.append(info)
        done = terminated or truncated
    assert [i["reward_components"]["reward_code"] for i in infos[:-1]] == [0.0, 0.0]
    outcomes = [i["reward_components"]["outcome"] for i in infos]
    np.testing.assert_allclose(
        np.asarray(infos[-1]["step_rewards"]) - outcomes, step_terms, rtol=1e-6
    )
    assert sum(infos[-1]["step_rewards"]) == pytest.approx(sum(rewards))


def test_failing_code_never_crashes_the_env(box: Any) -> None:
    # Passes the static checks, fails on real states (no such key): term 0, reason in info.
    rc = RewardCode(BAD["raises"][0], sandbox=box, timeout=1.0)
    env = RewardCodeShaping(gym.make("prm/Reach-v0"), rc)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(4, dtype=np.float32))
    assert info["reward_components"]["reward_code"] == 0.0
    assert "KeyError" in info["reward_code_error"]
    assert float(reward) == pytest.approx(info["reward_components"]["outcome"])


class CannedBackend:
    """Returns canned replies, one list per generate call (per search round)."""

    def __init__(self, rounds: Sequence[Sequence[str]]) -> None:
        self.rounds = list(rounds)
        self.prompts: list[Any] = []

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Generation]]:
        self.prompts.append(prompts[0])
        replies = self.rounds[len(self.prompts) - 1]
        assert len(replies) == params.n
        return [[Generation(text=f"```python\n{t}```") for t in replies]]


def test_search_keeps_the_best_and_feeds_back_statistics(
    box: Any, states: list[dict[str, Any]]
) -> None:
    constant = "def compute_dense_reward(state):\n    return 1.0, {'bonus': 1.0}\n"
    backend = CannedBackend([[BAD["loop"][0], constant], [GOOD, BAD["import_os"][0]]])

    def evaluate(candidate: RewardCode) -> float:  # cheap: prefers rewards that vary
        rewards, _ = candidate.evaluate(states)
        return float(np.std(rewards))

    result = search_reward_code(
        backend,
        "prm/Reach-v0",
        rounds=2,
        candidates=2,
        evaluate=evaluate,
        states=states,
        timeout=1.0,
        sandbox=box,
    )
    assert result.best is not None and result.best.code.strip() == GOOD.strip()
    assert [r.check.ok for r in result.records] == [False, True, True, False]
    assert "timed out" in (result.records[0].reason or "")
    assert "imports 'os'" in (result.records[3].reason or "")
    feedback = backend.prompts[1][-1]["content"]
    assert "bonus: mean 1" in feedback and "task score 0.000" in feedback
    assert "timed out" in feedback


def test_cli_with_a_tiny_transformers_model_rejects_garbage(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: `prm-gym reward-code` with a random tiny LM writes garbage; every candidate
    is rejected with a reason and the command fails cleanly (exit code 1)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from prm_gym.cli import main
    from prm_gym.llm.tiny import tiny_causal_lm

    model, tokenizer = tiny_causal_lm(n_layer=1, n_embd=32, vocab_size=300)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    argv = ["reward-code", "prm/Reach-v0", "--model", str(tmp_path), "--rounds", "1"]
    code = main([*argv, "--candidates", "2", "--max-tokens", "24"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("rejected: ") == 2
    assert "no candidate was accepted" in err


@pytest.mark.slow
def test_sb3_evaluator_runs_a_short_training(box: Any) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from prm_gym.agents.reward_code import sb3_evaluator

    rc = RewardCode(GOOD, sandbox=box)
    score = sb3_evaluator("prm/Reach-v0", total_timesteps=120, eval_episodes=2)(rc)
    assert 0.0 <= score <= 1.0
