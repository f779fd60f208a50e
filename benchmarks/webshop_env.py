"""prm/WebShop-v0 speed: oracle steps/s and BM25 search latency at 1k and 100k products.

Prints index build time, median / p95 search latency over realistic queries (instructions'
search candidates) and oracle env steps per second, for each catalog size in the same run.

    PYTHONPATH=. python benchmarks/webshop_env.py [--quick]   # --quick: 1k products only
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from prm_gym.envs.webshop import (
    OracleShopper,
    WebShopEnv,
    generate_catalog,
    generate_goal,
    get_index,
    search_candidates,
)


def measure(num_products: int, episodes: int) -> None:
    start = time.perf_counter()
    catalog = generate_catalog(num_products, seed=0)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    index = get_index(catalog)
    built = time.perf_counter() - start
    queries = [
        q[7:-1] for s in range(200) for q in search_candidates(generate_goal(catalog, s).prompt)
    ]
    times = []
    for query in queries:
        t0 = time.perf_counter()
        index.search(query, 50)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    env = WebShopEnv(catalog=catalog)
    oracle = OracleShopper(catalog)
    steps, wins = 0, 0
    start = time.perf_counter()
    for seed in range(episodes):
        _, info = env.reset(seed=seed)
        oracle.reset()
        done = False
        while not done:
            assert env.task is not None
            _, _, terminated, truncated, info = env.step(oracle.act(env.task, info))
            steps += 1
            done = terminated or truncated
        wins += bool(info.get("is_success"))
    elapsed = time.perf_counter() - start
    print(
        f"{num_products:>7} products: catalog {generated:.2f} s, index {built:.2f} s | search "
        f"median {np.median(ms):.3f} ms, p95 {np.percentile(ms, 95):.3f} ms "
        f"({len(queries)} queries) | oracle {steps / elapsed:,.0f} steps/s, "
        f"success {wins / episodes:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k-product catalog")
    args = parser.parse_args()
    for n in (1_000,) if args.quick else (1_000, 100_000):
        measure(n, episodes=300)


if __name__ == "__main__":
    main()
