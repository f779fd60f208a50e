"""Math-v0 final answers with units, currency, percent, thousands separators and words."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import gymnasium as gym
import pytest

import prm_gym
from prm_gym.envs.math.answers import answers_match, extract_final_answer, parse_answer_number
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import ProcessReward

# (gold, predicted): equal once units, currency, separators and words are set aside.
POSITIVE = [
    ("30", "30 dollars"),
    ("30", "$30"),
    ("30", "30.00"),
    ("30", "\\$30"),
    ("30", "\\$30.00"),
    ("30", "30$"),
    ("30", "$30$ dollars"),
    ("30", "30 \\text{ cm}"),
    ("30", "30\\,\\text{cm}"),
    ("30", "30 \\text{m}"),
    ("30", "30 \\mathrm{cm}"),
    ("30", "\\text{30 dollars}"),
    ("30", "\\mbox{30 dollars}"),
    ("30", "30 \\text{ dollars}"),
    ("30", "USD 30"),
    ("30", "30 USD"),
    ("30", "€30"),
    ("30", "30 €"),
    ("30", "30 (dollars)"),
    ("30", "30 dollars."),
    ("30", "30^\\circ"),
    ("30", "30°"),
    ("30", "30 cm^2"),
    ("30", "30\\text{ m}^2"),
    ("30", "30 sec"),
    ("1200", "1,200 apples"),
    ("1200", "1,200"),
    ("1200", "1{,}200"),
    ("1200", "£1,200"),
    ("1200", "$1,200.00"),
    ("1200", "1.2 thousand"),
    ("1200000", "1.2 million dollars"),
    ("12", "12 apples."),
    ("5", "5 hours per day"),
    ("5", "5-year-olds"),
    ("60", "60 km/h"),
    ("60", "60 m/s"),
    ("500", "¥500"),
    ("50", "50¢"),
    ("50", "50 cents"),
    ("3", "3 o'clock"),
    ("-5", "-5 degrees"),
    ("-5", "-$5"),
    ("25", "25%"),
    ("25", "25 \\%"),
    ("25", "25 percent"),
    ("0.75", "3/4 dollars"),
    ("0.75", "\\frac{3}{4} \\text{ cup}"),
    ("\\frac{1}{2}", "0.5 cup"),
    ("5 \\text{ cm}", "5"),
    ("\\$1,200", "1200 dollars"),
]

# (gold, predicted): different, although one of them carries a unit or words.
NEGATIVE = [
    ("30", "31 dollars"),
    ("30", "$31"),
    ("30", "30.01 dollars"),
    ("30", "30 and 40"),
    ("40", "30 and 40"),
    ("30", "30 dollars and 50 cents"),
    ("30", "300 dollars"),
    ("30", "3,000"),
    ("3", "3/4 dollars"),
    ("4", "3/4 dollars"),
    ("2", "2 x"),
    ("2", "2x"),
    ("2", "2 y"),
    ("2", "2 pi"),
    ("5", "5 squared"),
    ("25", "5 squared"),
    ("5", "5 - x"),
    ("5", "5-x"),
    ("0.25", "25%"),
    ("1", "1, 2"),
    ("12", "1, 2"),
    ("1.2", "1.2 million"),
    ("24", "2 dozen"),
    ("30", "-30 dollars"),
    ("1200", "1,200,000 apples"),
    ("100", "100!"),
    ("5", "5! ways"),
]


@pytest.mark.parametrize(("gold", "predicted"), POSITIVE)
def test_unit_bearing_answer_matches_its_plain_value(gold: str, predicted: str) -> None:
    assert answers_match(gold, predicted)


@pytest.mark.parametrize(("gold", "predicted"), NEGATIVE)
def test_different_number_or_not_one_number_does_not_match(gold: str, predicted: str) -> None:
    assert not answers_match(gold, predicted)


def test_table_is_large_enough() -> None:
    assert len(POSITIVE) + len(NEGATIVE) >= 40


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30 dollars", Fraction(30)),
        ("\\$1{,}234.50", Fraction(246_9, 2)),
        ("\\frac{3}{4} \\text{ cup}", Fraction(3, 4)),
        ("2.5 billion", Fraction(2_500_000_000)),
        ("2 x", None),
        ("30 and 40", None),
        ("5 \\sqrt{2} cm", None),
        ("x = 30", None),
        ("", None),
        ("dollars", None),
        ("9" * 300 + " dollars", None),
    ],
)
def test_parse_answer_number(text: str, value: Fraction | None) -> None:
    assert parse_answer_number(text) == value


def test_expression_gold_is_left_to_math_verify() -> None:
    # The gold is the expression itself: only an equal expression matches.
    assert answers_match("30 and 40", "30 and 40")
    assert answers_match("2x", "2 x")
    assert not answers_match("2x", "2")


def test_extraction_keeps_the_unit_for_the_checker() -> None:
    assert extract_final_answer("So 30.\nAnswer: 30 dollars.") == "30 dollars"
    assert extract_final_answer("Total: \\boxed{1,200 \\text{ apples}}") == "1,200 \\text{ apples}"


def test_long_hostile_tails_stay_fast() -> None:
    import time

    start = time.perf_counter()
    for text in ("1 " + "a " * 5000, "1" + " -" * 5000, "$" * 10_000 + "5", "5" + "\\text{" * 3000):
        parse_answer_number(text)
        answers_match("1", text[:900], timeout=1.0)
    assert time.perf_counter() - start < 10.0


def _gsm8k(tmp_path: Path) -> str:
    records = [
        {
            "question": "Tom buys 3 shirts at $10 each. How much does he spend?",
            "answer": "3 * 10 = <<3*10=30>>30 dollars\n#### 30",
        },
        {
            "question": "An orchard has 400 rows of 3 trees. How many trees?",
            "answer": "400 * 3 = <<400*3=1200>>1200\n#### 1,200",
        },
        {
            "question": "A car drives 120 km in 2 hours. What is its speed?",
            "answer": "120 / 2 = <<120/2=60>>60\n#### 60",
        },
    ]
    path = tmp_path / "gsm8k_units.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("index", "action", "reward"),
    [
        (0, "He spends 3 * 10 = 30 dollars.\nAnswer: 30 dollars", 1.0),
        (0, "Answer: $30", 1.0),
        (0, "Answer: \\$30.00", 1.0),
        (0, "Answer: 31 dollars", 0.0),
        (0, "Answer: 30 and 40", 0.0),
        (1, "\\boxed{1,200}", 1.0),
        (1, "The orchard has \\boxed{1,200 \\text{ trees}}.", 1.0),
        (1, "Answer: 1,200 trees.", 1.0),
        (1, "Answer: 1,300 trees.", 0.0),
        (2, "\\boxed{60 \\text{ km/h}}", 1.0),
        (2, "Answer: 60 km/h", 1.0),
        (2, "Answer: 60 x", 0.0),
    ],
)
def test_gsm8k_records_end_to_end(tmp_path: Path, index: int, action: str, reward: float) -> None:
    env = gym.make("prm/Math-v0", tasks=_gsm8k(tmp_path))
    env.reset(options={"task_index": index})
    _, r, terminated, _, info = env.step(action)
    assert terminated and r == reward and info["outcome"] == reward


def test_math_progress_credits_a_unit_bearing_answer(tmp_path: Path) -> None:
    env = prm_gym.make_dense("prm/Math-v0", tasks=_gsm8k(tmp_path))
    env.reset(options={"task_index": 0})
    _, right, *_, info = env.step("Answer: 30 dollars")
    assert info["reward_components"]["outcome"] == 1.0
    assert info["reward_components"]["progress"] > 0.0
    env.reset(options={"task_index": 0})
    _, wrong, *_, info = env.step("Answer: 31 dollars")
    assert info["reward_components"] == {"outcome": 0.0, "progress": 0.0}
    assert float(right) > float(wrong) == 0.0


def test_rule_verifier_judges_a_unit_bearing_answer(tmp_path: Path) -> None:
    env = ProcessReward(gym.make("prm/Math-v0", tasks=_gsm8k(tmp_path)), RuleVerifier())
    env.reset(options={"task_index": 1})
    assert env.step("400 * 3 = 1200")[4]["reward_components"]["process"] > 0.0
    info = env.step("So the orchard has \\boxed{1,200 \\text{ trees}}.")[4]
    assert info["reward_components"]["outcome"] == 1.0
    assert info["reward_components"]["process"] > 0.0
    env.reset(options={"task_index": 1})
    env.step("400 * 3 = 1200")
    info = env.step("So the orchard has \\boxed{1,300 \\text{ trees}}.")[4]
    assert info["reward_components"]["outcome"] == 0.0
    assert info["reward_components"]["process"] <= 0.0
