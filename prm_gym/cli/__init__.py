"""The ``prm-gym`` command: list the environments, play one by hand, run the demo, train, plot.

Usage::

    prm-gym                              # the commands, one line each
    prm-gym list                         # every prm/* id with a one-line description
    prm-gym play prm/Math-v0 --seed 0    # solve a task yourself, one step per line
    prm-gym demo --episodes 200          # noisy solvers under three reward setups + SAC on Reach
    prm-gym demo --quick --no-rl         # the Math table only, 30 episodes per noise level
    prm-gym rollout prm/Math-v0 --model DIR --episodes 32 --num-envs 8 --out runs.jsonl
    prm-gym reward-code prm/Reach-v0 --model DIR --rounds 2 --candidates 4
    prm-gym train prm/Reach-v0 --algo sac --shaping potential --steps 20000 --out run.csv
    prm-gym plot run.csv other.csv --out curves.png
    prm-gym train-prm prm/Math-v0 --n 600 --labels rule --format reward_head --out prm_dir
    prm-gym train-prm prm/Math-v0 --levels 1 --n 4000 --lr 5e-3 --batch-size 64 \\
        --pretrain-steps 300 --steps 1000 --lm-weight 1 --out prm_dir   # beats the baseline
    prm-gym eval-prm prm_dir --n 200 --out prm_report.png
    prm-gym serve prm/Math-v0 --dense --port 8011   # an OpenEnv server, one env per client
    prm-gym --version

One module per command (``prm_gym.cli.<command>``: ``add_parser(sub)`` and
``run(args, out, err) -> int``). :func:`main` is the one place that turns expected errors into
messages: a :class:`~prm_gym.cli._common.CLIError` from a command, or a ``ValueError``,
``ImportError``, ``OSError`` or Gymnasium error from the library, prints
``prm-gym COMMAND: error: <message>`` on stderr (one line, except the unknown-id message that
lists the known ids) and exits 2. Set ``PRM_GYM_DEBUG=1`` to get the traceback instead.
Ctrl-C exits 130. ``main(argv)`` returns the exit code instead of exiting, so it can be called
from Python and tests.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import TextIO

import gymnasium as gym

import prm_gym
from prm_gym.cli import (
    demo,
    eval_prm,
    list_envs,
    play,
    plot,
    reward_code,
    rollout,
    serve,
    train,
    train_prm,
)
from prm_gym.cli._common import DEFAULT_SCORERS, CLIError

__all__ = ["DEFAULT_SCORERS", "CLIError", "build_parser", "main"]

#: The commands, in the order ``prm-gym --help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    list_envs,
    play,
    demo,
    rollout,
    reward_code,
    train,
    plot,
    train_prm,
    eval_prm,
    serve,
)
#: Errors from the library that mean bad input (a wrong id, file, option or missing extra), not
#: a bug: ``main`` reports them in one line.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    CLIError,
    ValueError,
    ImportError,
    OSError,
    gym.error.Error,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``prm-gym`` argument parser (each subcommand's ``run`` is its ``func`` default)."""
    parser = argparse.ArgumentParser(
        prog="prm-gym",
        description="Gymnasium environments and wrappers for process-reward RL.",
    )
    parser.add_argument("--version", action="version", version=f"prm-gym {prm_gym.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
        sub.choices[command.NAME].set_defaults(func=command.run)
    return parser


def _one_line(exc: BaseException) -> str:
    """The exception as one line: its message (whitespace collapsed), with its type if not ours."""
    text = " ".join(str(exc).split())
    if isinstance(exc, FileNotFoundError) and exc.filename and not text:
        text = f"no such file: {exc.filename}"
    if isinstance(exc, CLIError):
        return str(exc).strip()
    return f"{text} ({type(exc).__name__})" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run ``prm-gym`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if args.command is None:  # only options such as nothing after them
        parser.print_help(sys.stderr)
        return 2
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    try:
        return int(args.func(args, out, err))
    except KeyboardInterrupt:
        err.write("\n(interrupted)\n")
        return 130
    except EXPECTED_ERRORS as exc:
        if os.environ.get("PRM_GYM_DEBUG"):
            raise
        err.write(f"prm-gym {args.command}: error: {_one_line(exc)}\n")
        return 2
