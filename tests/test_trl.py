"""TRL adapter: env tasks as a dataset, env outcome/process rewards as GRPO reward functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import prm_gym
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


# --- multi-turn: GRPOTrainer(environment_factory=...) ---------------------------------------


def test_environment_factory_tools_and_rewards() -> None:
    import json

    from prm_gym.envs.tools import format_call
    from prm_gym.integrations.trl import environment_factory

    math_factory = environment_factory("prm/Math-v0")
    assert math_factory.tool_names == ["give_answer", "write_step"]
    assert math_factory.component_names == ("outcome", "progress")
    env = math_factory()
    text = env.reset(task_seed=5, prompt=[{"role": "user", "content": ""}])
    local = prm_gym.make_dense("prm/Math-v0")
    obs, _ = local.reset(options={"task_seed": 5})
    assert text == obs
    gold = local.unwrapped.task  # type: ignore[attr-defined]
    expected = 0.0
    for step in gold.metadata["gold_steps"][:-1]:
        env.write_step(step)
        expected += local.step(step)[1]
    env.give_answer(str(gold.answer))
    expected += local.step(f"\\boxed{{{gold.answer}}}")[1]
    assert env.get_reward() == pytest.approx(expected) and expected > 1.0
    assert sum(env.reward_components.values()) == pytest.approx(expected)
    from prm_gym.integrations._episode import EpisodeOverError

    with pytest.raises(EpisodeOverError, match="episode is over"):
        env.give_answer("1")  # TRL hands this error back to the model as the tool result
    assert env.get_reward() == pytest.approx(expected)  # unchanged after the episode ended

    outcome_only = environment_factory("prm/Math-v0", dense=False)()
    outcome_only.reset(task_seed=5)
    outcome_only.give_answer(str(gold.answer))
    assert outcome_only.get_reward() == 1.0

    tools = environment_factory("prm/ToolUse-v0", levels=(2,))
    assert "calculator" in tools.tool_names and "answer" in tools.tool_names
    env = tools()
    env.reset(task_seed=2)
    bad = env.calculator(expression=5)  # wrong type: same error as the raw env gives
    raw = gym.make("prm/ToolUse-v0", levels=(2,))
    raw.reset(options={"task_seed": 2})
    raw_obs, _, _, _, raw_info = raw.step(
        format_call({"name": "calculator", "parameters": {"expression": 5}})
    )
    assert bad == raw_obs and env.last_info["error"] == raw_info["error"]
    assert json.loads(bad)[0]["name"] == "calculator"


def _scripted_generate(
    model: Any, tokenizer: Any, scripts: dict[str, list[str]], wrong: str
) -> None:
    """Replace ``model.generate`` by a scripted policy: a prompt whose task text is a key of
    ``scripts`` gets, at its k-th assistant turn, ``scripts[key][k]`` (``"Done."`` after the
    last); the first rollout of each group plays the script, the second plays ``wrong``."""
    import torch

    seen: dict[str, int] = {}

    def generate(input_ids: Any = None, attention_mask: Any = None, **_: Any) -> Any:
        rows = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            prompt = tokenizer.decode(ids[mask.bool()])
            key = next(k for k in scripts if k in prompt)
            turn = prompt.count("<tool_response>")
            if turn == 0:
                variant = seen.get(prompt, 0)
                seen[prompt] = variant + 1
                text = scripts[key][0] if variant % 2 == 0 else wrong
            elif wrong in prompt:
                text = "Done."
            else:
                text = scripts[key][turn] if turn < len(scripts[key]) else "Done."
            rows.append([*tokenizer.encode(text + "<|im_end|>"), tokenizer.eos_token_id])
        width = max(len(r) for r in rows)
        pad = tokenizer.pad_token_id
        out = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=input_ids.dtype)
        return torch.cat([input_ids, out], dim=1)

    model.generate = generate


def _call(name: str, arguments: dict[str, Any]) -> str:
    import json

    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def _run_environment_factory(env_id: str, tmp_path: Path, **make_kwargs: Any) -> None:
    import torch
    import trl
    from trl import GRPOConfig, GRPOTrainer

    from prm_gym.integrations.trl import environment_factory
    from prm_gym.llm.tiny import math_corpus, tiny_causal_lm

    factory = environment_factory(env_id, **make_kwargs)
    answer_tool = "give_answer" if "Math" in env_id else "answer"
    wrong = _call(answer_tool, {"answer": "nothing"})
    dataset = factory.dataset(n=2, seed=0)
    scripts: dict[str, list[str]] = {}
    texts = []
    for row in dataset:
        local = gym.make(env_id, **make_kwargs)
        obs, _ = local.reset(options={"task_seed": row["task_seed"]})
        task = local.unwrapped.task  # type: ignore[attr-defined]
        if answer_tool == "give_answer":
            calls = [_call("write_step", {"step": s}) for s in task.metadata["gold_steps"][:-1]]
            calls.append(_call("give_answer", {"answer": str(task.answer)}))
        else:
            calls = [_call(c["name"], c["parameters"]) for c in task.answer["calls"]]
            calls.append(_call("answer", {"answer": str(task.answer["answer"])}))
        scripts[str(obs).splitlines()[-1]] = calls
        texts.append(str(obs))

    # record each finished episode (its task, actions and the reward TRL gets)
    episodes: list[tuple[dict[str, Any], list[str], float]] = []

    class Recorded(factory.env_class):  # type: ignore[misc,name-defined]
        def reset(self, **columns: Any) -> str:
            self._row = {k: columns[k] for k in ("task_seed", "task_index")}
            return super().reset(**columns)

        def get_reward(self) -> float:
            value = super().get_reward()
            episodes.append((self._row, self.actions, value))
            return value

    Recorded.__name__ = factory.env_class.__name__
    factory.env_class = Recorded

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, tokenizer = tiny_causal_lm(n_positions=8192, corpus=[*math_corpus(200), *texts])
    template = Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja"
    tokenizer.chat_template = template.read_text()
    _scripted_generate(model, tokenizer, scripts, wrong)
    before = [p.detach().clone() for p in model.parameters()]
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=2048,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        reward_weights=factory.reward_weights,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=factory.reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        environment_factory=factory,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    # TRL's logged env rewards are the recorded episodes' rewards ...
    logged = list(trainer._logs["rewards"][Recorded.__name__])
    assert logged == pytest.approx([value for _, _, value in episodes[-len(logged) :]])
    # ... which equal the returns of the same episodes replayed on a local dense env
    for row, actions, value in episodes:
        local = prm_gym.make_dense(env_id, **make_kwargs)
        local.reset(options={k: v for k, v in row.items() if v >= 0})
        assert sum(local.step(a)[1] for a in actions) == pytest.approx(value)
    values = [v for _, _, v in episodes]
    assert max(values) > 1.0 and min(values) == 0.0  # the gold and the wrong rollouts
    components = [list(trainer._logs["rewards"][n]) for n in factory.component_names]
    assert [sum(c) for c in zip(*components, strict=True)] == pytest.approx(logged)
    history = [h for h in trainer.state.log_history if "rewards/outcome/mean" in h]
    assert history and all("rewards/progress/mean" in h for h in history)


@pytest.mark.parametrize(
    "env_id",
    # ToolUse-v0's prompt lists its tool schemas (~4.6k tokens of the tiny tokenizer): about
    # 35 s of CPU, most of it attention over those prompts
    ["prm/Math-v0", "prm/ToolUse-v0"],
)
def test_grpo_trainer_environment_factory(env_id: str, tmp_path: Path) -> None:
    """A real GRPOTrainer with environment_factory: 2 optimisation steps of a tiny model whose
    generate is scripted (one gold and one wrong rollout per group, as tool calls parsed by
    TRL); the env rewards TRL logs equal the local dense env's returns of the same episodes."""
    pytest.importorskip("torch")
    try:
        import trl  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the install
        pytest.skip(f"trl cannot be imported ({exc!r}): pip install 'prm-gym[trl]'")
    kwargs: dict[str, Any] = {"levels": (1,)} if "Math" in env_id else {"levels": (2,)}
    _run_environment_factory(env_id, tmp_path, **kwargs)
