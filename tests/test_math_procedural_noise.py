"""The noisy solver's procedural mistakes: ``+``/``-`` flipped and carried on to the answer."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import prm_gym
from prm_gym.envs.math import NoiseLevel
from prm_gym.envs.math.experts import carry_forward, flip_operation, noisy_solutions


def _play(solution: object) -> dict[str, object]:
    env = gym.make("prm/Math-v0", families=("arithmetic",), levels=(1,))
    env.reset(options={"task": solution.task})  # type: ignore[attr-defined]
    info: dict[str, object] = {}
    for action in solution.actions:  # type: ignore[attr-defined]
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    env.close()
    return info


def test_flips_are_computed_right_and_carried_to_a_wrong_answer() -> None:
    solutions = noisy_solutions(
        60, 0, noise=(0.0, 0.0, 0.5, 0.5), levels=(1,), families=("arithmetic",)
    )
    flipped = [s for s in solutions if "procedure" in s.errors]
    clean = [s for s in solutions if "procedure" not in s.errors]
    assert flipped and clean
    for sol in flipped:
        info = _play(sol)
        assert info["outcome"] == 0.0, sol.actions
        # The flipped step is arithmetically right, so the rule checker passes it, but unless
        # its result happens to equal a gold value, the progress form pays it nothing.
        gold_values = {
            step.rsplit("= ", 1)[-1].rstrip(".") for step in sol.task.metadata["gold_steps"]
        }
        env = prm_gym.make_dense("prm/Math-v0", families=("arithmetic",), levels=(1,))
        env.reset(options={"task": sol.task})
        for action, error in zip(sol.actions, sol.errors, strict=True):
            _, _, _, _, step_info = env.step(action)
            if error == "procedure":
                assert step_info["step_label"] is True
                if action.rsplit("= ", 1)[-1].rstrip(".") not in gold_values:
                    assert step_info["reward_components"]["progress"] == 0.0, action
        env.close()
    for sol in clean:
        assert _play(sol)["outcome"] == 1.0, sol.actions


def test_flip_rates_follow_the_operator() -> None:
    solutions = noisy_solutions(
        400, 3, noise=(0.0, 0.0, 0.0, 1.0), levels=(1,), families=("arithmetic",)
    )
    for sol in solutions:
        for action, error in zip(sol.actions, sol.errors, strict=True):
            if error == "procedure":
                assert "giving" in action and " + " in action  # only "-" steps flip
            elif "giving" in action:
                pytest.fail(f"a '-' step was not flipped at flip_sub=1: {action}")


def test_no_flips_keep_the_earlier_noise_stream() -> None:
    """Flip probabilities of 0 draw nothing: solutions stay exactly what they were."""
    a = noisy_solutions(50, 7, noise=(0.3, 0.4), levels=(1, 2))
    b = noisy_solutions(50, 7, noise=NoiseLevel(0.3, 0.4, 0.0, 0.0), levels=(1, 2))
    assert [s.actions for s in a] == [s.actions for s in b]


def test_carry_forward_and_flip_edge_cases() -> None:
    rng = np.random.default_rng(0)
    assert flip_operation("Step 2: The answer is \\boxed{7}.", rng, 1.0, 1.0) is None
    assert flip_operation("Step 1: 6 * 7 = 42.", rng, 1.0, 1.0) is None  # only + and -
    assert flip_operation("Step 1: 6 + 7 = 13.", rng, 0.0, 1.0) is None
    assert flip_operation("Step 1: 6 - 7 = -1.", rng, 0.0, 1.0) == (
        "Step 1: 6 + 7 = 13.",
        "-1",
        "13",
    )
    carried = {"13": "-1"}
    assert carry_forward("Step 2: 13 / 2 = 6.5.", carried) == "Step 2: -1 / 2 = -0.5."
    assert carried["6.5"] == "-0.5"
    assert carry_forward("Step 2: 5 + 2 = 7.", {"13": "-1"}) == "Step 2: 5 + 2 = 7."
    assert carry_forward("x", {}) == "x"
    with pytest.raises(ValueError, match="flip_sub"):
        NoiseLevel(0.0, 0.0, 0.0, 1.5)
    assert NoiseLevel(0.1, 0.2, 0.25, 0.6).label == "p=0.1 q=0.2 flip+=0.25 flip-=0.6"
    assert NoiseLevel(0.1, 0.2).label == "p=0.1 q=0.2"
