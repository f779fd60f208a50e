"""Tests for the learned progress potential (``prm_gym.rewards.progress``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401  (registers the prm/* ids)
from prm_gym.rewards.progress import (
    GOAL_KEYS,
    LearnedProgressPotential,
    flatten_observation,
    progress_labels,
)
from prm_gym.wrappers import PotentialShaping

REPO_ROOT = Path(__file__).resolve().parents[1]
manipulation = pytest.importorskip("prm_gym.envs.manipulation.experts")
collect_demos = manipulation.collect_demos

TRAIN_NOISE = (0.0, 0.3, 1.0)
TRAIN_DEMOS = 30  # per noise level
HELD_OUT_SEED = 50_000  # far from the training seeds (0.., 1000.., 2000..)


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties sharing their mean rank (what Spearman's rho needs)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def goal_obs(demo: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(demo[k]) for k in GOAL_KEYS}


def train_demos(env_id: str) -> list[dict[str, Any]]:
    demos: list[dict[str, Any]] = []
    for k, noise in enumerate(TRAIN_NOISE):
        demos += collect_demos(env_id, TRAIN_DEMOS, seed=1000 * k, noise=noise)
    return demos


@pytest.fixture(scope="module", params=["prm/Reach-v0", "prm/Push-v0"])
def fitted(request: pytest.FixtureRequest) -> tuple[str, LearnedProgressPotential]:
    env_id = request.param
    return env_id, LearnedProgressPotential.fit(
        train_demos(env_id), epochs=150, seed=0, progress=False
    )


# -- labels -------------------------------------------------------------------------------------
def test_labels_rise_to_one_at_first_success_and_stay() -> None:
    demo = {"observation": np.zeros((6, 2)), "is_success": [0, 0, 0, 0, 1, 0]}
    np.testing.assert_allclose(progress_labels(demo), [0, 0.25, 0.5, 0.75, 1, 1])


def test_labels_accept_one_flag_per_action() -> None:
    per_state = {"observation": np.zeros((4, 2)), "is_success": [0, 0, 1, 1]}
    per_action = {"observation": np.zeros((4, 2)), "is_success": [0, 1, 1]}
    np.testing.assert_allclose(progress_labels(per_state), progress_labels(per_action))


def test_failed_demo_labels_are_scaled_by_final_distance_progress() -> None:
    # Distance to the goal goes 1.0 -> 0.6: final distance-based progress 0.4.
    achieved = np.array([[0.0, 0, 0], [0.2, 0, 0], [0.3, 0, 0], [0.4, 0, 0]])
    demo = {
        "observation": np.zeros((4, 5)),
        "achieved_goal": achieved,
        "desired_goal": np.tile([1.0, 0, 0], (4, 1)),
        "is_success": np.zeros(4),
    }
    np.testing.assert_allclose(progress_labels(demo), [0, 0.4 / 3, 0.8 / 3, 0.4])


def test_labels_reject_misaligned_success_flags() -> None:
    with pytest.raises(ValueError, match="is_success"):
        progress_labels({"observation": np.zeros((5, 2)), "is_success": [0, 1]})


def test_flatten_adds_the_relative_goal() -> None:
    obs = {"observation": np.ones(2), "achieved_goal": np.zeros(3), "desired_goal": np.ones(3)}
    np.testing.assert_array_equal(flatten_observation(obs), [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1])


# -- quality on real expert demos -----------------------------------------------------------------
def test_ranks_held_out_expert_states_by_progress(
    fitted: tuple[str, LearnedProgressPotential],
) -> None:
    """Spearman ρ(Φ, true progress) ≥ 0.8 over held-out clean expert demos.

    Measured from s₀ up to the first successful state: afterwards every label ties at 1 and the
    ranks among ties carry no information (Reach is solved within ~5 of its 50 steps, so the
    tail would otherwise dominate the statistic).
    """
    env_id, phi = fitted
    predicted, true = [], []
    for demo in collect_demos(env_id, 20, seed=HELD_OUT_SEED):
        end = int(np.argmax(demo["is_success"])) + 1
        predicted.append(phi.batch(goal_obs(demo))[:end])
        true.append(progress_labels(demo)[:end])
    rho = spearman(np.concatenate(predicted), np.concatenate(true))
    assert rho >= 0.8, f"{env_id}: Spearman {rho:.3f}"


def test_success_states_score_higher_than_start_states(
    fitted: tuple[str, LearnedProgressPotential],
) -> None:
    env_id, phi = fitted
    demos = collect_demos(env_id, 10, seed=HELD_OUT_SEED + 100)
    start = np.array([phi.batch(goal_obs(d))[0] for d in demos])
    end = np.array([phi.batch(goal_obs(d))[-1] for d in demos])
    assert np.all(end > start + 0.3), (start, end)


# -- API ------------------------------------------------------------------------------------------
def test_batch_equals_per_sample_calls(fitted: tuple[str, LearnedProgressPotential]) -> None:
    env_id, phi = fitted
    demo = collect_demos(env_id, 1, seed=HELD_OUT_SEED + 200, noise=0.3)[0]
    obs = goal_obs(demo)
    batched = phi.batch(obs)
    single = [phi({k: v[i] for k, v in obs.items()}, {}) for i in range(len(batched))]
    assert batched.shape == (len(demo["observation"]),)
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(phi.progress(obs), batched, rtol=1e-12)
    assert np.all((batched > 0) & (batched < 1))


def test_save_load_round_trip_is_exact(
    fitted: tuple[str, LearnedProgressPotential], tmp_path: Path
) -> None:
    env_id, phi = fitted
    path = tmp_path / "progress.npz"
    phi.save(path)
    loaded = LearnedProgressPotential.load(path)
    demo = collect_demos(env_id, 2, seed=HELD_OUT_SEED + 300, noise=0.3)[1]
    obs = goal_obs(demo)
    np.testing.assert_array_equal(loaded.batch(obs), phi.batch(obs))
    one = {k: v[7] for k, v in obs.items()}
    assert loaded(one, {}) == phi(one, {})
    assert loaded.config == phi.config and loaded.goal_dim == phi.goal_dim == 3
    assert loaded.hidden == (64, 64) and loaded.scale == phi.scale


def test_load_rejects_other_files(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a LearnedProgressPotential"):
        LearnedProgressPotential.load(path)
    with pytest.raises(FileNotFoundError):
        LearnedProgressPotential.load(tmp_path / "missing.pt")


def test_scale_multiplies_the_potential(fitted: tuple[str, LearnedProgressPotential]) -> None:
    _, phi = fitted
    scaled = LearnedProgressPotential(phi.weights, phi.mean, phi.std, goal_dim=3, scale=5.0)
    obs = goal_obs(collect_demos(fitted[0], 1, seed=HELD_OUT_SEED + 400)[0])
    np.testing.assert_allclose(scaled.batch(obs), 5.0 * phi.batch(obs), rtol=1e-12)


def test_shaping_terms_telescope_with_gamma_one(
    fitted: tuple[str, LearnedProgressPotential],
) -> None:
    """With γ = 1 the episode's shaping terms sum to Φ(s_T) − Φ(s_0) (truncation keeps Φ(s_T))."""
    env_id, phi = fitted
    env = PotentialShaping(gym.make(env_id), phi, gamma=1.0)
    obs, info = env.reset(seed=HELD_OUT_SEED + 500)
    phi_0 = phi(obs, info)
    rng = np.random.default_rng(0)
    shaping_total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 4))
        components = info["reward_components"]
        assert float(reward) == pytest.approx(sum(components.values()), abs=1e-12)
        shaping_total += components["shaping"]
        if terminated or truncated:
            break
    assert truncated and not terminated
    assert shaping_total == pytest.approx(phi(obs, info) - phi_0, abs=1e-9)
    env.close()


def test_wrong_observations_raise_helpful_errors(
    fitted: tuple[str, LearnedProgressPotential],
) -> None:
    _, phi = fitted
    with pytest.raises(TypeError, match="Dict observations"):
        phi(np.zeros(phi.raw_dim), {})
    with pytest.raises(ValueError, match="expects"):
        phi({"observation": np.zeros(2), "achieved_goal": np.zeros(3), "desired_goal": np.zeros(3)})
    with pytest.raises(KeyError, match="achieved_goal"):
        phi({"observation": np.zeros(2)}, {})
    with pytest.raises(ValueError, match="batch"):
        phi.batch({k: np.zeros(3) for k in GOAL_KEYS})


def test_fit_is_deterministic_and_leaves_torch_state_alone() -> None:
    import torch

    demos = collect_demos("prm/Reach-v0", 4, seed=0)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = LearnedProgressPotential.fit(demos, epochs=5, seed=7, progress=False)
    after = torch.rand(3)
    b = LearnedProgressPotential.fit(demos, epochs=5, seed=7, progress=False)
    assert torch.equal(before, after)
    assert torch.get_num_threads() == threads
    for (wa, ba), (wb, bb) in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


def test_fit_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one demo"):
        LearnedProgressPotential.fit([], epochs=1, progress=False)
    demos = collect_demos("prm/Reach-v0", 1, seed=0)
    with pytest.raises(ValueError, match="lr"):
        LearnedProgressPotential.fit(demos, epochs=1, lr=-1.0, progress=False)


def test_from_experts_records_its_source() -> None:
    phi = LearnedProgressPotential.from_experts(
        "prm/Reach-v0",
        n_demos=3,
        noise_levels=(0.0, 0.5),
        random_starts=4,
        epochs=2,
        seed=1,
        progress=False,
    )
    assert phi.config["env_id"] == "prm/Reach-v0"
    assert phi.config["noise_levels"] == [0.0, 0.5]
    assert phi.config["n_demos"] == 6 + 4
    assert phi.config["random_starts"] == 4
    assert isinstance(phi.config["horizon"], int) and phi.config["horizon"] >= 1


def test_fixed_horizon_labels_count_steps_to_success() -> None:
    demo = {"observation": np.zeros((6, 2)), "is_success": [0, 0, 0, 1, 1, 1]}
    # k = 3: s_i still needs 3 − i steps; H = 4 → 1 − (3 − i) / 4, clipped to [0, 1].
    np.testing.assert_allclose(progress_labels(demo, horizon=4), [0.25, 0.5, 0.75, 1, 1, 1])
    np.testing.assert_allclose(progress_labels(demo, horizon=2), [0, 0, 0.5, 1, 1, 1])
    # H = k is the per-demo rule.
    np.testing.assert_allclose(progress_labels(demo, horizon=3), progress_labels(demo))
    with pytest.raises(ValueError, match="horizon"):
        progress_labels(demo, horizon=0)


def test_random_start_demos_begin_where_the_expert_takes_over() -> None:
    from prm_gym.rewards.progress import random_start_demos

    demos = random_start_demos("prm/Reach-v0", 6, seed=0, max_random_steps=10)
    clean = collect_demos("prm/Reach-v0", 6, seed=0)
    assert len(demos) == 6
    for demo, reference in zip(demos, clean, strict=True):
        n = len(demo["observation"])
        assert 40 <= n <= 50  # 1-10 random actions of the 50 steps came before the demo
        assert len(demo["achieved_goal"]) == len(demo["is_success"]) == n
        assert len(demo["action"]) == n - 1
        assert not np.allclose(demo["observation"][0], reference["observation"][0])
        np.testing.assert_array_equal(demo["desired_goal"][0], reference["desired_goal"][0])
        labels = progress_labels(demo)
        assert labels[0] == 0.0 and labels[-1] == 1.0  # the clean expert succeeds
    again = random_start_demos("prm/Reach-v0", 6, seed=0, max_random_steps=10)
    np.testing.assert_array_equal(again[3]["observation"], demos[3]["observation"])


def test_default_potential_ranks_exploring_states_by_distance_to_goal() -> None:
    """Φ from from_experts orders the states a random policy visits by distance to the goal.

    Random-start demos and the fixed-horizon labels are what make this work (issue 3): 0.82
    with the defaults, 0.38 with the previous ones (expert demos at noise 0 / 0.3 / 1 from the
    reset state only, per-demo labels).
    """
    phi = LearnedProgressPotential.from_experts("prm/Reach-v0", seed=0, progress=False)
    env = gym.make("prm/Reach-v0")
    rng = np.random.default_rng(123)
    observations = []
    for episode in range(10):
        obs, _ = env.reset(seed=HELD_OUT_SEED + 600 + episode)
        for _ in range(50):
            obs, *_ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            observations.append(obs)
    env.close()
    batch = {k: np.stack([o[k] for o in observations]) for k in GOAL_KEYS}
    distance = np.linalg.norm(batch["achieved_goal"] - batch["desired_goal"], axis=1)
    rho = spearman(phi.batch(batch), -distance)
    assert rho >= 0.75, rho


def test_is_a_progress_estimator_whose_contributions_are_potential_differences(
    fitted: tuple[str, LearnedProgressPotential], tmp_path: Path
) -> None:
    from prm_gym.rewards.progress import ProgressEstimator

    env_id, phi = fitted
    assert isinstance(phi, ProgressEstimator) and phi.as_potential() is phi
    demo = collect_demos(env_id, 1, seed=HELD_OUT_SEED + 700, noise=0.3)[0]
    obs = goal_obs(demo)
    states = [{k: v[i] for k, v in obs.items()} for i in range(len(demo["observation"]))]
    rows = phi.trajectory_features(states)
    values = phi.batch(obs)
    np.testing.assert_allclose(phi.contributions(rows), np.diff(values), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        phi.contributions(rows).cumsum(), values[1:] - values[0], rtol=1e-5, atol=1e-5
    )
    phi.save(tmp_path / "phi.npz")
    loaded = ProgressEstimator.load(tmp_path / "phi.npz")
    assert isinstance(loaded, LearnedProgressPotential)
    np.testing.assert_array_equal(loaded.contributions(rows), phi.contributions(rows))


def test_plain_array_observations_work() -> None:
    rng = np.random.default_rng(0)
    demos = [
        {
            "observation": np.linspace(0, 1, 11)[:, None] + rng.normal(0, 0.01, (11, 1)),
            "is_success": np.arange(11) >= 10,
        }
        for _ in range(8)
    ]
    phi = LearnedProgressPotential.fit(demos, epochs=200, seed=0, progress=False)
    assert phi.goal_dim is None
    xs = np.linspace(0, 1, 5)[:, None]
    values = phi.batch(xs)
    assert np.all(np.diff(values) > 0)
    assert phi(xs[2], {}) == pytest.approx(values[2], rel=1e-5)


def test_import_rewards_does_not_import_torch() -> None:
    code = (
        "import sys, prm_gym.rewards as r; assert 'torch' not in sys.modules; "
        "r.LearnedProgressPotential; assert 'torch' not in sys.modules; print('ok')"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
