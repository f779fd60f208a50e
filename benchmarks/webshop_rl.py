"""MaskablePPO on prm/WebShop-v0: sparse outcome reward vs. the WebShopProgress potential.

Both variants train for the same env steps on the same small catalog (40 generated products,
10 steps per episode) through ``ChoiceActions(max_choices=20)`` and
``TextFeatures(dim=64, choice_dim=16)``: hashed words of the page, and for each of the 20 choice
slots the hashed candidate action, whether it is there, how much of what it points at (the
env's ``candidate_descriptions``: a result's title, ``"color: navy"``) occurs in the
instruction, and how often it was taken. The shaped variant adds F = γΦ(s′) − Φ(s) from
``WebShopProgress`` scaled by ``--scale``. The agent sees no gold: only the page, the candidate
actions and the reward.

The policy scores every slot with one small network shared by all slots (the page embedding
joined to the slot's features → one logit; the critic pools the slot embeddings): the same
MaskablePPO, with a policy network that does not have to learn each of the 20 output units
separately. With the default ``MlpPolicy`` and the same settings PPO mostly learns "search,
open the first result, buy" (seed 0: success 0.07, mean reward 0.67 after 25,600 steps, against
0.70 / 0.91 here); on the page's bag of words alone (``choice_dim=0``, the view this benchmark
used before) it cannot tell which index clicks which option at all.

After half the env steps and at the end, the deterministic policy plays held-out goals (seeds
10,000+; same catalog) and the table shows the success rate (reward = 1: right product, every
option, price bound) and the mean reward (WebShop's usual score) per seed, then the mean over
seeds.

    PYTHONPATH=. python benchmarks/webshop_rl.py [--quick]   # --quick: 1 seed, 10k steps
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO

from prm_gym.agents.slot_policy import SlotPolicy
from prm_gym.envs.webshop import WebShopEnv, WebShopProgress
from prm_gym.wrappers import ChoiceActions, PotentialShaping, TextFeatures

GAMMA = 0.99
PRODUCTS = 40
MAX_STEPS = 10
MAX_CHOICES = 20
PAGE_DIM = 64
CHOICE_DIM = 16
SHAPING_SCALE = 0.15  # Σ of WebShopProgress's four weights


def make_env(scale: float) -> gym.Env[Any, Any]:
    env: gym.Env[Any, Any] = WebShopEnv(num_products=PRODUCTS, catalog_seed=1, max_steps=MAX_STEPS)
    if scale > 0:
        env = PotentialShaping(env, WebShopProgress((scale / 4,) * 4), gamma=GAMMA)
    view = ChoiceActions(env, max_choices=MAX_CHOICES)
    return TextFeatures(view, dim=PAGE_DIM, choice_dim=CHOICE_DIM)


def evaluate(model: MaskablePPO, episodes: int) -> tuple[float, float]:
    """Success rate and mean outcome of the deterministic policy on held-out goals."""
    env = make_env(scale=0.0)
    wins, total = 0, 0.0
    for i in range(episodes):
        obs, info = env.reset(seed=10_000 + i)
        done, reward = False, 0.0
        while not done:
            action, _ = model.predict(obs, action_masks=info["action_mask"], deterministic=True)
            obs, r, terminated, truncated, info = env.step(action)
            done, reward = terminated or truncated, float(r)
        wins += bool(info.get("is_success"))
        total += reward
    return wins / episodes, total / episodes


def train_and_evaluate(
    scale: float, steps: int, seed: int, episodes: int
) -> list[tuple[float, float]]:
    """Train for ``steps`` env steps; (success, mean reward) after half of them and at the end."""
    model = MaskablePPO(
        SlotPolicy,
        make_env(scale),
        policy_kwargs={"page_dim": PAGE_DIM, "num_slots": MAX_CHOICES},
        n_steps=512,
        batch_size=64,
        n_epochs=8,
        learning_rate=1e-3,
        ent_coef=0.03,
        gamma=GAMMA,
        seed=seed,
        verbose=0,
        device="cpu",
    )
    results = []
    for budget in (steps // 2, steps - steps // 2):
        model.learn(total_timesteps=budget, reset_num_timesteps=False)
        results.append(evaluate(model, episodes))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 10,240 env steps")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds")
    parser.add_argument("--scale", type=float, default=SHAPING_SCALE,
                        help="sum of the WebShopProgress weights (shaped variant)")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=None, help="evaluation episodes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.seeds or (1 if args.quick else 3))
    steps = args.steps or (10_240 if args.quick else 25_600)
    episodes = args.episodes or (100 if args.quick else 200)
    variants = {"sparse": 0.0, f"shaped ×{args.scale:g}": args.scale}
    rows: dict[str, list[list[float]]] = {name: [] for name in variants}
    half = steps // 2
    header = (f"{'seed':>6}  {'variant':<12} {f'success@{half}':>14} {f'reward@{half}':>13} "
              f"{f'success@{steps}':>14} {f'reward@{steps}':>13} {'wall s':>7}")  # fmt: skip
    print(f"MaskablePPO on prm/WebShop-v0 ({PRODUCTS} products), {episodes} held-out goals")
    print(header)
    start_all = time.perf_counter()
    for seed in seeds:
        for name, scale in variants.items():
            start = time.perf_counter()
            (s1, r1), (s2, r2) = train_and_evaluate(scale, steps, seed, episodes)
            rows[name].append([s1, r1, s2, r2])
            print(f"{seed:>6}  {name:<12} {s1:>14.3f} {r1:>13.3f} {s2:>14.3f} {r2:>13.3f} "
                  f"{time.perf_counter() - start:>7.0f}", flush=True)  # fmt: skip
    for name, results in rows.items():
        s1, r1, s2, r2 = np.mean(results, axis=0)
        label = f"mean/{len(results)}"
        print(f"{label:>6}  {name:<12} {s1:>14.3f} {r1:>13.3f} {s2:>14.3f} {r2:>13.3f}")
    print(f"total wall time {time.perf_counter() - start_all:.0f} s")


if __name__ == "__main__":
    main()
