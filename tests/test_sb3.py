"""Tests for SB3 training helpers, learning curves and ``prm-gym train`` / ``prm-gym plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import prm_gym  # noqa: F401  (registers the prm/* ids)
from prm_gym.agents.curves import LearningCurve, plot_learning_curves
from prm_gym.agents.sb3 import train
from prm_gym.cli import main

pytest.importorskip("prm_gym.envs.manipulation.potentials")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_NET = {"policy_kwargs": {"net_arch": [64, 64]}}
#: SAC settings that solve prm/Reach-v0 with staged-potential shaping in a few thousand steps.
REACH_SAC: dict[str, Any] = {
    "n_envs": 4,
    "train_freq": 1,
    "gradient_steps": 2,
    "learning_starts": 400,
    "algo_kwargs": {**SMALL_NET, "learning_rate": 1e-3, "batch_size": 256},
}


class CountingPotential:
    """Φ = −distance to the goal, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, obs: Any, info: Any = None, /) -> float:
        self.calls += 1
        return -float(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]))


# -- training -------------------------------------------------------------------------------------
def test_sac_with_staged_potential_solves_reach() -> None:
    curve = train(
        "prm/Reach-v0",
        algo="sac",
        shaping="potential",
        total_timesteps=6_000,
        seed=0,
        eval_every=1_000,
        eval_episodes=20,
        progress_bar=False,
        **REACH_SAC,
    )
    assert curve.steps[0] == 0 and curve.steps[-1] == 6_000
    assert curve.success_rate[0] <= 0.2  # an untrained policy rarely ends on the goal
    assert max(curve.success_rate[-2:]) >= 0.8, curve.success_rate
    assert curve.config["shaping"] == "potential"
    assert curve.config["potential"].startswith("StagedPotential")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sac_with_staged_potential_solves_reach_across_seeds(seed: int) -> None:
    curve = train(
        "prm/Reach-v0",
        shaping="potential",
        total_timesteps=8_000,
        seed=seed,
        eval_every=1_000,
        progress_bar=False,
        **REACH_SAC,
    )
    assert curve.steps_to(0.8) is not None, curve.success_rate


def test_her_with_sac_runs_and_records_config() -> None:
    curve = train(
        "prm/Reach-v0",
        algo="sac",
        her=True,
        total_timesteps=300,
        learning_starts=100,
        eval_every=150,
        eval_episodes=2,
        progress_bar=False,
        algo_kwargs=SMALL_NET,
    )
    assert curve.steps == [0, 150, 300]
    assert curve.config["her"] is True
    assert all(0.0 <= r <= 1.0 for r in curve.success_rate)
    # The native reward is -1 per step away from the goal: returns lie in [-50, 0].
    assert all(-50.0 <= r <= 0.0 for r in curve.episode_return)


def test_ppo_shapes_every_step_with_the_given_potential() -> None:
    potential = CountingPotential()
    curve = train(
        "prm/Push-v0",
        algo="ppo",
        shaping="potential",
        potential=potential,
        total_timesteps=128,
        n_envs=2,
        eval_every=64,
        eval_episodes=1,
        progress_bar=False,
        algo_kwargs={**SMALL_NET, "n_steps": 64, "batch_size": 64, "n_epochs": 1},
    )
    # One call per env step plus one per reset (2 envs x 64 steps, episodes of 50 steps).
    assert potential.calls >= 128 + 2
    assert curve.steps[0] == 0 and curve.steps[-1] == 128


def test_same_seed_gives_the_same_curve() -> None:
    kwargs: dict[str, Any] = {
        "total_timesteps": 200,
        "learning_starts": 50,
        "eval_every": 100,
        "eval_episodes": 2,
        "seed": 3,
        "progress_bar": False,
        "algo_kwargs": SMALL_NET,
    }
    a = train("prm/Reach-v0", **kwargs)
    b = train("prm/Reach-v0", **kwargs)
    assert a.steps == b.steps
    assert a.episode_return == b.episode_return
    assert a.success_rate == b.success_rate


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algo": "ppo", "her": True}, "off-policy"),
        ({"algo": "dqn"}, "algo must be one of"),
        ({"shaping": "magic"}, "shaping must be one of"),
        ({"shaping": "none", "potential": CountingPotential()}, "shaping='none'"),
        ({"algo": "ppo", "train_freq": 4}, "off-policy algorithms"),
        ({"n_envs": 0}, "n_envs"),
        ({"gamma": 1.5}, "gamma"),
    ],
)
def test_invalid_combinations_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        train("prm/Reach-v0", total_timesteps=10, progress_bar=False, **kwargs)


def test_stop_at_ends_training_at_the_first_evaluation_reaching_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prm_gym.agents.sb3 as sb3

    rates = iter([0.9, 0.2, 0.5, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    monkeypatch.setattr(sb3, "evaluate", lambda *a, **k: (next(rates), -1.0))
    curve = train(
        "prm/Reach-v0",
        total_timesteps=400,
        n_envs=1,
        learning_starts=10_000,  # no gradient steps: the test is about the loop only
        eval_every=40,
        progress_bar=False,
        algo_kwargs=SMALL_NET,
        stop_at=0.8,
    )
    # Step 0 (0.9) does not stop it; the first later evaluation at >= 0.8 does.
    assert curve.steps == [0, 40, 80, 120]
    assert curve.success_rate == [0.9, 0.2, 0.5, 0.8]
    assert curve.config["stop_at"] == 0.8


@pytest.mark.parametrize("stop_at", [0.0, 1.5, float("nan")])
def test_stop_at_outside_the_unit_interval_raises(stop_at: float) -> None:
    with pytest.raises(ValueError, match="stop_at"):
        train("prm/Reach-v0", total_timesteps=10, progress_bar=False, stop_at=stop_at)


def test_her_needs_a_goal_conditioned_env() -> None:
    with pytest.raises(ValueError, match="goal-conditioned"):
        train("Pendulum-v1", her=True, total_timesteps=10, progress_bar=False)


def test_staged_potential_needs_a_manipulation_env() -> None:
    with pytest.raises(ValueError, match="no default potential"):
        train("Pendulum-v1", shaping="potential", total_timesteps=10, progress_bar=False)


# -- curves -------------------------------------------------------------------------------------
def test_curve_csv_round_trip(tmp_path: Path) -> None:
    curve = LearningCurve(
        [0, 500, 1000],
        [0.0, 0.45, 0.85],
        [-50.0, -31.25, -7.1],
        {"env_id": "prm/Reach-v0", "algo": "sac", "shaping": "learned", "her": True, "seed": 2},
    )
    path = curve.to_csv(tmp_path / "runs" / "run.csv")
    again = LearningCurve.from_csv(path)
    assert again == curve
    assert again.steps_to(0.8) == 1000 and again.steps_to(0.95) is None
    assert again.label == "prm/Reach-v0 SAC learned+HER seed 2"


def test_from_csv_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a learning-curve CSV"):
        LearningCurve.from_csv(path)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    curves = [
        LearningCurve([0, 10], [0.0, 0.5], [0.0, 0.0], {"algo": "sac", "shaping": s, "seed": 0})
        for s in ("none", "potential")
    ]
    path = plot_learning_curves(curves, tmp_path / "plot.png", title="test")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_train_then_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "reach.csv"
    argv = ["train", "prm/Reach-v0", "--algo", "sac", "--shaping", "potential", "--steps", "200"]
    argv += ["--eval-every", "100", "--eval-episodes", "2", "--seed", "1", "--quiet"]
    assert main([*argv, "--out", str(csv_path)]) == 0
    out = capsys.readouterr().out
    assert str(csv_path) in out
    curve = LearningCurve.from_csv(csv_path)
    assert curve.steps == [0, 100, 200]
    assert curve.config["env_id"] == "prm/Reach-v0" and curve.config["seed"] == 1
    assert curve.config["gradient_steps"] is None and curve.config["obs_norm"] == "none"

    her_path = tmp_path / "push.csv"
    argv = ["train", "prm/Push-v0", "--shaping", "potential", "--her", "--obs-norm", "experts"]
    argv += ["--n-envs", "2", "--gradient-steps", "2", "--steps", "120", "--eval-every", "120"]
    assert main([*argv, "--eval-episodes", "1", "--quiet", "--out", str(her_path)]) == 0
    config = LearningCurve.from_csv(her_path).config
    assert config["gradient_steps"] == 2 and config["obs_norm"] == "experts"
    assert config["replay_buffer"] == "ShapedHerReplayBuffer"

    png_path = tmp_path / "plot.png"
    assert main(["plot", str(csv_path), str(csv_path), "--out", str(png_path), "--title", "t"]) == 0
    assert str(png_path) in capsys.readouterr().out
    assert png_path.read_bytes()[:8] == PNG_SIGNATURE


def test_cli_train_reports_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "prm/Nope-v0", "--steps", "10", "--quiet"]) == 2
    assert "unknown environment id" in capsys.readouterr().err
    assert main(["train", "prm/Reach-v0", "--algo", "ppo", "--her", "--quiet"]) == 2
    assert "off-policy" in capsys.readouterr().err
    assert main(["train", "prm/Reach-v0", "--steps", "0"]) == 2


def test_cli_plot_reports_missing_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "p.png")]) == 2
    assert "no learning-curve CSV" in capsys.readouterr().err


def test_learned_shaping_trains_a_progress_model_first() -> None:
    curve = train(
        "prm/Reach-v0",
        shaping="learned",
        shaping_scale=5.0,
        total_timesteps=200,
        learning_starts=100,
        eval_every=200,
        eval_episodes=2,
        progress_bar=False,
        algo_kwargs=SMALL_NET,
    )
    assert curve.config["potential"].startswith("LearnedProgressPotential")
    assert "scale=5" in curve.config["potential"]
    assert curve.config["shaping_scale"] == 5.0


# ---------------------------------------------------------------- HER with shaping, normalisation


def _filled_shaped_her_buffer(potential: Any, gamma: float, n_steps: int = 120) -> Any:
    """A ShapedHerReplayBuffer holding ``n_steps`` random transitions of shaped Push-v0."""
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env

    from prm_gym.agents.her import ShapedHerReplayBuffer
    from prm_gym.wrappers import PotentialShaping

    def wrap(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
        return PotentialShaping(env, potential, gamma=gamma)

    vec = make_vec_env("prm/Push-v0", n_envs=2, seed=3, wrapper_class=wrap)
    buffer = ShapedHerReplayBuffer(
        1_000,
        vec.observation_space,
        vec.action_space,
        env=vec,
        n_envs=2,
        n_sampled_goal=4,
        goal_selection_strategy="future",
        potential=potential,
        shaping_gamma=gamma,
    )
    rng = np.random.default_rng(0)
    obs = vec.reset()
    for _ in range(n_steps):
        # Scripted-expert-like moves toward the block so the block moves and goals differ.
        action = rng.uniform(-1, 1, size=(2, 4)).astype(np.float32)
        next_obs, reward, done, infos = vec.step(action)
        stored_next = {k: v.copy() for k, v in next_obs.items()}
        for i, d in enumerate(done):
            if d:
                for key in stored_next:
                    stored_next[key][i] = infos[i]["terminal_observation"][key]
        buffer.add(obs, stored_next, action, reward, done, infos)
        obs = next_obs
    return vec, buffer


def test_shaped_her_relabelled_rewards_carry_the_shaping_of_the_new_goal() -> None:
    from prm_gym.envs.manipulation import StagedPotential

    gamma = 0.9
    phi = StagedPotential("prm/Push-v0", scale=10.0)
    vec, buffer = _filled_shaped_her_buffer(phi, gamma)
    try:
        batch = np.arange(0, 60)
        envs = np.array([0, 1] * 30)
        samples = buffer._get_virtual_samples(batch, envs)
        obs = {k: v.numpy().astype(np.float64) for k, v in samples.observations.items()}
        nxt = {k: v.numpy().astype(np.float64) for k, v in samples.next_observations.items()}
        # Relabelled: some new goals differ from the stored ones.
        stored = buffer.observations["desired_goal"][batch, envs]
        assert np.any(np.abs(obs["desired_goal"] - stored).max(axis=1) > 1e-6)
        outcome = vec.env_method("compute_reward", nxt["achieved_goal"], obs["desired_goal"], {})[0]
        expected = outcome + gamma * phi.batch(nxt) - phi.batch(obs)
        got = samples.rewards.numpy().reshape(-1)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        # The shaping part is not zero: the test would fail if the buffer left it out.
        assert np.abs(expected - outcome).max() > 1e-3
    finally:
        vec.close()


def test_shaped_her_calls_potentials_without_a_batch_method_row_by_row() -> None:
    import gymnasium as gym

    from prm_gym.core.scorer import potential_batch
    from prm_gym.envs.manipulation import StagedPotential

    staged = StagedPotential("prm/Push-v0")

    def plain(obs: Any, info: Any = None) -> float:  # no .batch attribute
        return staged(obs)

    rng = np.random.default_rng(1)
    observations = {
        "observation": rng.normal(0, 0.1, size=(5, 24)) + 0.4,
        "achieved_goal": rng.normal(0, 0.1, size=(5, 3)),
        "desired_goal": rng.normal(0, 0.1, size=(5, 3)),
    }
    space = gym.make("prm/Push-v0").observation_space
    np.testing.assert_allclose(
        potential_batch(plain, observations, space), staged.batch(observations), rtol=1e-12
    )


def test_shaped_her_rejects_bad_arguments() -> None:
    import gymnasium as gym

    from prm_gym.agents.her import ShapedHerReplayBuffer

    env = gym.make("prm/Push-v0")
    with pytest.raises(TypeError, match="callable"):
        ShapedHerReplayBuffer(10, env.observation_space, env.action_space, env=None, potential=3)
    with pytest.raises(ValueError, match="shaping_gamma"):
        ShapedHerReplayBuffer(
            10,
            env.observation_space,
            env.action_space,
            env=None,
            potential=lambda o, i=None: 0.0,
            shaping_gamma=1.5,
        )


def test_her_with_shaping_and_fixed_observation_normalisation(tmp_path: Path) -> None:
    model_path = tmp_path / "push_sac"
    curve = train(
        "prm/Push-v0",
        algo="sac",
        shaping="potential",
        her=True,
        obs_norm="experts",
        n_envs=2,
        total_timesteps=300,
        learning_starts=100,
        eval_every=150,
        eval_episodes=2,
        progress_bar=False,
        algo_kwargs=SMALL_NET,
        model_path=model_path,
    )
    assert curve.config["replay_buffer"] == "ShapedHerReplayBuffer"
    assert curve.config["obs_norm"] == "experts"
    assert curve.steps == [0, 150, 300]
    # The statistics travel inside the saved model: it loads and acts on raw observations.
    import gymnasium as gym
    from stable_baselines3 import SAC

    from prm_gym.agents.obs_norm import NormalizedExtractor

    env = gym.make("prm/Push-v0")
    model = SAC.load(str(model_path) + ".zip", env=make_vec_env("prm/Push-v0"))
    extractor = model.policy.actor.features_extractor
    assert isinstance(extractor, NormalizedExtractor)
    assert float(extractor.get_buffer("std").min()) >= 0.01 - 1e-7
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (4,)
    # Without shaping, HER keeps SB3's own buffer.
    plain = train(
        "prm/Reach-v0",
        her=True,
        total_timesteps=120,
        learning_starts=100,
        eval_every=120,
        eval_episodes=1,
        progress_bar=False,
        algo_kwargs=SMALL_NET,
    )
    assert plain.config["replay_buffer"] == "HerReplayBuffer"
    assert plain.config["obs_norm"] is None


def make_vec_env(env_id: str) -> Any:
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

    return sb3_make_vec_env(env_id, n_envs=1)


def test_normalized_extractor_normalises_clips_and_checks_its_statistics() -> None:
    import gymnasium as gym
    import torch as th

    from prm_gym.agents.obs_norm import NormalizedExtractor, observation_stats

    space = gym.make("prm/Reach-v0").observation_space
    rng = np.random.default_rng(0)
    batch = {
        "achieved_goal": rng.normal(0.1, 0.05, size=(50, 3)),
        "desired_goal": rng.normal(-0.1, 0.2, size=(50, 3)),
        "observation": rng.normal(0.0, 0.3, size=(50, 8)),
    }
    batch["observation"][:, 3] = 0.02  # a constant feature: its std is floored at 0.01
    stats = observation_stats(batch)
    assert stats["observation"][1][3] == pytest.approx(0.01)
    extractor = NormalizedExtractor(space, stats)
    tensors = {k: th.as_tensor(v, dtype=th.float32) for k, v in batch.items()}
    out = extractor(tensors).numpy()
    assert out.shape == (50, 14)
    keys = list(space.spaces)
    flat = np.concatenate([batch[k] for k in keys], axis=1)
    mean = np.concatenate([stats[k][0] for k in keys])
    std = np.concatenate([stats[k][1] for k in keys])
    np.testing.assert_allclose(out, np.clip((flat - mean) / std, -5, 5), rtol=1e-4, atol=1e-4)
    far = {k: v + 100.0 for k, v in tensors.items()}
    assert float(extractor(far).max()) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="exactly the observation keys"):
        NormalizedExtractor(space, {"observation": stats["observation"]})
    with pytest.raises(ValueError, match="8 values"):
        NormalizedExtractor(space, {**stats, "observation": ([0.0], [1.0])})
    with pytest.raises(ValueError, match="NaN"):
        observation_stats({"observation": np.array([[np.nan]])})


def test_obs_norm_rejects_bad_choices() -> None:
    with pytest.raises(ValueError, match="obs_norm"):
        train("prm/Reach-v0", obs_norm="running", total_timesteps=10, progress_bar=False)
    with pytest.raises(ValueError, match="Dict observation space"):
        train("Pendulum-v1", obs_norm="experts", total_timesteps=10, progress_bar=False)
    with pytest.raises(ValueError, match="features_extractor_class"):
        train(
            "prm/Reach-v0",
            obs_norm="experts",
            total_timesteps=10,
            progress_bar=False,
            algo_kwargs={"policy_kwargs": {"features_extractor_class": object}},
        )


# -- hardening (issue 15) -----------------------------------------------------------------------
def test_her_with_more_sub_envs_than_the_warm_up_covers() -> None:
    """With 4 sub-envs of 50-step episodes, SB3's 100-step warm-up ended before any episode did
    ("Unable to sample before the end of the first episode"); the default now waits for one."""
    curve = train(
        "prm/Push-v0",
        her=True,
        shaping="potential",
        n_envs=4,
        total_timesteps=240,
        eval_every=240,
        eval_episodes=1,
        progress_bar=False,
        algo_kwargs={**SMALL_NET, "batch_size": 32},
    )
    assert curve.steps == [0, 240]
    assert curve.config["learning_starts"] == 200  # 4 sub-envs x 50 steps
    with pytest.raises(ValueError, match=r"learning_starts >= n_envs x episode length = 4 x 50"):
        train("prm/Reach-v0", her=True, n_envs=4, learning_starts=100, progress_bar=False)


def test_train_writes_no_sb3_log_dir_in_the_temp_dir(tmp_path: Path) -> None:
    import tempfile

    before = {p.name for p in Path(tempfile.gettempdir()).glob("SB3-*")}
    train(
        "prm/Reach-v0",
        total_timesteps=20,
        eval_every=20,
        eval_episodes=1,
        progress_bar=False,
        log_path=tmp_path / "run.csv",
    )
    after = {p.name for p in Path(tempfile.gettempdir()).glob("SB3-*")}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.csv"]


def test_plot_warns_on_a_single_point_and_refuses_an_empty_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = LearningCurve([0], [0.0], [0.0], {"env_id": "prm/Push-v0", "algo": "sac"})
    with pytest.warns(UserWarning, match="only 1 evaluation point"):
        plot_learning_curves([one], tmp_path / "one.png")
    with pytest.raises(ValueError, match="no evaluation points"):
        plot_learning_curves([LearningCurve()], tmp_path / "none.png")
    csv_path = one.to_csv(tmp_path / "one.csv")
    assert main(["plot", str(csv_path), "--out", str(tmp_path / "p.png")]) == 0
    err = capsys.readouterr().err
    assert "prm-gym plot: warning:" in err and "1 evaluation point" in err
    LearningCurve(config={"env_id": "x"}).to_csv(tmp_path / "empty.csv")
    assert main(["plot", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "e.png")]) == 2
    assert "no evaluation points" in capsys.readouterr().err
