"""prm/Math-v0: API conformance, gold solutions, bad input, seeding and snapshots."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.core import Task
from prm_gym.envs.math import FAMILIES, LEVELS, MathConfig, MathEnv, generate, solution_text
from prm_gym.envs.math.steps import known_numbers


def _play(env: gym.Env, actions: list[str]) -> list[tuple]:
    out = []
    for action in actions:
        out.append(env.step(action))
        if out[-1][2] or out[-1][3]:
            break
    return out


@pytest.mark.parametrize("single_turn", [False, True])
def test_check_env_passes(single_turn: bool) -> None:
    env = gym.make("prm/Math-v0", single_turn=single_turn)
    check_env(env.unwrapped, skip_render_check=True)


def test_make_without_prior_import() -> None:
    code = (
        "import sys, gymnasium as gym\n"
        "env = gym.make('prm_gym:prm/Math-v0')\n"
        "obs, info = env.reset(seed=1)\n"
        "assert isinstance(obs, str) and info['task_id']\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_does_not_load_torch() -> None:
    code = "import sys, prm_gym; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("level", LEVELS)
def test_gold_solutions_score_one_multi_step(family: str, level: int) -> None:
    env = MathEnv(families=(family,), levels=(level,))
    for seed in range(40):  # 3 families x 5 levels x 40 = 600 seeds
        env.reset(seed=seed)
        task = env.unwrapped.task
        assert task.metadata["family"] == family and task.metadata["level"] == level
        steps = _play(env, list(task.metadata["gold_steps"]))
        *_, (_obs, reward, terminated, truncated, info) = steps
        assert terminated and not truncated
        assert reward == 1.0 and info["outcome"] == 1.0
        assert all(s[4]["step_label"] is True for s in steps), task.id


def test_gold_solutions_score_one_single_turn() -> None:
    env = MathEnv(single_turn=True)
    for seed in range(150):
        env.reset(seed=seed)
        solution = solution_text(env.task)
        _, reward, terminated, _, info = env.step(solution)
        assert terminated and reward == 1.0
        assert info["step_label"] == [True] * len(env.task.metadata["gold_steps"])
        assert len(info["steps"]) == len(env.task.metadata["gold_steps"])


def test_wrong_final_answer_scores_zero() -> None:
    env = MathEnv()
    for seed in range(50):
        env.reset(seed=seed)
        task = env.task
        for step in task.metadata["gold_steps"][:-1]:
            env.step(step)
        _obs, reward, terminated, _truncated, info = env.step(f"\\boxed{{{task.answer}1}}")
        assert terminated and reward == 0.0 and info["outcome"] == 0.0
        assert info["step_label"] is False  # the answer does not follow from the steps


@pytest.mark.parametrize("form", ["0.5", "1/2", "\\frac{1}{2}", "\\dfrac{1}{2}", "\\frac12", ".5"])
def test_equivalent_answer_forms_score_one(form: str) -> None:
    task = Task(id="half", prompt="What is 1 divided by 2?", answer="1/2")
    env = MathEnv(tasks=[task])
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(f"So the answer is \\boxed{{{form}}}")
    assert terminated and reward == 1.0


@pytest.mark.parametrize("answer_line", ["Answer: 12", "The final answer is: 12", "answer = 12"])
def test_answer_line_ends_episode(answer_line: str) -> None:
    env = MathEnv(tasks=[{"prompt": "7 + 5?", "answer": "12"}])
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(answer_line)
    assert terminated and reward == 1.0 and info["answer"] == "12"


def test_truncation_gives_zero_outcome_never_negative() -> None:
    env = MathEnv(max_steps=3)
    env.reset(seed=4)
    gold = env.task.metadata["gold_steps"]
    results = _play(env, [gold[0], "Let me think more.", "Still thinking."])
    _obs, reward, terminated, truncated, info = results[-1]
    assert truncated and not terminated
    assert reward == 0.0 and info["outcome"] == 0.0
    assert all(r[1] == 0.0 for r in results)


@pytest.mark.parametrize("bad", [None, 12, 3.5, b"bytes", ["Step 1"], {"a": 1}])
def test_non_str_action_raises_type_error(bad: object) -> None:
    env = MathEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="takes a str action"):
        env.step(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "action",
    [
        "",
        "   \n\t ",
        "x" * 1_000_000,
        "\x00\x01\x02\x03binary\xff",
        "abc\ufffd\ufffd",
        "Step 1: \ud800 12 * 3 = 36",
        "🙂🙂🙂 ✨",
        "\\boxed{}",
    ],
    ids=["empty", "blank", "1MB", "binary", "replacement", "surrogate", "emoji", "empty-box"],
)
@pytest.mark.parametrize("single_turn", [False, True])
def test_bad_actions_are_invalid_not_errors(action: str, single_turn: bool) -> None:
    env = MathEnv(single_turn=single_turn)
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["action_valid"] is False
    assert isinstance(info["error"], str) and info["error"]
    assert reward == 0.0
    assert env.observation_space.contains(obs)
    if single_turn:
        assert terminated and info["outcome"] == 0.0
    else:
        assert not terminated and not truncated
        # the episode goes on and can still be solved
        results = _play(env, list(env.task.metadata["gold_steps"]))
        assert results[-1][1] == 1.0


def test_unicode_steps_are_valid_and_checked() -> None:
    task = Task(id="u", prompt="Ein Laden hat 12 Kisten mit je 3 Äpfeln.", answer="36")
    env = MathEnv(tasks=[task])
    env.reset(seed=0)
    _, _, _, _, info = env.step("Schritt 1: 12 × 3 = 36 Äpfel — 中文 ✓")
    assert info["action_valid"] is True
    _, reward, terminated, _, _ = env.step("Antwort: \\boxed{36}")
    assert terminated and reward == 1.0


def test_same_seed_same_episode() -> None:
    def run(seed: int) -> list:
        env = MathEnv()
        obs, info = env.reset(seed=seed)
        trace = [obs, info]
        actions = [*env.task.metadata["gold_steps"][:2], "hmm", "Answer: 3"]
        trace += _play(env, actions)
        return trace

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_get_state_set_state_reproduces_continuation() -> None:
    env = MathEnv()
    env.reset(seed=5)
    gold = list(env.task.metadata["gold_steps"])
    env.step(gold[0])
    state = pickle.loads(pickle.dumps(env.get_state()))
    first = _play(env, gold[1:])
    other = MathEnv()
    other.reset(seed=99)  # a different episode in progress is overwritten
    other.set_state(state)
    second = _play(other, gold[1:])
    assert first == second
    assert other.transcript.messages() == env.transcript.messages()
    env.set_state(state)  # branching again from the same snapshot
    assert _play(env, gold[1:]) == first


def test_close_is_idempotent() -> None:
    env = gym.make("prm/Math-v0")
    env.reset(seed=0)
    env.close()
    env.close()


def test_step_before_reset_is_a_clear_error() -> None:
    env = MathEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("Step 1: 1 + 1 = 2")


def test_render_ansi_shows_transcript() -> None:
    env = MathEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step("Step 1: thinking")
    text = env.render()
    assert "[agent 1] Step 1: thinking" in text and "[task]" in text


def test_generator_is_pure_function_of_seed() -> None:
    config = MathConfig()
    assert generate(config, 123) == generate(config, 123)
    ids = {generate(config, s).id for s in range(50)}
    assert len(ids) == 50
    with pytest.raises(ValueError):
        MathConfig(families=("geometry",))


def _digest(config: MathConfig, seeds: range) -> str:
    import hashlib

    h = hashlib.sha256()
    for seed in seeds:
        t = generate(config, seed)
        h.update(repr((t.id, t.prompt, t.answer, t.metadata["gold_steps"])).encode())
    return h.hexdigest()


def test_default_tasks_unchanged_by_arithmetic_ops() -> None:
    # The digest of the first 40 default tasks, taken before ``arithmetic_ops`` existed: a
    # default config must keep drawing exactly those tasks (cached SFT data and PRM datasets
    # are keyed by seed).
    assert _digest(MathConfig(), range(40)) == (
        "266a6f24afdddd8a93bd7fab02ac0aa210f6ed02bf55e138d448671c63358744"
    )


def test_arithmetic_ops_sets_chain_length() -> None:
    for ops in (1, 4, 8):
        config = MathConfig(families=("arithmetic",), levels=(1,), arithmetic_ops=ops)
        for seed in range(20):
            task = generate(config, seed)
            assert len(task.metadata["gold_steps"]) == ops + 1  # one per operation + answer
            assert task.prompt.count("Then ") == ops
            assert task.id == f"math-arithmetic-L1-ops{ops}-{seed}"
            assert task.metadata["arithmetic_ops"] == ops
    # Other families ignore it.
    linear = generate(MathConfig(families=("linear",), levels=(1,), arithmetic_ops=4), 3)
    assert linear == generate(MathConfig(families=("linear",), levels=(1,)), 3)
    for bad in (0, 9, 2.0, True, "4"):
        with pytest.raises(ValueError, match="arithmetic_ops"):
            MathConfig(arithmetic_ops=bad)  # type: ignore[arg-type]


def test_arithmetic_ops_env_kwarg_and_noisy_solutions() -> None:
    from prm_gym.envs.math.experts import noisy_solutions

    env = gym.make("prm/Math-v0", families=("arithmetic",), levels=(1,), arithmetic_ops=4)
    env.reset(seed=0)
    task = env.unwrapped.task  # type: ignore[attr-defined]
    assert len(task.metadata["gold_steps"]) == 5
    for step in task.metadata["gold_steps"]:
        _, _, terminated, _, info = env.step(step)
    assert terminated and info["outcome"] == 1.0
    sols = noisy_solutions(
        3, 0, noise=(0, 0), levels=(1,), families=("arithmetic",), arithmetic_ops=4
    )
    assert all(len(s.actions) == 5 and s.task.metadata["arithmetic_ops"] == 4 for s in sols)


def test_gsm8k_and_math_jsonl_loaders(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    records = [
        {
            "question": "Ana has 3 bags of 4 apples. How many apples?",
            "answer": "3 bags * 4 = <<3*4=12>>12 apples\n#### 12",
        },
        {
            "problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
            "solution": "Sum is $\\boxed{\\frac{3}{4}}$.",
            "level": "Level 1",
        },
        {"prompt": "What is 2 + 2?", "answer": "4", "id": "plain-1"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    env = MathEnv(tasks=str(path))
    env.reset(options={"task_index": 0})
    assert env.task.answer == "12" and env.task.metadata["values"] == ("12",)
    assert env.step("\\boxed{12}")[1] == 1.0
    env.reset(options={"task_index": 1})
    assert env.task.answer == "\\frac{3}{4}"
    assert env.step("Answer: 0.75")[1] == 1.0
    env.reset(options={"task_id": "plain-1"})
    assert env.step("\\boxed{4}")[1] == 1.0
    # step labels exist only for procedural tasks
    env.reset(options={"task_index": 0})
    assert "step_label" not in env.step("3 * 4 = 12")[4]


def test_bad_jsonl_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "no answer"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="expected GSM8K"):
        MathEnv(tasks=str(path))
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":1: not valid JSON"):
        MathEnv(tasks=str(path))


def test_datasets_dataset_source() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(
        [
            {"question": "1 + 1?", "answer": "so <<1+1=2>>2\n#### 2"},
            {"question": "3*3", "answer": "9"},
        ]
    )
    env = MathEnv(tasks=ds)
    env.reset(options={"task_index": 1})
    assert env.step("\\boxed{9}")[1] == 1.0
    seen = {env.reset(seed=s)[1]["task_id"] for s in range(20)}
    assert seen == {"gsm8k-0", "task-1"}


def test_task_selection_options() -> None:
    env = MathEnv()
    env.reset(options={"task_seed": 77})
    assert env.task == generate(MathConfig(), 77)
    custom = Task(id="c", prompt="5 * 5?", answer="25")
    env.reset(options={"task": custom})
    assert env.task is custom
    with pytest.raises(ValueError, match="dataset"):
        env.reset(options={"task_index": 0})


def test_step_labels_mark_errors_not_padding() -> None:
    env = MathEnv()
    env.reset(seed=1)
    task = env.task
    first = task.metadata["gold_steps"][0]
    labels = [env.step(s)[4]["step_label"] for s in (first, first, "1 + 1 = 2", "So far so good.")]
    # repeated and constants-only steps are idle (RuleVerifier scores them 0), not wrong
    assert labels == [True, True, True, True]
    assert env.step("12 * 3 = 40")[4]["step_label"] is False
    given = sorted(n for n in known_numbers(task.prompt) if str(n) != str(task.answer))
    *_, terminated, _, info = env.step(f"\\boxed{{{given[-1]}}}")
    # a number of the problem is not the answer: a wrong final answer is never labelled correct
    assert terminated and info["outcome"] == 0.0 and info["step_label"] is False


def test_single_turn_wrong_answer_label_is_false() -> None:
    env = MathEnv(single_turn=True)
    env.reset(seed=2)
    steps = list(env.task.metadata["gold_steps"][:-1])
    given = max(known_numbers(env.task.prompt))
    final = f"Step {len(steps) + 1}: The answer is \\boxed{{{given}}}."
    *_, info = env.step("\n".join([*steps, final]))
    assert info["outcome"] == 0.0
    assert info["step_label"] == [True] * len(steps) + [False]
