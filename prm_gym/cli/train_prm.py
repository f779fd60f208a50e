"""``prm-gym train-prm``: label procedural maths solutions, train a small PRM and save it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

import gymnasium as gym

from prm_gym.cli._common import (
    CLIError,
    finite_float,
    non_negative_float,
    non_negative_int,
    positive_int,
    probability,
    require_env,
)

NAME = "train-prm"


def add_parser(sub: Any) -> None:
    """Register ``train-prm`` on the ``prm-gym`` subparsers."""
    from prm_gym.envs.math.generator import LEVELS

    train = sub.add_parser(
        NAME,
        help="train a small process reward model on labelled procedural solutions",
        description="Play noisy scripted solutions, label their steps (exact rule labels or "
        "Monte-Carlo Math-Shepherd labels), fine-tune a small GPT-2 PRM and save it so that "
        "RewardHeadPRM / TokenProbPRM load it.",
    )
    train.add_argument("env_id", help="procedural maths env id, e.g. prm/Math-v0")
    train.add_argument("--n", type=positive_int, default=600, help="training solutions (600)")
    train.add_argument("--labels", choices=("rule", "mc"), default="rule", help="step labels")
    train.add_argument(
        "--format",
        choices=("reward_head", "token_prob", "step_features"),
        default="reward_head",
        help="PRM kind: transformer reward head or token prob, or an MLP over step features",
    )
    train.add_argument("--epochs", type=positive_int, default=4, help="epochs (4)")
    train.add_argument("--lr", type=finite_float, default=2e-3, help="learning rate (2e-3)")
    train.add_argument("--batch-size", type=positive_int, default=16, help="batch size (16)")
    train.add_argument(
        "--steps",
        type=non_negative_int,
        default=None,
        help="optimiser steps of the step-label phase (default: --epochs passes)",
    )
    train.add_argument(
        "--pretrain-steps",
        type=non_negative_int,
        default=0,
        help="steps of next-token loss on the prompt and correct steps only, before the "
        "step labels (0); the transformer recipe that beats the baseline: --levels 1 --n 4000 "
        "--lr 5e-3 --batch-size 64 --pretrain-steps 300 --steps 1000 --lm-weight 1",
    )
    train.add_argument(
        "--lm-weight",
        type=non_negative_float,
        default=0.0,
        help="weight of that next-token loss added to the step loss (0)",
    )
    train.add_argument(
        "--levels",
        type=int,
        choices=LEVELS,
        nargs="+",
        default=None,
        metavar="L",
        help="procedural difficulty levels (1-5) to draw problems from (default: all)",
    )
    train.add_argument(
        "--noise",
        type=probability,
        nargs=2,
        metavar=("P", "Q"),
        default=(0.15, 0.2),
        help="training solutions' slip probability per step and wrong-answer probability "
        "(0.15 0.2; eval-prm always uses these defaults)",
    )
    train.add_argument("--model", default=None, help="local checkpoint to fine-tune")
    train.add_argument("--seed", type=int, default=0, help="first task seed and init seed (0)")
    train.add_argument("--out", required=True, help="directory to save the PRM to")
    train.add_argument("--quiet", action="store_true", help="no progress bars")


def require_procedural_maths(env_id: str, command: str) -> None:
    """Raise :class:`CLIError` unless ``env_id``'s tasks carry gold steps (prm/Math-v0 and kin)."""
    require_env(env_id)
    try:
        env = gym.make(env_id)
    except Exception as exc:
        raise CLIError(f"could not build {env_id} ({type(exc).__name__}: {exc})") from exc
    try:
        env.reset(seed=0)
        task = getattr(env.unwrapped, "task", None)
        gold = (getattr(task, "metadata", None) or {}).get("gold_steps")
    except Exception as exc:
        raise CLIError(f"could not reset {env_id} ({type(exc).__name__}: {exc})") from exc
    finally:
        env.close()
    if not gold:
        raise CLIError(
            f"{command} takes a procedural maths env whose tasks have gold steps (prm/Math-v0); "
            f"{env_id}'s tasks have none"
        )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Make labelled solutions, train a small PRM on them and save it with save_pretrained."""
    require_procedural_maths(args.env_id, NAME)
    if args.model is not None and not Path(args.model).expanduser().is_dir():
        raise CLIError(f"--model {args.model!r}: no such model directory")
    from prm_gym.rewards.prm_training import make_prm_dataset, save_prm, train_prm

    data = make_prm_dataset(
        args.env_id,
        args.n,
        args.seed,
        labels=args.labels,
        noise=tuple(args.noise),
        levels=args.levels,
        progress=not args.quiet,
    )
    model, tokenizer = train_prm(
        data,
        args.model,
        format=args.format,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        steps=args.steps,
        pretrain_steps=args.pretrain_steps,
        lm_weight=args.lm_weight,
        seed=args.seed,
        progress=not args.quiet,
    )
    save_prm(model, tokenizer, args.out, args.format)
    meta = {
        "env_id": args.env_id,
        "n": args.n,
        "seed": args.seed,
        "labels": args.labels,
        "noise": list(args.noise),
        "levels": list(args.levels) if args.levels else None,
    }
    Path(args.out, "prm_training.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    out.write(
        f"Trained a {args.format} PRM on {len(data)} {args.labels}-labelled solutions of "
        f"{args.env_id} (task seeds {args.seed}..{args.seed + args.n - 1}); saved to {args.out}\n"
    )
    return 0
