"""Behaviour users rely on from the reward wrappers, on prm/Math-v0.

Covers the reward-components contract (DESIGN §5) for random stacks of wrappers, ProcessReward in
multi-step and single-turn mode, Gated Reward Accumulation (G-RA), reward farming with and
without gating, truncation, ChatObservation and state isolation between episodes.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401  (registers prm/Math-v0)
from prm_gym.core import StepContext
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import ChatObservation, GatedAccumulation, PotentialShaping, ProcessReward

COEF = 0.25
TOL = 1e-12

Step = tuple[Any, float, bool, bool, dict[str, Any]]


# --------------------------------------------------------------------------------------------
# Helpers


def make(**kwargs: Any) -> gym.Env[Any, Any]:
    return gym.make("prm/Math-v0", **kwargs)


def gold_steps(env: gym.Env[Any, Any]) -> list[str]:
    return list(env.unwrapped.task.metadata["gold_steps"])  # type: ignore[attr-defined]


def gold_answer(env: gym.Env[Any, Any]) -> str:
    return str(env.unwrapped.task.answer)  # type: ignore[attr-defined]


def wrong_answer(gold: str) -> str:
    value = Fraction(gold) + 1
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


_CLAIM = re.compile(r"(\d+(?:\.\d+)?\s*[-+*/]\s*\d+(?:\.\d+)?\s*=\s*)(-?\d+(?:\.\d+)?)")


def corrupt(step: str) -> str | None:
    """``step`` with the result of its first ``a op b = c`` claim off by one, if it has one."""
    match = _CLAIM.search(step)
    if match is None:
        return None
    result = match.group(2)
    if "." in result:
        wrong = f"{float(result) + 1:.{len(result.split('.')[1])}f}"
    else:
        wrong = str(int(result) + 1)
    return step[: match.start(2)] + wrong + step[match.end(2) :]


def first_corruptible(steps: Sequence[str]) -> tuple[int, str]:
    for i, step in enumerate(steps):
        bad = corrupt(step)
        if bad is not None:
            return i, bad
    raise AssertionError(f"no arithmetic claim in {steps}")


def components(info: Mapping[str, Any]) -> dict[str, float]:
    comps = info["reward_components"]
    assert isinstance(comps, dict)
    return comps


def assert_components_sum(reward: Any, info: Mapping[str, Any]) -> None:
    comps = components(info)
    assert all(math.isfinite(v) for v in comps.values()), comps
    assert math.isclose(float(reward), sum(comps.values()), rel_tol=TOL, abs_tol=TOL), (
        reward,
        comps,
    )


def play(env: gym.Env[Any, Any], actions: Sequence[str]) -> list[Step]:
    """Step through ``actions`` (stopping early if the episode ends)."""
    out: list[Step] = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, float(reward), terminated, truncated, info))
        if terminated or truncated:
            break
    return out


def episode_return(steps: Sequence[Step]) -> float:
    return float(sum(s[1] for s in steps))


def length_potential(observation: Any, info: Mapping[str, Any]) -> float:
    """A potential of (obs, info): longer responses and valid actions score higher."""
    return 0.003 * len(str(observation)) + (0.5 if info.get("action_valid", True) else -0.5)


class BoxedFormat:
    """A format scorer that pays for writing ``\\boxed`` — the per-turn credit that gets farmed."""

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.array([1.0 if "\\boxed" in c.action else 0.0 for c in contexts], np.float32)


# --------------------------------------------------------------------------------------------
# reward == sum(reward_components), "outcome" == native reward, for random stacks

WRAPPER_KINDS: dict[str, Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]]] = {
    "process": lambda e: ProcessReward(e, RuleVerifier(), coef=COEF),
    "shaping": lambda e: PotentialShaping(e, length_potential, gamma=0.9),
    "gate": lambda e: GatedAccumulation(e, threshold=1.0),
    "chat": lambda e: ChatObservation(e, system_prompt="Solve it."),
}

ORDERS: list[tuple[str, ...]] = [
    ("process",),
    ("process", "gate"),
    ("gate", "process"),
    ("process", "shaping", "gate"),
    ("shaping", "process", "gate"),
    ("process", "gate", "shaping"),
    ("gate", "shaping", "process"),
    ("process", "process", "gate"),
    ("process", "gate", "process", "gate"),
    ("shaping", "shaping", "process"),
    ("shaping", "process", "gate", "chat"),
]

GARBAGE = (
    "",
    "   \n\t",
    "\x00\x01binary",
    "!!! ???",
    "\ufffd\ufffd",
    "x" * 9000,
    "lorem ipsum dolor",
    "Step 9: 7 / 0 = 1",
    "\\boxed{}",
    "\\boxed{ }",
)


def choose_action(
    rng: np.random.Generator, gold: list[str], pointer: int, answer: str, step_no: int
) -> tuple[str, int]:
    """A mixed policy: gold steps, garbage, wrong arithmetic, wrong answers, trivial claims."""
    kind = rng.choice(["gold", "gold", "garbage", "wrong_arith", "wrong_answer", "trivial"])
    if kind == "gold" and pointer < len(gold):
        return gold[pointer], pointer + 1
    if kind == "garbage":
        return str(GARBAGE[int(rng.integers(len(GARBAGE)))]), pointer
    if kind == "wrong_arith":
        bad = corrupt(gold[min(pointer, len(gold) - 1)])
        return bad or f"Step {step_no}: 2 + 2 = 5", pointer
    if kind == "wrong_answer" and rng.random() < 0.3:
        return f"The answer is \\boxed{{{wrong_answer(answer)}}}.", pointer
    return f"Step {step_no}: 1 + 1 = 2", pointer


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_reward_equals_sum_of_components_for_wrapper_stacks(order: tuple[str, ...]) -> None:
    rng = np.random.default_rng(zlib.crc32("-".join(order).encode()))
    env: gym.Env[Any, Any] = make(max_steps=8)
    for kind in order:
        env = WRAPPER_KINDS[kind](env)
    bare = make(max_steps=8)
    gate_outermost = [k for k in order if k != "chat"][-1] == "gate"
    for seed in range(12):
        env.reset(seed=seed)
        bare.reset(seed=seed)
        gold, answer = gold_steps(env), gold_answer(env)
        pointer, total, done, k = 0, 0.0, False, 0
        while not done:
            k += 1
            action, pointer = choose_action(rng, gold, pointer, answer, k)
            _, reward, terminated, truncated, info = env.step(action)
            _, native, bare_term, bare_trunc, bare_info = bare.step(action)
            assert_components_sum(reward, info)
            assert isinstance(reward, float)
            comps = components(info)
            # "outcome" is exactly the env's own reward, whatever the stack.
            assert comps["outcome"] == native == info.get("outcome", 0.0)
            assert (terminated, truncated) == (bare_term, bare_trunc)
            assert info["action_valid"] == bare_info["action_valid"]
            expected_keys = {"outcome"} | {
                kind if i == 0 else f"{kind}_{i + 1}"
                for kind in set(order) - {"chat"}
                for i in range(order.count(kind))
            }
            assert set(comps) == expected_keys
            total += float(reward)
            done = terminated or truncated
        if gate_outermost:
            # The outermost gate's redistributed rewards add up to what the learner received.
            assert math.isclose(sum(info["step_rewards"]), total, rel_tol=1e-9, abs_tol=1e-9)
            assert len(info["step_rewards"]) == k


# --------------------------------------------------------------------------------------------
# ProcessReward


def test_process_reward_gold_steps_get_plus_coef() -> None:
    env = ProcessReward(make(), RuleVerifier(), coef=COEF)
    for seed in range(30):
        env.reset(seed=seed)
        steps = gold_steps(env)
        results = play(env, steps)
        assert len(results) == len(steps)
        for *_, info in results:
            assert components(info)["process"] == COEF
            assert info["step_label"] is True
        assert results[-1][2] and results[-1][4]["outcome"] == 1.0
        assert math.isclose(episode_return(results), 1.0 + COEF * len(steps), abs_tol=TOL)


def test_process_reward_corrupted_step_gets_minus_coef() -> None:
    env = ProcessReward(make(), RuleVerifier(), coef=COEF)
    for seed in range(30):
        env.reset(seed=seed)
        steps = gold_steps(env)
        i, bad = first_corruptible(steps)
        play(env, steps[:i])
        _, reward, terminated, _, info = env.step(bad)
        assert components(info)["process"] == -COEF, (bad, info)
        assert info["step_label"] is False  # the env's ground truth agrees
        assert not terminated and reward == -COEF


@pytest.mark.parametrize("aggregate", ["mean", "min", "sum"])
def test_process_reward_single_turn_scores_every_split_step(
    aggregate: Literal["mean", "min", "sum"],
) -> None:
    env = ProcessReward(make(single_turn=True), RuleVerifier(), coef=COEF, aggregate=aggregate)

    def agg(scores: Sequence[float]) -> float:
        if aggregate == "mean":
            return sum(scores) / len(scores)
        return min(scores) if aggregate == "min" else sum(scores)

    for seed in range(15):
        env.reset(seed=seed)
        steps = gold_steps(env)
        _, reward, terminated, _, info = env.step("\n".join(steps))
        assert terminated and info["outcome"] == 1.0
        assert info["steps"] == steps
        assert info["process_scores"] == [1.0] * len(steps)
        assert math.isclose(components(info)["process"], COEF * agg([1.0] * len(steps)))
        assert_components_sum(reward, info)

        # One corrupted step: its score is -1 and the term follows the aggregate.
        env.reset(seed=seed)
        i, bad = first_corruptible(steps)
        _, reward, _, _, info = env.step("\n".join([*steps[:i], bad, *steps[i + 1 :]]))
        scores = info["process_scores"]
        assert len(scores) == len(steps)
        assert scores[i] == -1.0
        assert math.isclose(components(info)["process"], COEF * float(agg(scores)), abs_tol=TOL)
        assert_components_sum(reward, info)


# --------------------------------------------------------------------------------------------
# Gated Reward Accumulation


def gated_env(**kwargs: Any) -> GatedAccumulation:
    return GatedAccumulation(ProcessReward(make(**kwargs), RuleVerifier(), coef=COEF), 1.0)


def test_gated_design_example() -> None:
    env = GatedAccumulation(ProcessReward(make(), RuleVerifier(), coef=0.1), threshold=1.0)
    env.reset(seed=0)
    _, reward, *_, info = env.step(gold_steps(env)[0])
    assert info["reward_components"] == {"outcome": 0.0, "process": 0.1, "gate": -0.1}
    assert reward == sum(info["reward_components"].values()) == 0.0


def test_gated_honest_solver_gets_outcome_plus_all_process_reward() -> None:
    env = gated_env()
    for seed in range(25):
        env.reset(seed=seed)
        steps = gold_steps(env)
        results = play(env, steps)
        n = len(steps)
        assert len(results) == n and results[-1][2]
        for _, reward, _, _, info in results[:-1]:
            assert reward == 0.0  # held back
            assert components(info)["process"] == COEF
            assert components(info)["gate"] == -COEF
            assert "step_rewards" not in info
        final = results[-1][4]
        assert final["gate_open"] is True
        assert math.isclose(episode_return(results), 1.0 + COEF * n, abs_tol=1e-9)
        np.testing.assert_allclose(final["step_rewards"], [COEF] * (n - 1) + [1.0 + COEF])
        assert math.isclose(sum(final["step_rewards"]), episode_return(results), abs_tol=1e-9)


def test_gated_wrong_final_answer_drops_process_reward() -> None:
    env = gated_env()
    ungated = ProcessReward(make(), RuleVerifier(), coef=COEF)
    ungated_total = 0.0
    for seed in range(25):
        env.reset(seed=seed)
        ungated.reset(seed=seed)
        steps = gold_steps(env)
        wrong = f"Step {len(steps)}: The answer is \\boxed{{{wrong_answer(gold_answer(env))}}}."
        actions = [*steps[:-1], wrong]
        results = play(env, actions)
        ungated_results = play(ungated, actions)
        final = results[-1][4]
        assert results[-1][2] and final["outcome"] == 0.0
        assert all(r[1] == 0.0 for r in results[:-1])
        assert math.isclose(episode_return(results), 0.0, abs_tol=1e-12)
        assert final["gate_open"] is False
        assert final["step_rewards"] == [0.0] * len(actions)
        ungated_total += episode_return(ungated_results)
    assert ungated_total > 0  # the correct steps did earn process reward before gating


def test_gate_threshold_above_outcome_keeps_outcome_drops_process() -> None:
    env = GatedAccumulation(ProcessReward(make(), RuleVerifier(), coef=COEF), threshold=1.5)
    env.reset(seed=3)
    results = play(env, gold_steps(env))
    final = results[-1][4]
    assert final["outcome"] == 1.0 and final["gate_open"] is False
    assert math.isclose(episode_return(results), 1.0, abs_tol=1e-12)
    assert final["step_rewards"] == [0.0] * (len(results) - 1) + [1.0]


# --------------------------------------------------------------------------------------------
# Farming per-step credit


class EveryValidStep:
    """A presence scorer: +1 for every step, the per-step credit a farmer maximises."""

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.ones(len(contexts), np.float32)


def test_farming_trivial_true_claims_pays_only_without_gate() -> None:
    max_steps = 6
    farmer = [f"Step {k}: 1 + 1 = 2" for k in range(1, max_steps + 1)]

    # RuleVerifier itself no longer pays constants-only claims ...
    ruled = ProcessReward(make(max_steps=max_steps), RuleVerifier(), coef=COEF)
    ruled.reset(seed=0)
    assert episode_return(play(ruled, farmer)) == 0.0
    # ... but a scorer that pays presence is farmed ungated, and the gate stops it.
    ungated = ProcessReward(make(max_steps=max_steps), EveryValidStep(), coef=COEF)
    ungated.reset(seed=0)
    results = play(ungated, farmer)
    assert len(results) == max_steps and results[-1][3] and not results[-1][2]
    assert results[-1][4]["outcome"] == 0.0
    assert math.isclose(episode_return(results), COEF * max_steps)  # the hack works ungated

    gated = GatedAccumulation(ProcessReward(make(max_steps=max_steps), EveryValidStep(), COEF))
    gated.reset(seed=0)
    results = play(gated, farmer)
    assert results[-1][3]
    assert all(r[1] == 0.0 for r in results)
    assert results[-1][4]["gate_open"] is False
    assert results[-1][4]["step_rewards"] == [0.0] * max_steps


def test_farming_boxed_format_single_turn() -> None:
    make_st = lambda: make(single_turn=True)  # noqa: E731
    for seed in range(5):
        for env, gated in (
            (ProcessReward(make_st(), BoxedFormat(), coef=COEF), False),
            (GatedAccumulation(ProcessReward(make_st(), BoxedFormat(), coef=COEF)), True),
        ):
            env.reset(seed=seed)
            n = len(gold_steps(env))
            guess = wrong_answer(gold_answer(env))
            solution = "\n".join(f"Step {i}: I guess \\boxed{{{guess}}}." for i in range(1, n + 1))
            _, reward, terminated, _, info = env.step(solution)
            assert terminated and info["outcome"] == 0.0
            assert info["process_scores"] == [1.0] * n
            assert_components_sum(reward, info)
            if gated:
                assert reward == 0.0 and info["gate_open"] is False
                assert info["step_rewards"] == [0.0]
            else:
                assert math.isclose(float(reward), COEF)  # format credit earned


def test_farming_empty_boxed_multi_step_is_invalid_and_unpaid_when_gated() -> None:
    max_steps = 5
    ungated = ProcessReward(make(max_steps=max_steps), BoxedFormat(), coef=COEF)
    gated = GatedAccumulation(ProcessReward(make(max_steps=max_steps), BoxedFormat(), coef=COEF))
    for env in (ungated, gated):
        env.reset(seed=1)
        results = play(env, ["\\boxed{}"] * (max_steps + 3))
        assert len(results) == max_steps
        for k, (_, _, terminated, truncated, info) in enumerate(results, 1):
            assert info["action_valid"] is False and "error" in info
            assert not terminated and truncated == (k == max_steps)
        assert results[-1][4]["outcome"] == 0.0
        # rejected actions are not scored, gated or not
        assert all(r[1] == 0.0 for r in results)
        assert all(r[4]["reward_components"]["process"] == 0.0 for r in results)
    penalised = ProcessReward(make(max_steps=max_steps), BoxedFormat(), coef=COEF, invalid_score=-1)
    penalised.reset(seed=1)
    results = play(penalised, ["\\boxed{}"] * max_steps)
    assert math.isclose(episode_return(results), -COEF * max_steps)


# --------------------------------------------------------------------------------------------
# Truncation


def test_truncation_after_good_steps_is_zero_never_negative() -> None:
    for seed in range(10):
        probe = make()
        probe.reset(seed=seed)
        steps = gold_steps(probe)[:-1]  # every step but the answer
        max_steps = len(steps) + 2
        actions = [*steps, "Let me double-check.", "Still checking.", "More checking."]

        bare = make(max_steps=max_steps)
        bare.reset(seed=seed)
        results = play(bare, actions)
        assert len(results) == max_steps
        assert results[-1][3] and not results[-1][2]
        assert results[-1][4]["outcome"] == 0.0
        assert [r[1] for r in results] == [0.0] * max_steps

        process = ProcessReward(make(max_steps=max_steps), RuleVerifier(), coef=COEF)
        process.reset(seed=seed)
        results = play(process, actions)
        assert components(results[-1][4])["outcome"] == 0.0
        assert math.isclose(episode_return(results), COEF * len(steps))

        gated = gated_env(max_steps=max_steps)
        gated.reset(seed=seed)
        results = play(gated, actions)
        assert all(r[1] == 0.0 for r in results)
        assert results[-1][4]["gate_open"] is False


# --------------------------------------------------------------------------------------------
# ChatObservation


@pytest.mark.parametrize("system_prompt", [None, "Be precise."])
def test_chat_messages_match_transcript(system_prompt: str | None) -> None:
    env = ChatObservation(make(max_steps=6), system_prompt=system_prompt)
    for seed in range(3):
        messages, _ = env.reset(seed=seed)
        transcript = env.unwrapped.transcript  # type: ignore[attr-defined]
        assert messages == transcript.messages(system_prompt)
        head = [{"role": "system", "content": system_prompt}] if system_prompt else []
        assert messages[: len(head)] == head
        assert messages[len(head)]["role"] == "user"
        assert messages[len(head)]["content"] == transcript.prompt
        steps = gold_steps(env)
        for action in ["", steps[0], "!!!", *steps[1:]]:
            messages, _, terminated, truncated, _ = env.step(action)
            transcript = env.unwrapped.transcript  # type: ignore[attr-defined]
            assert messages == transcript.messages(system_prompt)
            assert env.observation_space.contains(messages)
            assert messages[-2] == {"role": "assistant", "content": action}
            assert messages[-1] == {"role": "user", "content": transcript.turns[-1].observation}
            if terminated or truncated:
                break
        roles = [m["role"] for m in messages[len(head) :]]
        assert roles == ["user", *["assistant", "user"] * ((len(roles) - 1) // 2)]


def test_chat_observation_is_in_observation_space() -> None:
    env = ChatObservation(make(), system_prompt="Be precise.")
    messages, _ = env.reset(seed=0)
    assert env.observation_space.contains(messages), type(messages)
    messages, *_ = env.step(gold_steps(env)[0])
    assert env.observation_space.contains(messages), type(messages)


def test_chat_observation_overlong_action_matches_transcript_and_space() -> None:
    env = ChatObservation(make())
    env.reset(seed=0)
    messages, _, _, _, info = env.step("x" * 20_000)  # invalid: over max_action_length
    assert info["action_valid"] is False
    transcript = env.unwrapped.transcript  # type: ignore[attr-defined]
    shown, stored = messages[-2]["content"], transcript.turns[-1].action
    assert shown == stored, f"assistant message has {len(shown)} chars, transcript {len(stored)}"
    assert messages == transcript.messages()
    assert env.observation_space.contains(messages)


# --------------------------------------------------------------------------------------------
# No state leaks between episodes

# Establishes 1024, a number no task of the seeds below contains.
ESTABLISH_1024 = "Step 1: 1 + 1 = 2, and 2 * 2 * 2 * 2 * 2 * 2 * 2 * 2 * 2 * 2 = 1024."
USES_1024 = "Step 2: 1024 - 1 = 1023."
LEAK_SEEDS = (0, 4, 9)


def probe_actions(steps: list[str]) -> list[str]:
    return [steps[0], USES_1024, "!!!", *steps[1:]]


def run_episode(env: gym.Env[Any, Any], seed: int) -> list[float]:
    env.reset(seed=seed)
    return [r[1] for r in play(env, probe_actions(gold_steps(env)))]


@pytest.mark.parametrize(
    "build",
    [
        lambda: ProcessReward(make(), RuleVerifier(), coef=COEF),
        lambda: GatedAccumulation(ProcessReward(make(), RuleVerifier(), coef=COEF)),
        lambda: PotentialShaping(
            ProcessReward(make(), RuleVerifier(), coef=COEF), length_potential, gamma=0.9
        ),
    ],
    ids=["process", "gated", "shaped"],
)
def test_no_state_leaks_between_episodes(build: Callable[[], gym.Env[Any, Any]]) -> None:
    for seed in LEAK_SEEDS:
        fresh = run_episode(build(), seed)
        env = build()
        first = run_episode(env, seed)
        # A different episode, abandoned half-way with credit held and 1024 established.
        env.reset(seed=seed + 100)
        play(env, [ESTABLISH_1024, USES_1024, gold_steps(env)[0]])
        replay = run_episode(env, seed)
        # ...and one that ran to the end.
        env.reset(seed=seed + 200)
        play(env, gold_steps(env))
        replay_after_full = run_episode(env, seed)
        assert fresh == first == replay == replay_after_full


def test_established_numbers_do_not_carry_over_between_episodes() -> None:
    """The leak probe is sensitive: 1024 counts as known within an episode, not after reset."""
    env = ProcessReward(make(), RuleVerifier(), coef=COEF)
    for seed in LEAK_SEEDS:
        env.reset(seed=seed + 100)
        _, _, _, _, info = env.step(ESTABLISH_1024)
        assert components(info)["process"] == COEF
        _, _, _, _, info = env.step(USES_1024)
        assert components(info)["process"] == COEF  # 1024 is known in this episode
        env.reset(seed=seed)
        _, _, _, _, info = env.step(USES_1024)
        assert components(info)["process"] == 0.0  # ... and forgotten after reset (no new work)


def test_process_history_skips_actions_the_env_rejected() -> None:
    """An invalid action is not a step of the solution: the env does not record it, so numbers
    it "establishes" must not make a later step correct for ProcessReward either. The
    RuleVerifier's score must agree with the env's own ground-truth ``step_label``."""
    env = ProcessReward(make(), RuleVerifier(), coef=COEF)
    for seed in LEAK_SEEDS:
        env.reset(seed=seed)
        _, _, _, _, info = env.step(ESTABLISH_1024 + " \\boxed{}")  # rejected: empty box
        assert info["action_valid"] is False
        _, _, _, _, info = env.step(USES_1024)
        assert info["action_valid"] is True
        # The env never saw 1024 established: constants-only arithmetic, not paid as progress
        # (after the same step made valid, it is; see the previous test).
        assert components(info)["process"] == 0.0
