"""Do difference rewards help two pushers learn ``team_push_v0``? PPO with parameter sharing.

One shared SB3 PPO policy acts for both pushers (:class:`prm_gym.multiagent.sb3.SharedPolicyVecEnv`,
``n_envs`` env copies x 2 agents). Two credit rules, the same team reward G (sparse −1/0 plus
team potential shaping), the same env steps, PPO settings and seeds:

* ``team``        each agent receives G;
* ``difference``  each agent receives D_i = G − G(agent i idle), computed by branching MjData.

Measured after training: team success rate (``is_success`` on the last step) and mean final
position / yaw error of the bar over ``--eval-episodes`` deterministic episodes on held-out
seeds, mean and min/max over seeds, next to a do-nothing policy's (the errors of the start
poses); training wall time (difference rewards cost two extra
physics branches per step). Prints a Markdown table; ``--json`` also writes the numbers.

Last run (defaults: 30,000 env steps per run, 3 seeds, 30 eval episodes; 2 shared, busy cores,
~16 min wall): neither rule reaches the goal pose within this budget (team success 0.011
[0, 0.033] with the team reward, 0.000 with difference rewards). Difference rewards leave the
bar closer to the goal than the shared team reward (final position error 0.106 m vs 0.126 m,
yaw error 0.273 vs 0.399 rad; the do-nothing policy: 0.109 m, 0.335 rad): with the team reward
the shared policy learns to move the bar, but away from the goal as often as towards it.

    python benchmarks/team_push.py                       # 3 seeds x 2 rules, ~10-15 min
    python benchmarks/team_push.py --steps 4000 --seeds 1  # smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from typing import Any

import numpy as np

from prm_gym.multiagent import make


def evaluate(model: Any, episodes: int, seed: int, **env_kwargs: Any) -> dict[str, float]:
    """Deterministic episodes on seeds ``seed, seed + 1, ...``: success and final errors."""
    from prm_gym.multiagent.sb3 import flatten_observation
    from prm_gym.multiagent.team_push import pose_errors

    env = make("team_push_v0", **env_kwargs)
    success, pos_err, yaw_err = [], [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        infos: dict[str, Any] = {}
        while env.agents:
            batch = np.stack([flatten_observation(obs[a]) for a in env.agents])
            actions, _ = model.predict(batch, deterministic=True)
            obs, _, _, _, infos = env.step(dict(zip(env.possible_agents, actions, strict=True)))
        success.append(infos["pusher_0"]["is_success"])
        p, y = pose_errors(obs["pusher_0"]["achieved_goal"], obs["pusher_0"]["desired_goal"])
        pos_err.append(float(p))
        yaw_err.append(float(y))
    return {
        "success": float(np.mean(success)),
        "pos_err": float(np.mean(pos_err)),
        "yaw_err": float(np.mean(yaw_err)),
    }


class Idle:
    """The do-nothing reference policy: both pushers hold still."""

    def predict(self, batch: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.zeros((len(batch), 3), dtype=np.float32), None


def run(credit: str, seed: int, steps: int, n_envs: int, eval_episodes: int) -> dict[str, float]:
    """Train one shared PPO policy for ``steps`` env steps (per copy, summed) and evaluate it."""
    import torch
    from stable_baselines3 import PPO

    from prm_gym.multiagent.sb3 import SharedPolicyVecEnv

    torch.set_num_threads(1)
    env_kwargs: dict[str, Any] = {"credit": credit}
    venv = SharedPolicyVecEnv([lambda: make("team_push_v0", **env_kwargs)] * n_envs, seed=seed)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=200,
        batch_size=200,
        n_epochs=5,
        learning_rate=1e-3,
        gamma=0.99,
        ent_coef=0.0,
        policy_kwargs={"net_arch": [64, 64]},
        seed=seed,
        verbose=0,
        device="cpu",
    )
    start = time.perf_counter()
    # each env step gives one sample per agent: total_timesteps counts samples
    model.learn(total_timesteps=steps * venv.n_agents)
    wall = time.perf_counter() - start
    result = evaluate(model, eval_episodes, 10_000 + 100 * seed)
    result["train_s"] = wall
    venv.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--eval-episodes", type=int, default=30)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    for module, package in (
        ("pettingzoo", "pettingzoo"),
        ("mujoco", "mujoco"),
        ("stable_baselines3", "stable-baselines3"),
    ):
        if importlib.util.find_spec(module) is None:
            raise SystemExit(f"benchmarks/team_push.py needs {package}: pip install {package}")
    results: dict[str, list[dict[str, float]]] = {"team": [], "difference": []}
    for seed in range(args.seeds):
        for credit in results:
            r = run(credit, seed, args.steps, args.n_envs, args.eval_episodes)
            results[credit].append(r)
            print(f"seed {seed} {credit:<10} {r}", flush=True)
    print(
        f"\nteam_push_v0, shared PPO, {args.steps} env steps per run, {args.seeds} seeds, "
        f"{args.eval_episodes} eval episodes each (mean [min, max] over seeds)\n"
    )
    print("| credit | team success | final pos err (m) | final yaw err (rad) | train s |")
    print("|---|---|---|---|---|")
    idle = evaluate(Idle(), args.eval_episodes, 10_000)
    results_rows = {**results, "idle (reference)": [{**idle, "train_s": 0.0}]}
    for credit, rows in results_rows.items():
        cells = []
        for key in ("success", "pos_err", "yaw_err", "train_s"):
            v = np.array([r[key] for r in rows])
            cells.append(f"{v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]")
        print(f"| {credit} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
