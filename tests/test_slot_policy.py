"""SlotPolicy: one shared slot scorer for ChoiceActions + TextFeatures observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO

from prm_gym.agents.slot_policy import SlotPolicy, SlotScorer
from prm_gym.envs.webshop import WebShopEnv
from prm_gym.wrappers import ChoiceActions, TextFeatures


def _env() -> gym.Env:
    base = WebShopEnv(num_products=40, catalog_seed=1, max_steps=6)
    return TextFeatures(ChoiceActions(base, max_choices=8), dim=32, choice_dim=8)


def test_slot_scores_are_permutation_equivariant() -> None:
    torch.manual_seed(0)
    scorer = SlotScorer(page_dim=5, num_slots=4, slot_dim=7)
    x = torch.randn(3, 5 + 4 * 7)
    slots = x[:, 5:].reshape(3, 4, 7)
    perm = torch.tensor([2, 0, 3, 1])
    x_perm = torch.cat([x[:, :5], slots[:, perm].reshape(3, -1)], dim=1)
    logits, logits_perm = scorer.forward_actor(x), scorer.forward_actor(x_perm)
    assert logits.shape == (3, 4)
    assert torch.allclose(logits[:, perm], logits_perm, atol=1e-6)
    # The value does not depend on the order of the slots either.
    assert torch.allclose(scorer.forward_critic(x), scorer.forward_critic(x_perm), atol=1e-6)


def test_slot_scorer_rejects_slots_without_features() -> None:
    with pytest.raises(ValueError, match="slot_dim"):
        SlotScorer(page_dim=5, num_slots=4, slot_dim=4)


def test_kwargs_for_needs_choice_features() -> None:
    env = _env()
    assert SlotPolicy.kwargs_for(env) == {"page_dim": 32, "num_slots": 8}
    plain = TextFeatures(ChoiceActions(WebShopEnv(num_products=40), max_choices=8), dim=32)
    with pytest.raises(TypeError, match="choice_dim"):
        SlotPolicy.kwargs_for(plain)


def test_maskable_ppo_trains_and_respects_masks() -> None:
    env = _env()
    model = MaskablePPO(
        SlotPolicy,
        env,
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        seed=0,
        policy_kwargs=SlotPolicy.kwargs_for(env),
    )
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(128)
    after = list(model.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    # The policy's action logits are the slot scores (action_net is the identity).
    obs, info = env.reset(seed=3)
    for _ in range(6):
        mask = np.asarray(info["action_mask"], dtype=bool)
        action, _ = model.predict(obs, action_masks=mask, deterministic=False)
        assert mask[int(action)]
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
