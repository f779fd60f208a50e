"""PGTrainer (GRPO / RLOO / PRIME on text envs): learning, options, step -> token advantages."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.agents.pg import (
    PGConfig,
    PGTrainer,
    pg_loss,
    step_advantages,
    step_advantages_to_tokens,
    step_rewards,
)
from prm_gym.core.transcript import Trajectory
from prm_gym.credit import group_normalized_advantages, prime_advantages, rloo_advantages
from prm_gym.rewards import RuleVerifier
from prm_gym.spaces import Text
from prm_gym.wrappers import ProcessReward

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from prm_gym.llm import TransformersBackend  # noqa: E402
from prm_gym.llm.tiny import tiny_causal_lm  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class SayEnv(gym.Env[str, str]):
    """One step: the prompt is ``Say A``; reward 1 when the action starts with ``A``."""

    def __init__(self, target: str = "A") -> None:
        self.observation_space = Text(64)
        self.action_space = Text(64)
        self.target = target

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        return f"Say {self.target}", {"task_id": "say"}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        reward = 1.0 if action.startswith(self.target) else 0.0
        info = {"outcome": reward, "reward_components": {"outcome": reward}}
        return "", reward, True, False, info


def _backend(vocab_size: int = 128, init: float = 0.02) -> TransformersBackend:
    # A small vocabulary and flat random logits: "A" is sampled often enough to be found.
    return TransformersBackend(*tiny_causal_lm(vocab_size=vocab_size, initializer_range=init))


# -- learning ---------------------------------------------------------------------------------
def _learn_to_say_a(advantage: Any, seed: int) -> list[dict[str, float]]:
    config = PGConfig(
        group_size=8,
        prompts_per_iteration=2,
        lr=5e-3,
        beta=0.01,
        max_new_tokens=2,
        advantage=advantage,
        seed=seed,
    )
    trainer = PGTrainer(_backend(), SayEnv, config)
    history = trainer.train(40, progress=False)
    assert trainer.history == history
    return history


def _assert_learned(history: list[dict[str, float]]) -> None:
    rewards = [h["reward"] for h in history]
    first, last = float(np.mean(rewards[:5])), float(np.mean(rewards[-5:]))
    assert first < 0.1, rewards
    assert last > first + 0.6, rewards
    assert all(math.isfinite(h["loss"]) and h["kl"] >= 0 for h in history)


@pytest.mark.parametrize("advantage", ["grpo", "rloo", "prime"])
def test_trainer_learns_to_say_a(advantage: Any) -> None:
    """From ~1% of samples starting with "A" to almost all in 40 updates (fixed seed)."""
    _assert_learned(_learn_to_say_a(advantage, seed=0))


@pytest.mark.slow
@pytest.mark.parametrize("advantage", ["grpo", "rloo", "prime"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_trainer_learns_to_say_a_across_seeds(advantage: Any, seed: int) -> None:
    _assert_learned(_learn_to_say_a(advantage, seed))


def test_sampling_logprobs_match_training_forward() -> None:
    """The PPO ratio starts at 1: the trainer's forward reproduces the sampling log-probs."""
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())  # noqa: E731
    config = PGConfig(group_size=2, prompts_per_iteration=2, max_new_tokens=6, beta=0.0)
    trainer = PGTrainer(_backend(512, 0.2), env_fn, config)
    trajectories = trainer.collect()
    samples = trainer._samples(trajectories, trainer.advantages(trajectories))
    batch = trainer._batch(samples)
    with torch.no_grad():
        new = trainer._token_logprobs(trainer.model, batch)
    diff = ((new - batch["old"]) * batch["mask"]).abs().max()
    assert float(diff) < 1e-3
    assert len({t.task_id for t in trajectories[:2]}) == 1  # a group shares its task
    assert trajectories[0].task_id != trajectories[2].task_id


@pytest.mark.parametrize("advantage", ["grpo", "rloo", "prime"])
@pytest.mark.parametrize(("credit", "gate"), [("sum", False), ("min_form", True)])
def test_every_option_gives_finite_losses(advantage: Any, credit: Any, gate: bool) -> None:
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())  # noqa: E731
    config = PGConfig(
        group_size=2,
        prompts_per_iteration=1,
        max_new_tokens=4,
        advantage=advantage,
        credit=credit,
        gate=gate,
        epochs=2,
        lr=1e-3,
    )
    trainer = PGTrainer(_backend(256, 0.2), env_fn, config)
    [record] = trainer.train(1, progress=False)
    for key in ("loss", "pg_loss", "kl", "grad_norm", "reward", "outcome", "process"):
        assert math.isfinite(record[key]), (key, record)
    assert record["steps"] >= 1
    assert record["kl"] >= 0


class ParityEnv(SayEnv):
    """One step; the outcome is the env instance's parity (0, 1, 0, 1, ... by construction)."""

    made = 0

    def __init__(self) -> None:
        super().__init__()
        self.parity = float(ParityEnv.made % 2)
        ParityEnv.made += 1

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        info = {"outcome": self.parity, "reward_components": {"outcome": self.parity}}
        return "", self.parity, True, False, info


class ZeroEnv(SayEnv):
    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return "", 0.0, True, False, {"outcome": 0.0, "reward_components": {"outcome": 0.0}}


@pytest.mark.parametrize(("env_cls", "share"), [(ZeroEnv, 1.0), (ParityEnv, 0.0)])
def test_record_reports_zero_variance_groups_and_sampled_nll(env_cls: Any, share: float) -> None:
    ParityEnv.made = 0
    config = PGConfig(group_size=2, prompts_per_iteration=3, max_new_tokens=3, beta=0.0)
    [record] = PGTrainer(_backend(), env_cls, config).train(1, progress=False)
    assert record["zero_var_groups"] == share
    # Near-flat logits over 128 tokens: about ln 128 = 4.85 nats per sampled token.
    assert 4.0 < record["sampled_nll"] < 5.5


# -- advantages -------------------------------------------------------------------------------
def test_step_advantages_to_tokens() -> None:
    assert step_advantages_to_tokens([0.5, -1.0, 0.0], [2, 0, 3]).tolist() == [
        0.5,
        0.5,
        0.0,
        0.0,
        0.0,
    ]
    # padded entries after the last step are ignored
    assert step_advantages_to_tokens([2.0, 9.0], [1]).tolist() == [2.0]
    with pytest.raises(ValueError, match="step advantages"):
        step_advantages_to_tokens([1.0], [1, 1])


def test_samples_carry_each_steps_advantage_on_its_tokens() -> None:
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())  # noqa: E731
    config = PGConfig(group_size=2, max_new_tokens=3, pack_steps=False)  # one sample per step
    trainer = PGTrainer(_backend(512, 0.2), env_fn, config)
    trajectories = trainer.collect()
    advantages = np.arange(trainer.env.num_envs * 2, dtype=float).reshape(-1, 2)
    samples = trainer._samples(trajectories, advantages)
    k = 0
    for i, traj in enumerate(trajectories):
        for t, info in enumerate(traj.infos):
            tokens = info["generation"]["token_ids"]
            if not tokens:
                continue
            assert samples[k].token_ids == tokens
            assert samples[k].advantages.tolist() == [advantages[i, t]] * len(tokens)
            k += 1
    assert k == len(samples)


def test_outcome_only_advantages_are_the_group_estimators() -> None:
    outcomes = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    zeros, mask = np.zeros((6, 1)), np.ones((6, 1), dtype=bool)
    grpo = step_advantages(zeros, outcomes, mask, 3, advantage="grpo")[:, 0]
    rloo = step_advantages(zeros, outcomes, mask, 3, advantage="rloo")[:, 0]
    np.testing.assert_allclose(grpo, group_normalized_advantages(outcomes.reshape(2, 3)).ravel())
    np.testing.assert_allclose(rloo, rloo_advantages(outcomes.reshape(2, 3)).ravel())


def test_process_advantages_are_returns_to_go() -> None:
    process = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = np.array([[True, True, True], [True, False, False]])
    adv = step_advantages(process, [0.0, 0.0], mask, 2, advantage="rloo")
    # leave-one-out baselines: row 0 -> m_1 = 0, row 1 -> m_0 = 1/3
    np.testing.assert_allclose(adv, [[1.0, 0.0, 0.0], [-1 / 3, 0.0, 0.0]])
    prime = step_advantages(process, [1.0, 0.0], mask, 2, advantage="prime", process_coef=0.5)
    expected, _ = prime_advantages(process, [1.0, 0.0], mask, 2, process_coef=0.5)
    np.testing.assert_allclose(prime, expected)


def test_step_rewards_credit_rules() -> None:
    process = np.array([[1.0, -1.0], [0.5, 0.5]])
    mask = np.ones((2, 2), dtype=bool)
    assert step_rewards(process, [1.0, 1.0], mask).tolist() == process.tolist()
    gated = step_rewards(process, [1.0, 0.0], mask, gate=True)
    assert gated.tolist() == [[1.0, -1.0], [0.0, 0.0]]
    pure = step_rewards(process, [1.0, 1.0], mask, credit="min_form", min_form_temperature=0.01)
    assert pure[0].sum() == pytest.approx(-1.0, abs=1e-6)  # the worst step
    assert pure[1].sum() == pytest.approx(0.5)


def test_pg_loss_clips_and_penalises_kl() -> None:
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[2.0, 0.5]]))
    adv = torch.tensor([[1.0, 1.0]])
    mask = torch.ones(1, 2)
    loss, stats = pg_loss(new, old, None, adv, mask, clip=0.2)
    # ratio 2 clipped to 1.2 (A > 0: min(2, 1.2)); ratio 0.5 unclipped
    assert float(loss) == pytest.approx(-(1.2 + 0.5) / 2)
    assert stats["clip_frac"] == 1.0
    _, with_ref = pg_loss(new, old, new.clone(), adv, mask, beta=0.1)
    assert with_ref["kl"] == pytest.approx(0.0, abs=1e-7)
    _, apart = pg_loss(new, old, old, adv, mask, beta=0.1)
    assert apart["kl"] > 0


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="group_size"):
        PGConfig(group_size=1)
    with pytest.raises(ValueError, match="advantage"):
        PGConfig(advantage="ppo")  # type: ignore[arg-type]


def test_micro_batches_give_the_full_batch_gradient() -> None:
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())  # noqa: E731
    full = PGTrainer(_backend(256, 0.2), env_fn, PGConfig(group_size=2, max_new_tokens=5))
    micro = PGTrainer(
        _backend(256, 0.2), env_fn, PGConfig(group_size=2, max_new_tokens=5, micro_batch_size=1)
    )
    trajectories = full.collect()
    advantages = np.random.default_rng(0).normal(size=(len(trajectories), 2))
    samples = full._samples(trajectories, advantages)
    assert len(samples) > 1
    stats_full, stats_micro = full.update(samples), micro.update(samples)
    assert stats_micro["loss"] == pytest.approx(stats_full["loss"], rel=1e-4, abs=1e-6)
    for a, b in zip(full.model.parameters(), micro.model.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)


def _packed_and_plain(
    backend: Callable[[], TransformersBackend], env_fn: Any, cfg: PGConfig
) -> Any:
    """Two trainers on the same weights, one packing steps and one not."""
    packed = PGTrainer(backend(), env_fn, cfg)
    plain = PGTrainer(backend(), env_fn, replace(cfg, pack_steps=False))
    plain.model.load_state_dict(packed.model.state_dict())
    plain.reference.load_state_dict(packed.reference.state_dict())
    return packed, plain


def _assert_same_update(packed: PGTrainer, plain: PGTrainer, one: Any, per_step: Any) -> None:
    """The packed samples' update has the per-step samples' loss, statistics and gradient."""
    a, b = packed.update(one), plain.update(per_step)
    for key in ("loss", "pg_loss", "kl", "clip_frac"):
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    for p, q in zip(packed.model.parameters(), plain.model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_packed_steps_give_the_per_step_loss_and_gradient() -> None:
    # Steps whose prompt extends the previous step's sequence are trained as one sequence; the
    # loss, its statistics and the gradient must be those of one sequence per step.
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=3), RuleVerifier())  # noqa: E731
    cfg = PGConfig(group_size=2, max_new_tokens=5, beta=0.05)
    packed, plain = _packed_and_plain(lambda: _backend(256, 0.2), env_fn, cfg)
    trajectories = packed.collect()
    advantages = np.random.default_rng(0).normal(size=(len(trajectories), 3))
    one, per_step = (
        packed._samples(trajectories, advantages),
        plain._samples(trajectories, advantages),
    )
    assert len(one) < len(per_step) == sum(len(t.actions) for t in trajectories)
    assert sum(s.generated for s in one) == sum(s.generated for s in per_step)
    width = lambda samples: sum(len(s.prompt_ids) + len(s.token_ids) for s in samples)  # noqa: E731
    assert width(one) < width(per_step)
    _assert_same_update(packed, plain, one, per_step)


def test_packing_a_rewritten_stop_token_gives_the_per_step_loss_and_gradient() -> None:
    # Step 1 generated [.., 7] (a stop token) and step 2's prompt shows it as 9 (a chat
    # template's end-of-turn marker): packed, that position is still trained on 7.
    packed, plain = _packed_and_plain(
        lambda: _backend(64, 0.2), SayEnv, PGConfig(group_size=2, beta=0.05)
    )
    rng = np.random.default_rng(0)
    trajs = []
    for _ in range(4):
        p1, t1 = rng.integers(10, 60, 6).tolist(), [*rng.integers(10, 60, 3).tolist(), 7]
        p2, t2 = [*p1, *t1[:-1], 9, *rng.integers(10, 60, 4).tolist()], rng.integers(10, 60, 3)
        infos = [
            {"generation": {"prompt_token_ids": p, "token_ids": list(t), "logprobs": list(lp)}}
            for p, t, lp in ((p1, t1, -rng.random(4)), (p2, t2.tolist(), -rng.random(3)))
        ]
        trajs.append(Trajectory("t", "p", ["a", "b"], rewards=[0.0, 0.0], infos=infos))
    advantages = rng.normal(size=(4, 2))
    one, per_step = packed._samples(trajs, advantages), plain._samples(trajs, advantages)
    assert (len(one), len(per_step)) == (4, 8)
    assert all(s.targets != s.token_ids for s in one)
    _assert_same_update(packed, plain, one, per_step)


def test_steps_pack_only_where_the_prompt_extends_the_sequence() -> None:
    trainer = PGTrainer(_backend(), SayEnv, PGConfig(group_size=2))
    gen = lambda prompt, tokens: {  # noqa: E731
        "generation": {"prompt_token_ids": prompt, "token_ids": tokens, "logprobs": [-1.0] * 2}
    }
    extends = [gen([1, 2], [3, 4]), gen([1, 2, 3, 4, 5], [6, 7])]
    # The chat template wrote the generated stop token 4 as 8: packed, position trained on 4.
    stop_replaced = [gen([1, 2], [3, 4]), gen([1, 2, 3, 8, 5], [6, 7])]
    differs = [gen([1, 2], [3, 4]), gen([1, 9, 3, 4, 5], [6, 7])]
    trajs = [
        Trajectory(task_id="t", prompt="p", actions=["a", "b"], rewards=[0.0, 0.0], infos=i)
        for i in (extends, stop_replaced, differs)
    ]
    samples = trainer._samples(trajs, np.array([[1.0, 2.0]] * 3))
    assert len(samples) == 4
    assert samples[0].token_ids == samples[0].targets == [3, 4, 5, 6, 7]
    assert samples[0].mask == [1, 1, 0, 1, 1]
    assert samples[0].advantages.tolist() == [1.0, 1.0, 0.0, 2.0, 2.0]
    assert samples[0].old_logprobs == [-1.0, -1.0, 0.0, -1.0, -1.0]
    assert samples[1].token_ids == [3, 8, 5, 6, 7] and samples[1].targets == [3, 4, 5, 6, 7]
    assert samples[1].mask == [1, 1, 0, 1, 1]
    assert [s.prompt_ids for s in samples[2:]] == [[1, 2], [1, 9, 3, 4, 5]]


def test_token_logprobs_match_a_full_softmax_on_the_generated_tokens() -> None:
    # The trainer takes the softmax only where the mask is set; on those positions it must
    # equal the full-vocabulary log-softmax, and elsewhere it is 0.
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())  # noqa: E731
    trainer = PGTrainer(_backend(256, 0.2), env_fn, PGConfig(group_size=2, max_new_tokens=5))
    trajectories = trainer.collect()
    samples = trainer._samples(trajectories, np.zeros((len(trajectories), 2)))
    batch = trainer._batch(samples)
    with torch.no_grad():
        got = trainer._token_logprobs(trainer.model, batch)
        logits = trainer.model(input_ids=batch["ids"], attention_mask=batch["attention"]).logits
        full = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["targets"][..., None])[..., 0]
    mask = batch["mask"] > 0
    assert mask.any() and (~mask).any()
    torch.testing.assert_close(got[mask], full[mask])
    assert torch.all(got[~mask] == 0)
    # ... and they are the sampling log-probs the backend recorded (eval mode, same weights).
    torch.testing.assert_close(got[mask], batch["old"][mask], rtol=1e-4, atol=1e-4)
