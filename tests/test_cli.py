"""Tests for the ``prm-gym`` command (``prm_gym.cli``)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym
from prm_gym.cli import main
from prm_gym.core import StepContext
from prm_gym.demo import (
    DEFAULT_NOISE_LEVELS,
    RL_VARIANTS,
    SETUPS,
    demo_records,
    format_demo_table,
    format_rl_table,
    interpret_demo,
    interpret_rl,
    rl_rows,
    summarize_records,
)
from prm_gym.envs.math import NoiseLevel, NoisySolver, corrupt_answer, corrupt_arithmetic
from prm_gym.rewards import RuleVerifier

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTCOME_ONLY, PROCESS, GATED, DENSE = SETUPS


def gold_steps(seed: int) -> list[str]:
    env = gym.make("prm/Math-v0")
    env.reset(seed=seed)
    steps = list(env.unwrapped.task.metadata["gold_steps"])  # type: ignore[attr-defined]
    env.close()
    return steps


def feed(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


# -- list / version / usage ---------------------------------------------------------------------
def test_list_shows_every_id_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id, spec in prm_gym.ENV_IDS.items():
        description = spec.description
        line = next(line for line in out.splitlines() if line.startswith(env_id))
        assert line.endswith(description)
    assert "prm/Math-v0" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert prm_gym.__version__ in capsys.readouterr().out


def test_no_command_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: prm-gym" in err
    for command in ("list", "play", "demo", "rollout", "reward-code", "train", "plot"):
        assert f"\n    {command} " in err or f"\n    {command}\n" in err, command
    assert "train-prm" in err and "eval-prm" in err


def test_one_module_per_command() -> None:
    import importlib

    from prm_gym.cli import COMMANDS, build_parser

    names = [c.NAME for c in COMMANDS]
    assert len(names) == len(set(names)) == 10
    for command in COMMANDS:
        module = importlib.import_module(command.__name__)
        assert callable(module.add_parser) and callable(module.run)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(names)  # type: ignore[arg-type]


def _one_line_error(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"prm-gym {command}: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_train_refuses_text_envs_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "prm/Math-v0", "--steps", "10", "--quiet"]) == 2
    line = _one_line_error(capsys.readouterr().err, "train")
    assert "train takes the manipulation envs" in line and "prm/Reach-v0" in line


def test_train_prm_refuses_envs_without_gold_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train-prm", "prm/SQL-v0", "--n", "4", "--out", str(tmp_path), "--quiet"]) == 2
    line = _one_line_error(capsys.readouterr().err, "train-prm")
    assert "prm/Math-v0" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["rollout", "reward-code"])
def test_missing_model_directory_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for model in (str(tmp_path / "no" / "such" / "dir"), "no-such-dir"):
        env_id = "prm/Math-v0" if command == "rollout" else "prm/Reach-v0"
        assert main([command, env_id, "--model", model]) == 2
        line = _one_line_error(capsys.readouterr().err, command)
        assert "no such model directory" in line and "Repo id" not in line


def test_rollout_refuses_manipulation_envs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollout", "prm/Reach-v0", "--model", "x"]) == 2
    assert "rollout takes the text envs" in _one_line_error(capsys.readouterr().err, "rollout")


def test_library_errors_become_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["plot", str(bad)]) == 2
    line = _one_line_error(capsys.readouterr().err, "plot")
    assert "not a learning-curve CSV" in line and "(ValueError)" in line
    monkeypatch.setenv("PRM_GYM_DEBUG", "1")
    with pytest.raises(ValueError, match="not a learning-curve CSV"):
        main(["plot", str(bad)])


def test_python_m_prm_gym_cli_list() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "prm_gym.cli", "list"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "prm/Math-v0" in proc.stdout


# -- play ---------------------------------------------------------------------------------------
def test_play_gold_steps_reaches_outcome_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = gold_steps(0)
    feed(monkeypatch, "\n".join(steps) + "\n")
    assert main(["play", "prm/Math-v0", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "outcome: 1" in out
    assert "gate open: True" in out
    # every step prints its reward components, validity and step label
    assert out.count("components: outcome=") == len(steps)
    assert "process=+0.100" in out and "gate=-0.100" in out
    assert out.count("action_valid: True") == len(steps)
    assert "step_label: True" in out
    # gold steps all verify, so the return is the outcome plus coef per step
    assert f"episode return: {1.0 + 0.1 * len(steps):+.3f}" in out


def test_play_no_gate_and_coef(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = gold_steps(1)
    feed(monkeypatch, steps[0] + "\n:quit\n")
    assert main(["play", "prm/Math-v0", "--seed", "1", "--no-gate", "--coef", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "process=+0.500" in out
    assert "gate=" not in out
    assert "reward: +0.500" in out


def test_play_shows_errors_and_wrong_step_labels(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = corrupt_arithmetic(gold_steps(0)[0], np.random.default_rng(0))
    assert wrong is not None
    feed(monkeypatch, f"   \n{wrong}\n")
    assert main(["play", "prm/Math-v0", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "action_valid: False" in out and "error: empty action" in out
    assert "step_label: False" in out and "process=-0.100" in out
    assert "end of input" in out


def test_hint_prints_next_gold_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = gold_steps(0)
    feed(monkeypatch, f":hint\n{steps[0]}\n:hint\n:quit\n")
    assert main(["play", "prm/Math-v0", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert f"hint: {steps[0]}" in out
    assert f"hint: {steps[1]}" in out
    assert "Stopped after 1 steps" in out


@pytest.mark.parametrize("stdin", ["", ":quit\n", ":help\n:nonsense\n"])
def test_quit_and_eof_exit_zero(
    stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, stdin)
    assert main(["play", "prm/Math-v0", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "Solve the problem step by step" in out  # the prompt was shown
    assert "Episode over" not in out


def test_single_turn_play(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = gold_steps(3)
    feed(monkeypatch, ":hint\n" + "\n".join(steps) + "\n\n")
    assert main(["play", "prm/Math-v0", "--seed", "3", "--single-turn"]) == 0
    out = capsys.readouterr().out
    assert "\n".join(steps) in out  # the hint is the whole gold solution
    assert f"step_label: {[True] * len(steps)}" in out
    assert "outcome: 1" in out


def test_unknown_env_id_exits_2_and_lists_known_ids(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "")
    assert main(["play", "prm/math-v0"]) == 2
    captured = capsys.readouterr()
    assert "unknown environment id 'prm/math-v0'" in captured.err
    assert "Did you mean 'prm/Math-v0'" in captured.err
    assert "prm/Math-v0" in captured.err.splitlines()[-1]
    assert captured.out == ""


def test_non_text_env_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "")
    assert main(["play", "CartPole-v1"]) == 2
    assert "text envs" in capsys.readouterr().err


@pytest.fixture
def unscored_text_env() -> Iterator[str]:
    env_id = "prm-test/UnscoredMath-v0"
    gym.register(id=env_id, entry_point="prm_gym.envs.math.env:MathEnv")
    yield env_id
    del gym.registry[env_id]


def test_env_without_default_scorer_plays_on_outcome(
    unscored_text_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "\n".join(gold_steps(0)) + "\n")
    assert main(["play", unscored_text_env, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "outcome only" in out
    assert "process=" not in out
    assert "episode return: +1.000" in out


# -- demo ---------------------------------------------------------------------------------------
def test_corruptions_change_the_number_and_are_flagged() -> None:
    rng = np.random.default_rng(0)
    verifier = RuleVerifier()
    prompt = "Ana has 12 bags of 3 apples."
    slipped = corrupt_arithmetic("Step 1: 12 * 3 = 36 apples.", rng)
    assert slipped is not None and slipped != "Step 1: 12 * 3 = 36 apples."
    assert slipped.startswith("Step 1: 12 * 3 = ") and slipped.endswith(" apples.")
    assert verifier.score([StepContext(prompt, (), slipped)])[0] < 0
    # the computation, not the last '=': "2x - 10 = 14" is algebra, "4 - 2 = 2" the arithmetic
    step = "Step 1: The x coefficient becomes 4 - 2 = 2, so 2x - 10 = 14."
    slipped = corrupt_arithmetic(step, rng)
    assert slipped is not None and slipped.endswith(", so 2x - 10 = 14.")
    assert corrupt_arithmetic("Step 4: The answer is \\boxed{12}.", rng) is None
    wrong = corrupt_answer("Step 4: The answer is \\boxed{12}.", rng)
    assert wrong is not None and wrong != "Step 4: The answer is \\boxed{12}."
    assert corrupt_answer("no box here", rng) is None


def test_clean_solver_plays_the_gold_steps() -> None:
    env = gym.make("prm/Math-v0")
    env.reset(seed=5)
    task = env.unwrapped.task  # type: ignore[attr-defined]
    plan = NoisySolver(NoiseLevel(0.0, 0.0), np.random.default_rng(0)).plan(task)
    assert [a for a, _ in plan] == list(task.metadata["gold_steps"])
    assert all(kind is None for _, kind in plan)
    with pytest.raises(ValueError, match="gold_steps"):
        NoisySolver(NoiseLevel(0.1, 0.1), np.random.default_rng(0)).plan(object())
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        NoiseLevel(1.5, 0.0)


@pytest.fixture(scope="module")
def records() -> list[Any]:
    return demo_records(episodes=30, seed=0, coef=0.1)


@pytest.fixture(scope="module")
def rows(records: list[Any]) -> dict[tuple[float, float, str], dict[str, Any]]:
    return {(r["p"], r["q"], r["setup"]): r for r in summarize_records(records)}


def test_demo_runs_every_noise_level_and_setup(
    rows: dict[tuple[float, float, str], dict[str, Any]],
) -> None:
    assert len(rows) == len(DEFAULT_NOISE_LEVELS) * len(SETUPS)
    assert all(r["episodes"] == 30 for r in rows.values())


def test_clean_solver_succeeds_and_earns_more_process_reward(
    rows: dict[tuple[float, float, str], dict[str, Any]],
) -> None:
    for setup in SETUPS:
        assert rows[(0.0, 0.0, setup)]["success_rate"] == 1.0
    clean, noisy = rows[(0.0, 0.0, PROCESS)], rows[(0.5, 0.0, PROCESS)]
    assert noisy["success_rate"] == clean["success_rate"]  # outcomes tie ...
    assert clean["process"] > noisy["process"]  # ... the process reward does not
    assert clean["process"] > rows[(0.2, 0.0, PROCESS)]["process"] > noisy["process"]
    assert rows[(0.2, 0.3, PROCESS)]["success_rate"] < 1.0


def test_reward_bookkeeping_per_setup(
    rows: dict[tuple[float, float, str], dict[str, Any]],
) -> None:
    for (_, _, setup), r in rows.items():
        assert r["success_rate"] == pytest.approx(r["outcome"])
        if setup == OUTCOME_ONLY:
            assert r["process"] == 0.0 and r["gate"] == 0.0
            assert r["return"] == pytest.approx(r["outcome"])
            assert r["slip_recall"] is None and r["precision"] is None
        elif setup in (PROCESS, DENSE):
            assert r["gate"] == 0.0
            assert r["return"] == pytest.approx(r["outcome"] + r["process"])
        else:
            assert r["return"] == pytest.approx(r["outcome"] + r["process"] + r["gate"])
            if r["return_failed"] is not None:
                assert r["return_failed"] == pytest.approx(0.0, abs=1e-9)


def test_gated_return_is_outcome_plus_process_on_success_only(records: list[Any]) -> None:
    failures = 0
    for _, setup, episodes in records:
        if setup != GATED:
            continue
        for e in episodes:
            success = e.outcome >= 1.0
            failures += not success
            expected = e.outcome + (e.process if success else 0.0)
            assert e.episode_return == pytest.approx(expected, abs=1e-9)
            assert e.gate == pytest.approx(0.0 if success else -e.process, abs=1e-9)
    assert failures > 0  # the q > 0 solver fails some episodes, so the gate was exercised
    # failed episodes do earn process credit when nothing gates it
    ungated_failed = [
        e.process for _, s, eps in records if s == PROCESS for e in eps if e.outcome < 1.0
    ]
    assert any(p > 0 for p in ungated_failed)


def test_setups_score_identical_actions(records: list[Any]) -> None:
    by_level: dict[NoiseLevel, list[list[Any]]] = {}
    for noise, _, episodes in records:
        by_level.setdefault(noise, []).append(episodes)
    for runs in by_level.values():
        first, *others = [[(e.task_id, e.injected, e.outcome) for e in eps] for eps in runs]
        assert len(others) == len(SETUPS) - 1
        assert all(other == first for other in others)


def test_verifier_flags_injected_slips(
    rows: dict[tuple[float, float, str], dict[str, Any]],
) -> None:
    process_rows = [r for (_, _, s), r in rows.items() if s != OUTCOME_ONLY]
    assert sum(r["slips"] for r in process_rows) > 50
    for r in process_rows:
        if r["slips"] and r["verifier"]:
            assert r["slip_recall"] >= 0.95
        if r["precision"] is not None:
            assert r["precision"] >= 0.95
    assert rows[(0.0, 0.0, PROCESS)]["precision"] is None  # clean steps are never flagged


def test_demo_is_deterministic() -> None:
    a = summarize_records(demo_records(episodes=4, seed=7, noise_levels=[NoiseLevel(0.5, 0.5)]))
    b = summarize_records(demo_records(episodes=4, seed=7, noise_levels=[NoiseLevel(0.5, 0.5)]))
    assert a == b


def test_demo_command_prints_table_and_interpretation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--episodes", "30", "--quiet", "--no-rl"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet: no progress bar
    out = captured.out
    for setup in SETUPS:
        assert setup in out
    assert "success" in out and "slips flagged" in out
    assert "best hack" in out and "under the make_dense" in out
    assert sum(line.startswith("* ") for line in out.splitlines()) >= 2


def test_table_and_interpretation_follow_the_numbers(records: list[Any]) -> None:
    rows = summarize_records(records)
    table = format_demo_table(rows)
    clean = next(r for r in rows if r["setup"] == PROCESS and r["p"] == 0)
    assert f"{clean['process']:+.3f}" in table
    text = " ".join(interpret_demo(rows))
    assert f"{clean['process']:+.3f}" in text


def test_demo_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--episodes", "2", "--no-rl"]) == 0
    assert "demo episodes" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--episodes", "0"], ["--episodes", "x"], ["--coef", "nan"]])
def test_demo_rejects_bad_arguments(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", *bad]) == 2
    assert "prm-gym demo: error" in capsys.readouterr().err


def test_demo_quick_runs_the_math_table_with_30_episodes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--quick", "--quiet", "--no-rl"]) == 0
    out = capsys.readouterr().out
    assert "30 episodes per noise level" in out
    assert "Reach-v0" not in out  # --no-rl


def test_demo_rl_section_runs_with_a_tiny_budget(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--episodes", "2", "--quiet", "--rl-steps", "80", "--rl-eval-episodes", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "prm/Reach-v0" in out
    for label, _ in RL_VARIANTS:
        assert label in out
    assert any(line.startswith("* With the staged potential") for line in out.splitlines())


def test_rl_rows_have_both_variants_on_the_same_steps() -> None:
    rows = rl_rows(total_timesteps=40, eval_every=20, eval_episodes=1)
    assert [r["shaping"] for r in rows] == [shaping for _, shaping in RL_VARIANTS]
    assert rows[0]["steps"] == rows[1]["steps"] == [0, 20, 40]
    for r in rows:
        assert all(0.0 <= x <= 1.0 for x in r["success_rate"])
        assert r["final_success"] == r["success_rate"][-1]
    table = format_rl_table(rows)
    assert "staged potential" in table and "sparse (no shaping)" in table
    text = " ".join(interpret_rl(rows))
    assert f"{rows[0]['final_success']:.2f}" in text or "reaches" in text


@pytest.mark.slow
def test_rl_section_shaped_reach_reaches_80_percent() -> None:
    rows = rl_rows(total_timesteps=6_000, seed=0, eval_every=1_000, eval_episodes=20)
    shaped = next(r for r in rows if r["shaping"] == "potential")
    assert shaped["steps_to_threshold"] is not None, shaped["success_rate"]
