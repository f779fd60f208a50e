"""Train two pushers on ``team_push_v0`` with one shared SB3 policy (parameter sharing).

Both agents of every env copy are slots of one SB3 vector env
(:class:`prm_gym.multiagent.sb3.SharedPolicyVecEnv`); one PPO (or SAC) policy acts for both,
telling them apart by the one-hot agent index in the observation. ``--credit difference`` gives
each pusher its difference reward (the team reward minus the team reward had it idled,
computed by branching the MuJoCo state), ``team`` the shared team reward, ``potential`` the
team reward plus each pusher's own potential shaping.

    python examples/team_push_sb3.py --credit difference --steps 20000
    python examples/team_push_sb3.py --algo sac --steps 5000
"""

from __future__ import annotations

import argparse

import numpy as np

from prm_gym.multiagent import make
from prm_gym.multiagent.sb3 import SharedPolicyVecEnv, flatten_observation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--credit", choices=["team", "difference", "potential"], default="difference"
    )
    parser.add_argument("--algo", choices=["ppo", "sac"], default="ppo")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps (x2 agent samples)")
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from stable_baselines3 import PPO, SAC

    torch.set_num_threads(1)

    venv = SharedPolicyVecEnv(
        [lambda: make("team_push_v0", credit=args.credit)] * args.n_envs, seed=args.seed
    )
    if args.algo == "ppo":
        model = PPO("MlpPolicy", venv, n_steps=200, batch_size=200, seed=args.seed, device="cpu")
    else:
        model = SAC("MlpPolicy", venv, learning_starts=500, seed=args.seed, device="cpu")
    model.learn(total_timesteps=args.steps * venv.n_agents, progress_bar=False)

    env = make("team_push_v0", credit=args.credit)
    successes = []
    for ep in range(20):
        obs, _ = env.reset(seed=1000 + ep)
        while env.agents:
            batch = np.stack([flatten_observation(obs[a]) for a in env.agents])
            actions, _ = model.predict(batch, deterministic=True)
            obs, _, _, _, infos = env.step(dict(zip(env.agents, actions, strict=True)))
        successes.append(infos["pusher_0"]["is_success"])
    print(f"{args.algo} / credit={args.credit}: team success {np.mean(successes):.2f} over 20")
    venv.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
