"""prm/Math-v0 reward integrity: the hack kit against the raw sum and the recommended stack,
and the progress measure behind that stack (issue 14)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from itertools import pairwise
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym
from prm_gym.core import StepContext, Task
from prm_gym.core.assets import family_assets
from prm_gym.envs.math import (
    FAMILIES,
    LEVELS,
    MathConfig,
    MathEnv,
    MathProgress,
    generate,
    gold_units,
    hacks,
)
from prm_gym.envs.math.assets import DEFAULT_COEF
from prm_gym.envs.math.steps import known_numbers, numbers_in
from prm_gym.rewards import RuleVerifier
from prm_gym.testing import check_reward_integrity
from prm_gym.testing.reward_integrity import run_policy
from prm_gym.wrappers import GatedAccumulation, ProcessReward, ProgressReward

EPISODES = 30
SEEDS = range(EPISODES)


def _returns(env: gym.Env[Any, Any], factory: Callable[[], Any]) -> np.ndarray:
    returns, _, _ = run_policy(env, factory, SEEDS)
    return np.asarray(returns)


def _raw() -> gym.Env[Any, Any]:
    return ProcessReward(gym.make("prm/Math-v0"), RuleVerifier())


@pytest.fixture(scope="module")
def raw_gold() -> np.ndarray:
    return _returns(_raw(), hacks.gold_policy)


# ---------------------------------------------------------------------------------------------
# The raw per-step sum (ProcessReward(env, RuleVerifier()), coef 1): what each hack earns there.
# Before issue 14 it paid 14.0 for "1 + 1 = 2" x12 and 22.0 for a repeated step (gold 4.6).


def test_raw_gold_earns_one_per_step(raw_gold: np.ndarray) -> None:
    # Every gold step is new work (+1) and the outcome adds 1; 3 of 2305 gold steps repeat an
    # earlier claim and earn 0 (none among these 30 tasks).
    env = _raw()
    lengths = []
    for seed in SEEDS:
        env.reset(seed=seed)
        lengths.append(len(env.unwrapped.task.metadata["gold_steps"]))  # type: ignore[attr-defined]
    assert raw_gold.tolist() == [n + 1.0 for n in lengths]


def test_raw_pad_true_earns_at_most_one_step(raw_gold: np.ndarray) -> None:
    # "1 + 1 = 2" computes from constants; it is grounded (once) only where the problem itself
    # writes a 1 as a digit, so twelve of them earn at most one step's score.
    returns = _returns(_raw(), hacks.pad_true_then_answer)
    assert set(returns.tolist()) <= {2.0, 3.0}  # answer (+1) and outcome (1), at most +1 more
    assert returns.mean() < raw_gold.mean()


def test_raw_repeat_first_step_pays_it_once(raw_gold: np.ndarray) -> None:
    returns = _returns(_raw(), hacks.repeat_first_step_then_answer)
    assert returns.tolist() == [3.0] * EPISODES  # first step + answer + outcome
    assert returns.mean() < raw_gold.mean()


def test_raw_restated_numbers_and_bare_answer_earn_only_the_answer() -> None:
    for factory in (hacks.restate_problem_numbers, hacks.answer_only):
        assert _returns(_raw(), factory).tolist() == [2.0] * EPISODES


def test_raw_wrong_answer_from_problem_is_wrong() -> None:
    env = _raw()
    for seed in SEEDS:
        env.reset(seed=seed)
        policy = hacks.wrong_answer_from_problem()
        action = policy("", {}, env)
        *_, info = env.step(action)
        task = env.unwrapped.task  # type: ignore[attr-defined]
        boxed = action.split("{")[1].split("}")[0]
        assert Fraction(boxed) in known_numbers(task.prompt)  # a number of the problem
        assert info["outcome"] == 0.0
        assert info["step_label"] is False
        assert info["reward_components"]["process"] == -1.0


@pytest.mark.parametrize("gated", [False, True], ids=["ProcessReward", "Gated(ProcessReward)"])
def test_raw_sum_is_farmed_by_counting_up(gated: bool, raw_gold: np.ndarray) -> None:
    """The hazard of the raw sum: every *new* true computation is paid, relevant or not."""
    env = _raw()
    if gated:
        env = GatedAccumulation(env)
        gold = _returns(env, hacks.gold_policy)
    else:
        gold = raw_gold
    farmed = _returns(env, hacks.count_up_then_answer)
    assert farmed.tolist() == [17.0] * EPISODES  # 15 counting steps + answer + outcome
    assert farmed.mean() > 3 * gold.mean()


# ---------------------------------------------------------------------------------------------
# The recommended stack: prm_gym.make_dense("prm/Math-v0") = ProgressReward(env, MathProgress())


def test_assets_are_registered_and_complete() -> None:
    assets = family_assets("prm/Math-v0")
    assert set(assets.hack_policies) == set(hacks.HACKS)
    assert assets.default_coef == DEFAULT_COEF
    env = prm_gym.make_dense("prm/Math-v0")
    assert isinstance(env, ProgressReward) and isinstance(env.measure, MathProgress)
    assert env.coef == DEFAULT_COEF
    assert prm_gym.make_dense("prm/Math-v0", coef=0.1).coef == 0.1  # type: ignore[attr-defined]


@pytest.mark.parametrize("single_turn", [False, True], ids=["multi-step", "single-turn"])
def test_make_dense_pays_gold_strictly_more_than_every_hack(single_turn: bool) -> None:
    report = check_reward_integrity(
        "prm/Math-v0",
        episodes=EPISODES,
        coefs=(None, 0.1, 1.0),
        env_kwargs={"single_turn": single_turn},
    )
    assert report.ok, str(report)
    for coef in (None, 0.1, 1.0):
        gold = report.gold("dense", coef)
        scale = DEFAULT_COEF if coef is None else coef
        assert gold.mean_return == pytest.approx(1.0 + scale)  # outcome + the whole progress
        hack_rows = [r for r in report.rows if r.coef == coef and not r.is_gold]
        assert {r.policy for r in hack_rows} == set(hacks.HACKS)
        for row in hack_rows:
            assert row.mean_return < gold.mean_return - 1e-6, (coef, row)
            assert row.mean_return <= 1.0 + scale  # no stack pays beyond outcome + coef


def test_dense_total_is_coef_times_best_progress() -> None:
    env = prm_gym.make_dense("prm/Math-v0", coef=1.0)
    for factory in (hacks.gold_policy, *hacks.HACKS.values()):
        obs, info = env.reset(seed=7)
        policy, total, done = factory(), 0.0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, info, env))
            total += info["reward_components"]["progress"]
            done = terminated or truncated
        assert total == pytest.approx(env.best)  # type: ignore[attr-defined]
        assert 0.0 <= total <= 1.0


# ---------------------------------------------------------------------------------------------
# MathProgress


def _phis(task: Task, steps: list[str], measure: MathProgress | None = None) -> list[float]:
    measure = measure or MathProgress()
    contexts = [
        StepContext(task.prompt, tuple(steps[:i]), s, task=task) for i, s in enumerate(steps)
    ]
    return measure.progress(contexts).tolist()


def _all_tasks(seeds: range = range(10)) -> list[Task]:
    return [
        generate(MathConfig(families=(f,), levels=(lvl,)), s)
        for f in FAMILIES
        for lvl in LEVELS
        for s in seeds
    ]


def test_progress_is_monotone_along_gold_and_one_at_its_end() -> None:
    measure = MathProgress()
    for task in _all_tasks(range(20)):  # 300 tasks
        phis = _phis(task, list(task.metadata["gold_steps"]), measure)
        assert all(0.0 < p <= 1.0 for p in phis), (task.id, phis)
        assert all(b >= a for a, b in pairwise(phis)), (task.id, phis)
        assert phis[-1] == 1.0, (task.id, phis)


def test_repeated_steps_add_nothing() -> None:
    task = generate(MathConfig(families=("arithmetic",), levels=(3,)), 1)
    first = task.metadata["gold_steps"][0]  # "Fatima starts with 8 * 12 = 96 coins."
    once = _phis(task, [first])[0]
    assert once == pytest.approx(1 / len(gold_units(task)))
    again = _phis(task, [first, first, first, "12 * 8 = 96", "96 = 8 * 12", "8 * 12 * 1 = 96"])
    assert again == [once] * 6


def test_constants_only_arithmetic_adds_nothing() -> None:
    checked = 0
    for task in _all_tasks():
        given = known_numbers(task.prompt)
        for value in gold_units(task):
            if not isinstance(value, Fraction) or value.denominator != 1 or value < 3:
                continue
            a = value - 1
            if a in given or a in {abs(u) for u in gold_units(task) if isinstance(u, Fraction)}:
                continue  # a would ground the claim: that is real work
            # 0 and 1 are constants unless the problem writes them ("x + 1", "1/3 of them")
            written = set(numbers_in(task.prompt))
            steps = [f"{a} + 1 = {value}"]
            if Fraction(1) not in written:
                steps += ["1 + 1 = 2", f"{value} * 1 = {value}"]
            if Fraction(0) not in written:
                steps.append(f"0 + {value} = {value}")
            if not {Fraction(2), Fraction(3)} & (given | gold_units(task)):
                steps.append("2 * 3 = 6")
            assert _phis(task, steps) == [0.0] * len(steps), (task.id, steps)
            checked += 1
    assert checked >= 50


def test_wrong_answers_and_restated_numbers_add_nothing() -> None:
    for task in _all_tasks(range(4)):
        numbers = sorted(known_numbers(task.prompt) - {Fraction(str(task.answer))})
        wrong = f"\\boxed{{{numbers[-1]}}}"  # a number of the problem, but not the answer
        restated = [f"{n} = {n}" for n in numbers]
        assert _phis(task, [*restated, wrong]) == [0.0] * (len(numbers) + 1), task.id


def test_answer_alone_earns_one_unit() -> None:
    for task in _all_tasks(range(4)):
        phi = _phis(task, [f"\\boxed{{{task.answer}}}"])[0]
        assert phi == pytest.approx(1 / len(gold_units(task)))


def test_progress_steps_are_checked_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    from prm_gym.envs.math import progress as progress_module

    calls = []
    original = progress_module.StepChecker.check

    def counting(self: Any, step: str, reported: Any = None) -> Any:
        calls.append(step)
        return original(self, step, reported)

    monkeypatch.setattr(progress_module.StepChecker, "check", counting)
    env = prm_gym.make_dense("prm/Math-v0")
    env.reset(seed=3)
    policy = hacks.pad_true_then_answer()
    done, steps = False, 0
    while not done:
        *_, terminated, truncated, _ = env.step(policy("", {}, env))
        steps += 1
        done = terminated or truncated
    # The env checks each step once for its step labels, the measure once more: never the
    # whole prefix again.
    assert steps == 13 and len(calls) == 2 * steps


def test_single_turn_progress_matches_multi_step() -> None:
    single = prm_gym.make_dense("prm/Math-v0", coef=1.0, single_turn=True)
    multi = prm_gym.make_dense("prm/Math-v0", coef=1.0)
    for factory in (hacks.gold_policy, hacks.repeat_first_step_then_answer, hacks.answer_only):
        for seed in range(10):
            single.reset(seed=seed)
            *_, info = single.step(factory()("", {}, single))
            multi_total = _returns_one(multi, factory, seed)
            assert info["reward_components"]["progress"] == pytest.approx(multi_total)


def _returns_one(env: gym.Env[Any, Any], factory: Callable[[], Any], seed: int) -> float:
    env.reset(seed=seed)
    policy, total, done = factory(), 0.0, False
    while not done:
        *_, terminated, truncated, info = env.step(policy("", {}, env))
        total += info["reward_components"]["progress"]
        done = terminated or truncated
    return total


def test_dataset_tasks_progress() -> None:
    gsm = Task(
        "g",
        "Ana has 3 bags of 4 apples and eats 2. How many are left?",
        "10",
        {"source": "gsm8k", "values": ("12", "10")},
    )
    assert gold_units(gsm) == {Fraction(12), Fraction(10)}
    assert _phis(gsm, ["3 * 4 = 12", "12 - 2 = 10", "\\boxed{10}"]) == [0.5, 1.0, 1.0]
    assert _phis(gsm, ["\\boxed{10}"]) == [0.5]
    maths = Task("m", "What is $\\frac{1}{2} + \\frac{1}{4}$?", "\\frac{3}{4}", {"source": "math"})
    # A numeric answer is reached by computing it or by stating it.
    assert _phis(maths, ["1/2 + 1/4 = 3/4", "\\boxed{0.75}"]) == [1.0, 1.0]
    assert _phis(maths, ["1/2 + 1/2 = 1", "\\boxed{0.75}"]) == [0.0, 1.0]
    assert _phis(maths, ["\\boxed{0.5}"]) == [0.0]
    latex = Task("l", "Factor x^2 + 2x + 1.", "(x+1)^2", {"source": "math"})
    assert gold_units(latex) == {"answer"}
    no_task = StepContext("What is 2 + 2?", (), "\\boxed{4}")
    assert MathProgress().progress([no_task]).tolist() == [0.0]


def test_dataset_env_gold_policy_solves_gsm8k_record() -> None:
    record = {
        "question": "Ana has 3 bags of 4 apples. How many?",
        "answer": "3*4=<<3*4=12>>12\n#### 12",
    }
    env = ProgressReward(MathEnv(tasks=[record]), MathProgress())
    env.reset(seed=0)
    policy, total, done = hacks.gold_policy(), 0.0, False
    while not done:
        *_, terminated, truncated, info = env.step(policy("", {}, env))
        total += info["reward_components"]["progress"]
        done = terminated or truncated
    assert info["outcome"] == 1.0 and total == pytest.approx(1.0)


def test_hacks_fit_max_steps() -> None:
    for max_steps in (3, 16):
        env = gym.make("prm/Math-v0", max_steps=max_steps)
        for name, factory in hacks.HACKS.items():
            obs, info = env.reset(seed=2)
            policy, n, done = factory(), 0, False
            while not done:
                obs, _, terminated, truncated, info = env.step(policy(obs, info, env))
                n += 1
                done = terminated or truncated
            assert terminated and n <= max_steps, name  # the answer always gets in


# ---------------------------------------------------------------------------------------------
# solutions for PRM training


def test_solutions_replay_the_noisy_solver() -> None:
    """``ASSETS.solutions`` is what ``make_prm_dataset`` used to build itself."""
    from prm_gym.envs.math import NoiseLevel, NoisySolver

    solutions = family_assets("prm/Math-v0").solutions
    assert solutions is not None
    sols = solutions(12, 5, noise=(0.3, 0.5), samples_per_task=2, levels=(1, 2))
    solver = NoisySolver(NoiseLevel(0.3, 0.5), np.random.default_rng(5))
    config = MathConfig(levels=(1, 2))
    for i, sol in enumerate(sols):
        task = generate(config, 5 + i // 2)
        plan = solver.plan(task)
        assert sol.task == task and sol.task_seed == 5 + i // 2
        assert sol.actions == tuple(a for a, _ in plan)
        assert sol.errors == tuple(k for _, k in plan)
    assert any(kind is not None for sol in sols for kind in sol.errors)


def test_prover_plays_gold_with_answer_slips() -> None:
    make_prover = family_assets("prm/Math-v0").extras["prover"]
    env = MathEnv()
    for slip in (0.0, 1.0):
        prover = make_prover(slip, 9)
        for seed in range(10):
            env.reset(seed=seed)
            gold = env.task.metadata["gold_steps"]
            played = []
            for _ in gold:
                played.append(prover("", env))
                env.step(played[-1])
            assert played[:-1] == list(gold[:-1])
            assert (played[-1] == gold[-1]) is (slip == 0.0)
