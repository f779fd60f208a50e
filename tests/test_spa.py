"""SPA progress estimators and the ProgressAttribution wrapper (issue 6)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from prm_gym.core.scorer import StepContext  # noqa: E402
from prm_gym.rewards.spa import (  # noqa: E402
    ProgressPotential,
    TextProgressEstimator,
    VectorProgressEstimator,
)
from prm_gym.wrappers import PotentialShaping, ProgressAttribution  # noqa: E402


def _true_contribution(x: np.ndarray) -> np.ndarray:
    """A fixed nonlinear per-step contribution of 4-d step features."""
    return np.tanh(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3]


def _synthetic(n: int, seed: int) -> tuple[list[np.ndarray], list[float]]:
    rng = np.random.default_rng(seed)
    trajs = [rng.normal(size=(int(rng.integers(2, 10)), 4)) for _ in range(n)]
    outcomes = [float(_true_contribution(t).sum() + rng.normal(0, 0.05)) for t in trajs]
    return trajs, outcomes


def test_vector_estimator_recovers_known_contributions() -> None:
    trajs, outcomes = _synthetic(600, seed=0)
    est = VectorProgressEstimator(hidden=(32, 32))
    history = est.fit(trajs, outcomes, epochs=80, lr=3e-3, seed=0)
    assert history[-1] < 0.2 * history[0]
    test_trajs, _ = _synthetic(100, seed=1)
    pred = np.concatenate([est.contributions(t) for t in test_trajs])
    true = np.concatenate([_true_contribution(t) for t in test_trajs])
    assert np.corrcoef(pred, true)[0, 1] >= 0.9
    # Prefix sums are the progress estimate; the last one approximates the outcome.
    np.testing.assert_allclose(est.progress(test_trajs[0]), np.cumsum(pred[: len(test_trajs[0])]))


def test_vector_estimator_is_deterministic_and_checks_inputs() -> None:
    trajs, outcomes = _synthetic(40, seed=2)
    a, b = VectorProgressEstimator(hidden=(8,)), VectorProgressEstimator(hidden=(8,))
    assert a.fit(trajs, outcomes, epochs=3, seed=5) == b.fit(trajs, outcomes, epochs=3, seed=5)
    np.testing.assert_array_equal(a.contributions(trajs[0]), b.contributions(trajs[0]))
    with pytest.raises(ValueError, match="outcomes"):
        a.fit(trajs, outcomes[:-1])
    with pytest.raises(ValueError, match="features per step"):
        a.contributions(np.zeros((3, 5)))
    with pytest.raises(RuntimeError, match="fit"):
        VectorProgressEstimator().contributions(trajs[0])


class _LinearEstimator(VectorProgressEstimator):
    """ĉ_t = first feature of the step (no training), to check the wrappers' arithmetic."""

    def contributions(self, trajectory: Any) -> np.ndarray:
        x = np.asarray(trajectory, dtype=np.float64)
        return x[:, 0].copy() if x.size else np.zeros(0)


class _ValidityEnv(gym.Env[np.ndarray, int]):
    """Observation = [step count]; action 1 is 'invalid'; outcome 1.0 at the end (5 steps)."""

    observation_space = gym.spaces.Box(0, 10, shape=(1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: int) -> Any:
        self.t += 1
        done = self.t == 5
        info = {"action_valid": action == 0}
        return np.array([self.t], dtype=np.float32), float(done), done, False, info


def _run(env: gym.Env[Any, Any], actions: list[int]) -> tuple[list[float], list[dict[str, Any]]]:
    env.reset(seed=0)
    rewards, infos = [], []
    for a in actions:
        _, r, _, _, info = env.step(a)
        rewards.append(float(r))
        infos.append(info)
    return rewards, infos


def test_attribution_components_grounding_and_step_rewards() -> None:
    est = _LinearEstimator()  # features [x_t, x_t - x_{t-1}] → ĉ_t = t
    env = ProgressAttribution(_ValidityEnv(), est, alpha=0.5, beta=0.2, grounding_value=1.0)
    actions = [0, 1, 0, 1, 0]
    rewards, infos = _run(env, actions)
    for r, info in zip(rewards, infos, strict=True):
        assert r == pytest.approx(sum(info["reward_components"].values()))
    grounding = [info["reward_components"]["grounding"] for info in infos]
    assert grounding == pytest.approx([0.2, 0.0, 0.2, 0.0, 0.2])
    progress = [info["reward_components"]["progress"] for info in infos]
    assert progress[:4] == [0.0] * 4  # held back until the end
    assert progress[4] == pytest.approx(0.5 * (1 + 2 + 3 + 4 + 5))
    step_rewards = infos[-1]["step_rewards"]
    expected = [0.5 * t + g for t, g in zip(range(1, 6), grounding, strict=True)]
    expected[-1] += 1.0  # the outcome
    assert step_rewards == pytest.approx(expected)
    assert sum(step_rewards) == pytest.approx(sum(rewards))


def test_attribution_online_pays_each_step() -> None:
    env = ProgressAttribution(_ValidityEnv(), _LinearEstimator(), alpha=1.0, beta=0.0, online=True)
    rewards, infos = _run(env, [0] * 5)
    assert [i["reward_components"]["progress"] for i in infos] == pytest.approx([1, 2, 3, 4, 5])
    assert "step_rewards" not in infos[-1]
    assert rewards[-1] == pytest.approx(1.0 + 5.0)


def test_potential_is_prefix_sum_and_shapes_with_gamma_one() -> None:
    pot = _LinearEstimator().as_potential()
    assert isinstance(pot, ProgressPotential)
    env = PotentialShaping(_ValidityEnv(), pot, gamma=1.0)
    for _ in range(2):  # the second episode checks that reset() restarts the prefix sum
        _, infos = _run(env, [0] * 5)
        shaping = [i["reward_components"]["shaping"] for i in infos]
        # F_t = Φ_t − Φ_{t−1} = ĉ_t before termination; Φ(s_T) = 0 at termination.
        assert shaping[:4] == pytest.approx([1, 2, 3, 4])
        assert sum(shaping) == pytest.approx(0.0)


def test_text_estimator_fits_and_scores_prefix_consistently() -> None:
    from prm_gym.llm.tiny import tiny_causal_lm

    model, tok = tiny_causal_lm(n_layer=1, n_embd=32, n_head=2, vocab_size=300, seed=0)
    est = TextProgressEstimator(model, tok)
    prompt = "Ana has 3 apples and buys 4. How many?"
    good, bad = "Step 1: 3 + 4 = 7", "Step 1: 3 * 4 = 9"
    trajs = [(prompt, [good, "answer 7"]), (prompt, [bad, "answer 9"])] * 4
    outcomes = [1.0, 0.0] * 4
    history = est.fit(trajs, outcomes, epochs=30, lr=3e-3, seed=0, batch_size=8)
    assert history[-1] < 0.2 * history[0]
    c_good = est.contributions(trajs[0])
    assert c_good.shape == (2,)
    assert c_good.sum() > est.contributions(trajs[1]).sum()
    contexts = [StepContext(prompt, (), good), StepContext(prompt, (good,), "answer 7")]
    np.testing.assert_allclose(est.score(contexts), c_good, rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="actions"):
        est.as_potential()


# -- persistence ----------------------------------------------------------------------------------
def _scaled_first(prev: Any, obs: Any) -> np.ndarray:
    """A custom featurizer (module level, so it has a stable name)."""
    return 2.0 * np.asarray(obs, dtype=np.float64)


def test_vector_estimator_save_load_round_trip_is_exact(tmp_path: Any) -> None:
    from prm_gym.rewards.progress import ProgressEstimator

    trajs, outcomes = _synthetic(60, seed=3)
    est = VectorProgressEstimator(hidden=(8, 8))
    est.fit(trajs, outcomes, epochs=3, seed=0)
    path = tmp_path / "spa.npz"
    est.save(path)
    for loaded in (VectorProgressEstimator.load(path), ProgressEstimator.load(path)):
        assert isinstance(loaded, VectorProgressEstimator)
        assert loaded.hidden == (8, 8) and loaded.config == est.config
        for t in trajs[:5]:
            np.testing.assert_array_equal(loaded.contributions(t), est.contributions(t))
    # The file holds arrays and a JSON header only: it loads with pickle disabled.
    with np.load(path, allow_pickle=False) as data:
        assert "mean" in data.files and "std" in data.files
    with pytest.raises(RuntimeError, match="not trained"):
        VectorProgressEstimator().save(tmp_path / "untrained.npz")


def test_vector_estimator_with_custom_featurizer_needs_it_at_load(tmp_path: Any) -> None:
    est = VectorProgressEstimator(hidden=(4,), featurize=_scaled_first)
    est.fit([np.ones((2, 1)), np.zeros((3, 1))], [1.0, 0.0], epochs=2)
    path = tmp_path / "custom.npz"
    est.save(path)
    with pytest.raises(ValueError, match="_scaled_first"):
        VectorProgressEstimator.load(path)
    loaded = VectorProgressEstimator.load(path, featurize=_scaled_first)
    assert loaded.step_features(None, np.ones(1)).tolist() == [2.0]


def test_load_checks_the_kind_of_estimator(tmp_path: Any) -> None:
    from prm_gym.rewards import LearnedProgressPotential

    est = VectorProgressEstimator(hidden=(4,))
    est.fit([np.ones((2, 3))], [1.0], epochs=1)
    est.save(tmp_path / "spa.npz")
    with pytest.raises(ValueError, match="not a LearnedProgressPotential"):
        LearnedProgressPotential.load(tmp_path / "spa.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a VectorProgressEstimator"):
        VectorProgressEstimator.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        VectorProgressEstimator.load(tmp_path / "missing.npz")


def test_text_estimator_save_load_round_trip_is_exact(tmp_path: Any) -> None:
    from prm_gym.llm.tiny import tiny_causal_lm
    from prm_gym.rewards.progress import ProgressEstimator

    model, tok = tiny_causal_lm(n_layer=1, n_embd=32, n_head=2, vocab_size=300, seed=0)
    est = TextProgressEstimator(model, tok, step_separator=" ;\n", max_length=256)
    prompt = "Ana has 3 apples and buys 4. How many?"
    trajs = [(prompt, ["Step 1: 3 + 4 = 7", "answer 7"]), (prompt, ["Step 1: 3 * 4 = 9"])]
    est.fit(trajs, [1.0, 0.0], epochs=2, lr=1e-3, seed=0)
    est.save(tmp_path / "text")
    for loaded in (TextProgressEstimator.load(tmp_path / "text"),
                   ProgressEstimator.load(tmp_path / "text")):  # fmt: skip
        assert isinstance(loaded, TextProgressEstimator)
        assert loaded.step_separator == " ;\n" and loaded.max_length == 256
        for t in trajs:
            np.testing.assert_array_equal(loaded.contributions(t), est.contributions(t))
    with pytest.raises(ValueError, match=r"no progress_estimator\.json"):
        TextProgressEstimator.load(tmp_path)


def test_contributions_batch_equals_single_calls() -> None:
    trajs, outcomes = _synthetic(30, seed=4)
    est = VectorProgressEstimator(hidden=(8,))
    est.fit(trajs, outcomes, epochs=2, seed=0)
    batched = est.contributions_batch([trajs[0], np.zeros((0, 4)), trajs[1]])
    assert [len(b) for b in batched] == [len(trajs[0]), 0, len(trajs[1])]
    np.testing.assert_allclose(batched[0], est.contributions(trajs[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched[2], est.contributions(trajs[1]), rtol=1e-5, atol=1e-6)
