"""RuleVerifier and the answer checker: gold steps pass, corrupted steps are caught exactly."""

from __future__ import annotations

import re
import threading
import time

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401
from prm_gym.core import StepContext
from prm_gym.envs.math import (
    FAMILIES,
    LEVELS,
    MathConfig,
    answers_match,
    extract_claims,
    extract_final_answer,
    generate,
    parse_number,
    split_steps,
    verify_steps,
)
from prm_gym.envs.math.answers import AnswerTimeout, call_with_time_limit
from prm_gym.envs.math.steps import known_numbers
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import ProcessReward

SEEDS = range(40)  # x 3 families x 5 levels = 600 tasks


def _tasks():
    for family in FAMILIES:
        for level in LEVELS:
            config = MathConfig(families=(family,), levels=(level,))
            for seed in SEEDS:
                yield generate(config, seed)


def _corrupt_result(step: str, rng: np.random.Generator) -> str | None:
    """Change the result of one arithmetic claim in ``step`` to a wrong value."""
    claims = len(extract_claims(step))
    for m in re.finditer(r"= (-?\d+(?:\.\d+)?)(?![\d/])", step):
        wrong = float(m[1]) + int(rng.integers(1, 9))
        text = str(int(wrong)) if wrong.is_integer() else f"{wrong:g}"
        candidate = step[: m.start(1)] + text + step[m.end(1) :]
        after = extract_claims(candidate)
        if len(after) == claims and not all(c.correct for c in after):
            return candidate
    return None


def test_every_gold_step_is_correct_on_600_tasks() -> None:
    verifier = RuleVerifier()
    count = repeats = 0
    for task in _tasks():
        steps = list(task.metadata["gold_steps"])
        contexts = [
            StepContext(task.prompt, tuple(steps[:i]), s, task=task) for i, s in enumerate(steps)
        ]
        scores = verifier.score(contexts)
        assert scores.dtype == np.float32
        verdicts = verify_steps(task.prompt, steps, task)
        assert all(v.correct and v.checked for v in verdicts), (task.id, verdicts)
        # A gold step scores 1 unless it repeats a computation of the same solution (three
        # tasks, e.g. "2 * 11 = 22" then later "11 * 2 = 22"): a repeated claim earns nothing.
        expected = [0.0 if v.redundant else 1.0 for v in verdicts]
        assert scores.tolist() == expected, (task.id, scores, steps)
        for v in verdicts:
            if v.redundant:
                assert v.reason and "already established" in v.reason
                repeats += 1
        count += 1
    assert count >= 500
    assert repeats <= 5


def test_one_corrupted_step_is_flagged_at_exactly_that_step() -> None:
    rng = np.random.default_rng(0)
    checked = 0
    for task in _tasks():
        steps = list(task.metadata["gold_steps"])
        k = int(rng.integers(0, len(steps) - 1))  # any step but the final-answer line
        bad = _corrupt_result(steps[k], rng)
        if bad is None:
            continue
        corrupted = [*steps[:k], bad, *steps[k + 1 :]]
        verdicts = verify_steps(task.prompt, corrupted, task)
        flagged = [i for i, v in enumerate(verdicts) if not v.correct]
        assert flagged == [k], (task.id, k, bad, [v.reason for v in verdicts])
        checked += 1
    assert checked >= 500


def test_unknown_operand_is_flagged() -> None:
    task = generate(MathConfig(families=("arithmetic",), levels=(3,)), 1)
    steps = list(task.metadata["gold_steps"])
    # a true equation built on a number that appears nowhere in the problem
    steps.insert(1, "Step 2: 9973 * 2 = 19946")
    verdicts = verify_steps(task.prompt, steps, task)
    assert [v.correct for v in verdicts].count(False) == 1 and not verdicts[1].correct
    assert "9973" in (verdicts[1].reason or "")


def test_process_reward_flags_corrupted_step_in_env() -> None:
    env = ProcessReward(gym.make("prm/Math-v0"), RuleVerifier(), coef=1.0)
    rng = np.random.default_rng(3)
    for seed in range(60):
        env.reset(seed=seed)
        task = env.unwrapped.task
        steps = list(task.metadata["gold_steps"])
        k = int(rng.integers(0, len(steps) - 1))
        bad = _corrupt_result(steps[k], rng)
        if bad is None:
            continue
        steps[k] = bad
        labels, process = [], []
        for step in steps:
            *_, terminated, truncated, info = env.step(step)
            labels.append(info["step_label"])
            process.append(info["reward_components"]["process"])
            if terminated or truncated:
                break
        assert labels == [i != k for i in range(len(steps))]
        assert process == [-1.0 if i == k else 1.0 for i in range(len(steps))]


def test_rule_verifier_scores_and_unchecked_steps() -> None:
    v = RuleVerifier(correct=1.0, incorrect=-1.0, unchecked=0.25)
    prompt = "Ana has 12 bags with 3 apples each."
    ctxs = [
        StepContext(prompt, (), "Step 1: 12 * 3 = 36"),
        StepContext(prompt, (), "Step 1: 12 * 3 = 38"),
        StepContext(prompt, (), "Let me think about this."),
        StepContext(prompt, ("Step 1: 12 * 3 = 36",), "Step 2: 36 + 4 = 40"),
        StepContext(prompt, ("Step 1: 12 * 3 = 36",), "So the answer is \\boxed{36}"),
        StepContext(prompt, ("Step 1: 12 * 3 = 36",), "So the answer is \\boxed{37}"),
        StepContext(prompt, (), "Step 1: 12 / 0 = 5"),
    ]
    assert v.score(ctxs).tolist() == [1.0, -1.0, 0.25, -1.0, 1.0, -1.0, -1.0]
    assert v.score([]).shape == (0,)


def test_results_of_wrong_steps_do_not_become_known() -> None:
    prompt = "Ana has 12 bags with 3 apples each."
    verdicts = verify_steps(prompt, ["12 * 3 = 38", "38 + 3 = 41", "38 + 1 = 39"])
    # Building on the wrong 38 with a number of the problem is wrong; with a constant alone it
    # computes from nothing known, so it is idle (scored 0), never credited.
    assert [x.correct for x in verdicts] == [False, False, True]
    assert verdicts[2].redundant and not verdicts[2].new_values
    scores = RuleVerifier().score(
        [StepContext(prompt, ("12 * 3 = 38",), s) for s in ("38 + 3 = 41", "38 + 1 = 39")]
    )
    assert scores.tolist() == [-1.0, 0.0]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("Step 1: 12 * 3 = 36", [("12 * 3 = 36", True)]),
        ("Subtract 3: 2x = 11 - 3 = 8", [("11 - 3 = 8", True)]),
        ("2x + 3 = 11", []),
        ("20% of 50 = 10", []),
        ("so 5 + 3 = 8, then 8 * 2 = 17.", [("5 + 3 = 8", True), ("8 * 2 = 17", False)]),
        ("\\frac{1}{2} \\times 10 = 5", [("(1)/(2) * 10 = 5", True)]),
        ("12 × 3 − 6 ÷ 2 = 33", [("12 * 3 - 6 / 2 = 33", True)]),
        ("(12 * 3 = 36)", [("12 * 3 = 36", True)]),
        ("10 / 3 = 3.33", [("10 / 3 = 3.33", True)]),
        ("10 / 3 = 3.4", [("10 / 3 = 3.4", False)]),
        ("$1,200 - $200 = $1,000", [("1200 - 200 = 1000", True)]),
        ("x2 = 4", []),
        ("12 = 3x", []),
        ("7 / 2 = 7/2", [("7 / 2 = 7/2", True)]),
        ("a <= 3 + 4 = 7", [("3 + 4 = 7", True)]),
    ],
)
def test_claim_extraction(step: str, expected: list[tuple[str, bool]]) -> None:
    assert [(c.text, c.correct) for c in extract_claims(step)] == expected


def test_split_steps() -> None:
    assert split_steps("Step 1: a\nmore\nStep 2: b") == ["Step 1: a\nmore", "Step 2: b"]
    assert split_steps("first\n\nsecond\n") == ["first", "second"]
    assert split_steps("intro\nStep 1: a") == ["intro", "Step 1: a"]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("Answer: 42.", "42"),
        ("The final answer is: 7", "7"),
        ("\\boxed{}", None),
        ("no answer here", None),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ],
)
def test_extract_final_answer(text: str, answer: str | None) -> None:
    assert extract_final_answer(text) == answer


@pytest.mark.parametrize(
    ("gold", "pred", "match"),
    [
        ("1/2", "0.5", True),
        ("0.5", "\\frac{1}{2}", True),
        ("\\frac{1}{2}", "1/2", True),
        ("1234", "1,234", True),
        ("-3", "−3", True),
        ("50", "50\\%", True),
        ("2", "3", False),
        ("1/3", "0.33", False),
        ("x^2 + 2x + 1", "(x+1)^2", True),
        ("\\sqrt{2}", "2^{1/2}", True),
        ("\\sqrt{2}", "1.5", False),
        ("3", "three apples", False),
    ],
)
def test_answers_match(gold: str, pred: str, match: bool) -> None:
    assert answers_match(gold, pred) is match


def test_parse_number_rejects_garbage() -> None:
    assert parse_number("12abc") is None
    assert parse_number("1" * 100) is None
    assert parse_number("1/0") is None


def test_time_limit_on_main_thread_and_in_worker_threads() -> None:
    def slow() -> int:
        time.sleep(5)
        return 1

    start = time.perf_counter()
    with pytest.raises(AnswerTimeout):
        call_with_time_limit(slow, 0.2)
    assert time.perf_counter() - start < 2
    assert call_with_time_limit(lambda: 7, 1.0) == 7

    errors: list[BaseException] = []

    def worker() -> None:
        try:
            call_with_time_limit(slow, 0.2)
        except AnswerTimeout:
            return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        errors.append(AssertionError("no timeout off the main thread"))

    thread = threading.Thread(target=worker)
    start = time.perf_counter()
    thread.start()
    thread.join()
    assert not errors and time.perf_counter() - start < 2


def test_answers_match_works_off_main_thread() -> None:
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(answers_match("\\sqrt{4}", "2")))
    thread.start()
    thread.join()
    assert results == [True]


def test_sign_flipped_answer_is_flagged() -> None:
    prompt = "Solve for x: 3x + 6 = 0."
    ok = verify_steps(prompt, ["x = -6 / 3 = -2", "\\boxed{-2}"])
    flipped = verify_steps(prompt, ["x = -6 / 3 = -2", "\\boxed{2}"])
    assert [v.correct for v in ok] == [True, True]
    assert [v.correct for v in flipped] == [True, False]


def test_step_markers_on_one_line_split() -> None:
    text = "Step 1: 12 * 3 = 36. Step 2: 36 + 5 = 41. Step 3: \\boxed{41}"
    assert split_steps(text) == [
        "Step 1: 12 * 3 = 36.",
        "Step 2: 36 + 5 = 41.",
        "Step 3: \\boxed{41}",
    ]


HOSTILE_STEPS = {
    "deep-parens": "(" * 4000 + "1" + ")" * 4000 + " = 1",
    "deep-signs": "-" * 8000 + "1 = 1",
    "long-sum": "1 + " * 2000 + "1 = 5",
    "digit-run": "9" * 8000 + " = 9",
    "digit-run-slash": "9" * 8000 + " / " + "9" * 100 + "%",
    "many-equals": "1 = " * 2000,
}


@pytest.mark.parametrize("step", list(HOSTILE_STEPS.values()), ids=list(HOSTILE_STEPS))
def test_hostile_steps_are_judged_quickly_without_errors(step: str) -> None:
    start = time.perf_counter()
    verdict = verify_steps("Ana has 12 bags with 3 apples each.", [step])[0]
    known_numbers(step)
    assert time.perf_counter() - start < 2.0
    assert verdict.correct is not None  # a verdict, not an exception
    env = ProcessReward(gym.make("prm/Math-v0"), RuleVerifier())
    env.reset(seed=0)
    *_, info = env.step(step)
    assert info["action_valid"] is True  # the checker never turns a long step into an error


def test_deep_nesting_is_not_a_claim_but_shallow_nesting_is() -> None:
    assert extract_claims("(" * 100 + "2 * 3" + ")" * 100 + " = 6") == []
    assert [c.correct for c in extract_claims("((2 * 3)) = 6")] == [True]
