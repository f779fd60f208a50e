"""``prm-gym train``: train an SB3 agent and write its success-rate learning curve to CSV."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

import prm_gym
from prm_gym.cli._common import CLIError, finite_float, positive_int, require_env, text_env_ids

NAME = "train"


def add_parser(sub: Any) -> None:
    """Register ``train`` on the ``prm-gym`` subparsers."""
    train = sub.add_parser(
        NAME,
        help="train an SB3 agent (SAC/TD3/PPO, optional HER) with or without shaping",
        description="Train SAC, TD3 or PPO on a goal-conditioned env, optionally shaped by the "
        "env's staged potential or a learned progress potential, and write the success-rate "
        "learning curve (evaluated on separate episodes) to a CSV.",
    )
    train.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Reach-v0")
    train.add_argument("--algo", choices=("sac", "td3", "ppo"), default="sac", help="(sac)")
    train.add_argument(
        "--shaping",
        choices=("none", "potential", "learned"),
        default="none",
        help="none: sparse reward; potential: staged hand-written potential; learned: progress "
        "model trained on expert demos (none)",
    )
    train.add_argument("--her", action="store_true", help="hindsight experience replay (sac/td3)")
    train.add_argument(
        "--obs-norm",
        choices=("none", "experts"),
        default="none",
        help="experts: normalise policy inputs with fixed statistics of noisy scripted-expert "
        "episodes (manipulation envs) (none)",
    )
    train.add_argument(
        "--steps", type=positive_int, default=20_000, help="environment steps (20000)"
    )
    train.add_argument("--seed", type=int, default=0, help="seed (0)")
    train.add_argument("--n-envs", type=positive_int, default=1, help="parallel envs (1)")
    train.add_argument(
        "--gradient-steps",
        type=positive_int,
        default=None,
        help="sac/td3: gradient steps per update, one update per env step of each sub-env "
        "(SB3 default 1; the sample-efficiency benchmark uses 2 with --n-envs 4)",
    )
    train.add_argument(
        "--gamma", type=finite_float, default=0.95, help="discount of learner and shaping (0.95)"
    )
    train.add_argument(
        "--shaping-scale",
        type=finite_float,
        default=10.0,
        help="scale of the staged or learned potential: |Φ| ≤ scale (10)",
    )
    train.add_argument(
        "--eval-every", type=positive_int, default=1_000, help="env steps between evaluations"
    )
    train.add_argument(
        "--eval-episodes", type=positive_int, default=20, help="episodes per evaluation (20)"
    )
    train.add_argument(
        "--threshold",
        type=finite_float,
        default=0.8,
        help="success rate reported as reached in the summary (0.8)",
    )
    train.add_argument(
        "--out", default=None, help="CSV path (default: ENV-ALGO-SHAPING-seedS.csv here)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def _default_run_path(args: argparse.Namespace) -> str:
    name = args.env_id.split("/")[-1]
    her = "-her" if args.her else ""
    return f"{name}-{args.algo}-{args.shaping}{her}-seed{args.seed}.csv"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Train an SB3 agent and write its learning curve (success rate vs env steps) to CSV."""
    require_env(args.env_id)
    if args.env_id in text_env_ids():
        manipulation = sorted(set(prm_gym.ENV_IDS) - set(text_env_ids()))
        raise CLIError(
            f"train takes the manipulation envs ({', '.join(manipulation)}) or another "
            f"continuous-control Gymnasium id; {args.env_id} is a text env (use `prm-gym "
            "rollout` for an LLM agent)"
        )
    from prm_gym.agents.sb3 import train

    path = args.out or _default_run_path(args)
    curve = train(
        args.env_id,
        algo=args.algo,
        shaping=args.shaping,
        her=args.her,
        obs_norm=args.obs_norm,
        total_timesteps=args.steps,
        seed=args.seed,
        n_envs=args.n_envs,
        gradient_steps=args.gradient_steps,
        gamma=args.gamma,
        shaping_scale=args.shaping_scale,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        progress_bar=not args.quiet,
        log_path=path,
    )
    final = curve.success_rate[-1] if curve.success_rate else float("nan")
    reached = curve.steps_to(args.threshold)
    when = (
        f"reached {args.threshold:g} at step {reached}"
        if reached is not None
        else f"never reached {args.threshold:g}"
    )
    out.write(
        f"{curve.label}: final success rate {final:.2f} after {curve.steps[-1]} steps "
        f"({when}; {curve.config.get('wall_time_s', 0.0):.0f} s).\n"
        f"Wrote the learning curve to {path}\n"
    )
    return 0
