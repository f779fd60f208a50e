"""TRL adapter: env tasks as a dataset, env outcome/process rewards as GRPO reward functions."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import pytest

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.integrations.trl import (
    EnvOutcomeReward,
    EnvProcessReward,
    completion_text,
    tasks_dataset,
)
from prm_gym.rewards import RuleVerifier

pytest.importorskip("datasets", reason="tasks_dataset needs datasets: pip install 'prm-gym[trl]'")


def _gold_solution(task_seed: int) -> str:
    env = gym.make("prm/Math-v0", single_turn=True)
    env.reset(options={"task_seed": task_seed})
    return "\n".join(env.unwrapped.task.metadata["gold_steps"])  # type: ignore[attr-defined]


def test_tasks_dataset_columns_and_determinism() -> None:
    ds = tasks_dataset("prm/Math-v0", n=4, seed=1, single_turn=True)
    assert set(ds.column_names) == {"prompt", "task_id", "answer", "task_seed", "task_index"}
    assert ds[0]["prompt"][0]["role"] == "user"
    assert "\\boxed" in ds[0]["prompt"][0]["content"]
    assert ds.to_dict() == tasks_dataset("prm/Math-v0", n=4, seed=1, single_turn=True).to_dict()
    text = tasks_dataset("prm/Math-v0", n=2, seed=1, chat=False, single_turn=True)
    assert text[0]["prompt"] == ds[0]["prompt"][0]["content"]


def test_reward_functions_score_gold_and_wrong_completions() -> None:
    ds = tasks_dataset("prm/Math-v0", n=2, seed=0, single_turn=True)
    columns = {k: ds[k] for k in ds.column_names if k != "prompt"}
    gold = _gold_solution(ds[0]["task_seed"])
    completions = [[{"role": "assistant", "content": gold}], "Step 1: 2 + 2 = 5\n\\boxed{5}"]
    outcome = EnvOutcomeReward("prm/Math-v0", single_turn=True)
    process = EnvProcessReward("prm/Math-v0", RuleVerifier(), single_turn=True)
    assert outcome(ds["prompt"], completions, **columns) == [1.0, 0.0]
    scores = process(ds["prompt"], completions, **columns)
    assert scores[0] == 1.0
    assert scores[1] < 1.0
    assert outcome.__name__ == "outcome" and process.__name__ == "process"


def test_completion_text() -> None:
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "x = 1"}]) == "x = 1"


def test_grpo_trainer_runs_with_env_rewards(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    try:
        from trl import GRPOConfig, GRPOTrainer
    except Exception as exc:  # pragma: no cover - depends on the install
        pytest.skip(f"trl cannot be imported ({exc!r}): pip install 'prm-gym[trl]'")
    from prm_gym.llm.tiny import tiny_causal_lm

    torch.set_num_threads(1)
    model, tokenizer = tiny_causal_lm()
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    dataset = tasks_dataset("prm/Math-v0", n=4, seed=0, single_turn=True)
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        learning_rate=1e-4,
        report_to=[],
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=str(tmp_path / "model"),
        reward_funcs=[
            EnvOutcomeReward("prm/Math-v0", single_turn=True),
            EnvProcessReward("prm/Math-v0", RuleVerifier(), single_turn=True),
        ],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [h for h in trainer.state.log_history if "rewards/outcome/mean" in h]
    assert logged, trainer.state.log_history
    assert all(math.isfinite(h["rewards/process/mean"]) for h in logged)
