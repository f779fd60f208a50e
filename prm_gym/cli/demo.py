"""``prm-gym demo``: a noisy scripted solver under three reward setups, then shaped vs sparse SAC.

The demo itself lives in :mod:`prm_gym.demo`.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from prm_gym.cli._common import finite_float, positive_int

NAME = "demo"


def add_parser(sub: Any) -> None:
    """Register ``demo`` on the ``prm-gym`` subparsers."""
    demo = sub.add_parser(
        NAME,
        help="a noisy scripted solver on prm/Math-v0 under three reward setups, then shaped vs "
        "sparse SAC on prm/Reach-v0",
        description="Compare outcome-only, process and gated process rewards on a scripted "
        "solver that makes arithmetic slips and wrong final answers; then train SAC on "
        "prm/Reach-v0 with the staged potential and with the sparse reward (--no-rl skips it).",
    )
    demo.add_argument(
        "--episodes",
        type=positive_int,
        default=None,
        help="episodes per noise level (200; 30 with --quick)",
    )
    demo.add_argument("--seed", type=int, default=0, help="base seed (0)")
    demo.add_argument(
        "--coef", type=finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a shorter demo: 30 episodes per noise level, 4,000 SAC steps per Reach-v0 run",
    )
    demo.add_argument(
        "--no-rl", action="store_true", help="skip the SAC run on prm/Reach-v0 (shaped vs sparse)"
    )
    demo.add_argument(
        "--rl-steps",
        type=positive_int,
        default=None,
        help="env steps per Reach-v0 SAC run (5,000; 4,000 with --quick)",
    )
    demo.add_argument(
        "--rl-eval-episodes",
        type=positive_int,
        default=20,
        help="evaluation episodes per point of the Reach-v0 curves (20)",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the Math table and its reading, then (unless ``--no-rl``) the Reach-v0 SAC table."""
    from prm_gym.demo import demo_rows, format_demo_table, interpret_demo

    if args.episodes is None:
        args.episodes = 30 if args.quick else 200
    rows = demo_rows(args.episodes, args.seed, args.coef, progress=not args.quiet)
    out.write(
        f"Noisy solver on prm/Math-v0: {args.episodes} episodes per noise level, seed {args.seed}, "
        f"process coef {args.coef:g}.\n"
        "p = chance a step's arithmetic result is wrong (later steps continue correctly); "
        "q = chance the final answer is wrong.\n"
        "process/gate/return: per-episode means of the reward components; ret|fail: mean return "
        "of failed episodes.\n\n"
    )
    out.write(format_demo_table(rows) + "\n\n")
    for text in interpret_demo(rows):
        out.write(f"* {text}\n")
    from prm_gym.demo import format_hack_rows, hack_rows

    for text in format_hack_rows(hack_rows(30, args.seed, args.coef)):
        out.write(f"* {text}\n")
    if args.no_rl:
        return 0
    from prm_gym.demo import RL_SAC_SETTINGS, format_rl_table, interpret_rl, rl_rows

    steps = args.rl_steps if args.rl_steps is not None else (4_000 if args.quick else 5_000)
    eval_every = max(int(RL_SAC_SETTINGS["n_envs"]), steps // 5)
    out.write(
        f"\nShaped vs sparse reward: SAC on prm/Reach-v0, {steps:,} env steps each, seed "
        f"{args.seed}, success rate on {args.rl_eval_episodes} evaluation episodes every "
        f"{eval_every:,} steps (skip with --no-rl).\n"
    )
    out.flush()
    rl = rl_rows(
        total_timesteps=steps,
        seed=args.seed,
        eval_every=eval_every,
        eval_episodes=args.rl_eval_episodes,
        progress=not args.quiet,
    )
    out.write("\n" + format_rl_table(rl) + "\n\n")
    for text in interpret_rl(rl):
        out.write(f"* {text}\n")
    return 0
