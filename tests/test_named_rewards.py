"""named_rewards: reward components under trainers' names, summing to the reward/return."""

from __future__ import annotations

import subprocess
import sys

import pytest

import prm_gym
from prm_gym.integrations import named_rewards


def _gold_episode(env_id: str = "prm/ToolUse-v0") -> tuple[list[dict], list[float]]:
    from prm_gym.envs.tools import format_call

    env = prm_gym.make_dense(env_id, levels=(2,))
    env.reset(options={"task_seed": 4})
    gold = env.unwrapped.task.answer  # type: ignore[attr-defined]
    actions = [format_call(c) for c in gold["calls"]] + [f"<answer>{gold['answer']}</answer>"]
    infos, rewards = [], []
    for action in actions:
        _, reward, _, _, info = env.step(action)
        infos.append(info)
        rewards.append(reward)
    return infos, rewards


def test_step_info_formats() -> None:
    infos, rewards = _gold_episode()
    last = infos[-1]
    gdpo = named_rewards(last)
    assert gdpo == {f"reward/{k}": v for k, v in last["reward_components"].items()}
    assert gdpo["reward/outcome"] == 1.0
    assert sum(gdpo.values()) == pytest.approx(rewards[-1])
    assert set(named_rewards(last, format="trl")) == {
        "rewards/outcome",
        "rewards/progress",
        "rewards/efficiency",
    }
    assert named_rewards({"action_valid": True}) == {}
    with pytest.raises(ValueError, match="format"):
        named_rewards(last, format="wandb")  # type: ignore[arg-type]


def test_episode_sums_to_return_and_batch_aligns_names() -> None:
    from prm_gym.core.transcript import Trajectory

    infos, rewards = _gold_episode()
    episode = named_rewards(infos, format="plain")
    assert isinstance(episode, dict)
    assert sum(episode.values()) == pytest.approx(sum(rewards))
    assert episode["outcome"] == 1.0 and episode["progress"] == pytest.approx(0.5)
    trajectory = Trajectory(task_id="t", prompt="p")
    for info, reward in zip(infos, rewards, strict=True):
        trajectory.append("a", "o", reward, info)
    assert named_rewards(trajectory, format="plain") == episode

    other = [{"reward_components": {"outcome": 0.0, "shaping": 0.25}}]
    batch = named_rewards([infos, other])
    assert batch["reward/outcome"] == [1.0, 0.0]
    assert batch["reward/shaping"] == [0.0, 0.25]  # missing components are 0, lists aligned
    assert batch["reward/progress"] == [pytest.approx(0.5), 0.0]
    with pytest.raises(TypeError, match="named_rewards takes"):
        named_rewards(3.0)


def test_trl_environment_instance() -> None:
    from prm_gym.integrations.trl import environment_factory

    env = environment_factory("prm/Math-v0")()
    env.reset(task_seed=1)
    env.give_answer("-12345")
    named = named_rewards(env, format="trl")
    assert named == {"rewards/outcome": 0.0, "rewards/progress": 0.0}
    assert sum(named.values()) == env.get_reward()


def test_import_prm_gym_stays_light() -> None:
    code = (
        "import sys, prm_gym, prm_gym.integrations, prm_gym.integrations.trl; "
        "heavy = [m for m in ('trl', 'openenv', 'verifiers', 'torch', 'transformers') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
