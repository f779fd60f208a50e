"""MaskablePPO on prm/WebShop-v0: sparse outcome reward vs. the WebShopProgress potential.

Both runs see the same env steps (ChoiceActions + TextFeatures over a small catalog); the
shaped one adds F = γΦ(s′) − Φ(s) from ``WebShopProgress``. Prints the success rate on held-out
goals after training, per seed and averaged.

    PYTHONPATH=. python benchmarks/webshop_rl.py [--quick]   # --quick: 1 seed, 4k steps
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
from sb3_contrib import MaskablePPO

from prm_gym.envs.webshop import WebShopEnv, WebShopProgress
from prm_gym.wrappers import ChoiceActions, PotentialShaping, TextFeatures

GAMMA = 0.99
PRODUCTS = 40
MAX_CHOICES = 20


def make_env(shaped: bool) -> gym.Env[Any, Any]:
    env: gym.Env[Any, Any] = WebShopEnv(num_products=PRODUCTS, catalog_seed=1, max_steps=10)
    if shaped:
        env = PotentialShaping(env, WebShopProgress(), gamma=GAMMA)
    return TextFeatures(ChoiceActions(env, max_choices=MAX_CHOICES), dim=256)


def success_rate(model: MaskablePPO, episodes: int) -> float:
    env = make_env(shaped=False)
    wins = 0
    for i in range(episodes):
        obs, info = env.reset(seed=10_000 + i)
        done = False
        while not done:
            action, _ = model.predict(obs, action_masks=info["action_mask"], deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        wins += bool(info.get("is_success"))
    return wins / episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 4k env steps")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    steps = 4_096 if args.quick else 30_000
    episodes = 50 if args.quick else 200
    results: dict[str, list[float]] = {"sparse": [], "progress potential": []}
    for seed in seeds:
        for name in results:
            start = time.perf_counter()
            env = make_env(shaped=name != "sparse")
            model = MaskablePPO("MlpPolicy", env, n_steps=512, batch_size=128, n_epochs=6,
                                gamma=GAMMA, seed=seed, verbose=0, device="cpu")  # fmt: skip
            model.learn(total_timesteps=steps)
            rate = success_rate(model, episodes)
            results[name].append(rate)
            print(f"seed {seed} {name:<20} success {rate:.3f} after {steps} env steps "
                  f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    for name, rates in results.items():
        print(f"{name:<20} mean success {np.mean(rates):.3f} over {len(rates)} seed(s)")


if __name__ == "__main__":
    main()
