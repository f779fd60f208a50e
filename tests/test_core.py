"""Core pieces: the Text space, task sources, transcripts and trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from prm_gym.core import (
    DatasetSource,
    ProceduralSource,
    Task,
    Trajectory,
    Transcript,
    Turn,
    as_task_source,
    validate_text_action,
)
from prm_gym.spaces import Text
from prm_gym.wrappers import add_reward_component


def test_text_space_contains_any_unicode_up_to_max_length() -> None:
    space = Text(max_length=10)
    assert "3 × 4 = 12" in space
    assert "中文字" in space
    assert "" in space
    assert "x" * 11 not in space
    assert b"bytes" not in space
    assert 5 not in space
    assert Text(10, min_length=2).contains("a") is False
    with pytest.raises(ValueError):
        Text(0)
    with pytest.raises(ValueError):
        Text(5, min_length=6)


def test_text_space_sampling_is_seeded_and_valid() -> None:
    a, b = Text(32, seed=3), Text(32, seed=3)
    samples = [a.sample() for _ in range(50)]
    assert samples == [b.sample() for _ in range(50)]
    assert all(s in a and len(s) >= 1 for s in samples)
    assert any(not s.isascii() for s in samples)
    assert Text(5) == Text(5) and Text(5) != Text(6)


def test_validate_text_action_reasons() -> None:
    assert validate_text_action("Step 1: 2 + 2 = 4", 100) is None
    assert "empty" in (validate_text_action("  ", 100) or "")
    assert "too long" in (validate_text_action("a" * 101, 100) or "")
    assert "surrogate" in (validate_text_action("a\udc80", 100) or "")
    assert "binary" in (validate_text_action("a\x00b", 100) or "")
    assert "letters or digits" in (validate_text_action("?!…", 100) or "")


def test_task_sources() -> None:
    def make(seed: int) -> Task:
        return Task(id=f"t{seed}", prompt=str(seed), answer=seed)

    proc = as_task_source(make, default=lambda: DatasetSource([]), parse=lambda r, i: make(i))
    assert isinstance(proc, ProceduralSource)
    rng1, rng2 = np.random.default_rng(0), np.random.default_rng(0)
    assert proc.sample(rng1) == proc.sample(rng2)

    records = [{"q": "a"}, Task(id="x", prompt="p", answer=1)]
    ds = as_task_source(
        records, default=lambda: proc, parse=lambda r, i: Task(f"r{i}", r["q"], None)
    )
    assert isinstance(ds, DatasetSource) and len(ds) == 2
    assert ds.find("x").prompt == "p" and ds.get(0).id == "r0"
    with pytest.raises(KeyError, match="no task"):
        ds.find("missing")
    with pytest.raises(TypeError, match="tasks="):
        as_task_source(3.5, default=lambda: proc, parse=lambda r, i: make(i))
    with pytest.raises(ValueError, match="at least one"):
        DatasetSource([])


def test_transcript_messages() -> None:
    t = Transcript("prompt", [Turn("a1", "o1"), Turn("a2", "o2", False, "bad")])
    assert t.messages("sys") == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "prompt"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "o1"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "o2"},
    ]


def test_trajectory_components_and_totals() -> None:
    traj = Trajectory(task_id="t", prompt="p")
    traj.append("a", "o", 0.5, {"reward_components": {"outcome": 0.0, "process": 0.5}})
    traj.append(
        "b",
        "o",
        1.0,
        {"reward_components": {"outcome": 1.0}, "outcome": 1.0, "step_rewards": [0.5, 1.0]},
    )
    assert traj.total_reward == 1.5 and traj.outcome == 1.0
    comps = traj.components()
    assert comps["process"].tolist() == [0.5, 0.0] and comps["outcome"].tolist() == [0.0, 1.0]
    assert traj.step_rewards is not None and traj.step_rewards.tolist() == [0.5, 1.0]


def test_reward_components_sum_and_names() -> None:
    info: dict = {}
    reward = add_reward_component(info, 1.0, "process", 0.25)
    reward = add_reward_component(info, reward, "process", -0.5)
    assert info["reward_components"] == {"outcome": 1.0, "process": 0.25, "process_2": -0.5}
    assert reward == sum(info["reward_components"].values())
    with pytest.raises(ValueError, match="not finite"):
        add_reward_component(info, reward, "bad", float("nan"))


@pytest.mark.parametrize(("env_id", "default"), [("prm/SQL-v0", 5), ("prm/Code-v0", 4)])
def test_max_steps_is_an_alias_of_max_turns(env_id: str, default: int) -> None:
    import gymnasium as gym

    import prm_gym  # noqa: F401

    assert gym.make(env_id).unwrapped.max_turns == default
    assert gym.make(env_id, max_steps=2).unwrapped.max_turns == 2
    assert gym.make(env_id, max_turns=3, max_steps=3).unwrapped.max_turns == 3
    with pytest.raises(ValueError, match="same limit"):
        gym.make(env_id, max_turns=3, max_steps=2)
    with pytest.raises(ValueError, match="positive integer"):
        gym.make(env_id, max_steps=0)
