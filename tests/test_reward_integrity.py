"""The reward-integrity kit over every registered env (issue 14): under ``make_dense`` at its
default coefficient, 0.1 and 1, no hacking policy's mean return over 30 tasks reaches the gold
policy's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import pytest

import prm_gym
from prm_gym.core.assets import FamilyAssets, family_assets, register_assets
from prm_gym.testing import check_reward_integrity
from prm_gym.wrappers import ProgressReward


@pytest.mark.parametrize("env_id", sorted(prm_gym.ENV_IDS))
def test_no_hack_reaches_the_gold_under_make_dense(env_id: str) -> None:
    assets = family_assets(env_id)
    assert assets.gold_policy is not None, f"{env_id} declares no gold policy"
    assert assets.hack_policies, f"{env_id} declares no hack policies"
    report = check_reward_integrity(env_id, episodes=30, coefs=(None, 0.1, 1.0))
    assert report.ok, str(report)
    golds = [r for r in report.rows if r.is_gold]
    assert len(golds) == 3 and all(r.success_rate > 0.5 for r in golds), str(report)


@pytest.mark.parametrize("env_id", sorted(prm_gym.ENV_IDS))
def test_make_dense_keeps_every_term_visible(env_id: str) -> None:
    env = prm_gym.make_dense(env_id)
    try:
        obs, info = env.reset(seed=3)
        policy = family_assets(env_id).gold_policy
        assert policy is not None
        act = policy()
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs, info, env))
            assert reward == pytest.approx(sum(info["reward_components"].values()))
            done = terminated or truncated
    finally:
        env.close()


def _farming_scorer_env(coef: float | None) -> gym.Env[Any, Any]:
    """A deliberately farmable stack: +1 for any valid step, summed (the raw form)."""
    from prm_gym.wrappers import ProcessReward

    class EveryStep:
        def score(self, contexts: Any) -> Any:
            import numpy as np

            return np.ones(len(contexts), dtype=np.float32)

    return ProcessReward(gym.make("prm/Math-v0"), EveryStep(), coef=1.0 if coef is None else coef)


def _pad_forever() -> Any:
    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> str:
        return "1 + 1 = 2"

    return act


def test_the_kit_catches_a_farmable_stack() -> None:
    gold = family_assets("prm/Math-v0").gold_policy
    assert gold is not None
    report = check_reward_integrity(
        _farming_scorer_env, gold, hacks={"pad_forever": _pad_forever}, episodes=5
    )
    assert not report.ok
    assert {r.policy for r in report.failures} == {"pad_forever"}
    assert "REACHES GOLD" in str(report)


def test_the_kit_takes_a_built_env_and_user_policies() -> None:
    from prm_gym.envs.math import MathProgress

    env = ProgressReward(gym.make("prm/Math-v0"), MathProgress())
    gold = family_assets("prm/Math-v0").gold_policy
    assert gold is not None
    report = check_reward_integrity(env, gold, hacks={"pad_forever": _pad_forever}, episodes=5)
    assert report.ok, str(report)
    assert {r.stack for r in report.rows} == {"custom"}


def test_a_new_family_needs_only_its_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    from prm_gym.core import assets

    monkeypatch.setattr(assets, "_REGISTRY", dict(assets._REGISTRY))
    register_assets("CartPole-v1", FamilyAssets(make_dense=lambda env, coef=None: env))
    env = prm_gym.make_dense("CartPole-v1")
    assert env.spec is not None and env.spec.id == "CartPole-v1"
    with pytest.raises(KeyError, match="no family assets"):
        prm_gym.make_dense("MountainCar-v0")
