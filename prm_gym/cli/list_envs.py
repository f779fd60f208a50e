"""``prm-gym list``: every registered ``prm/*`` id with its one-line description."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

import prm_gym

NAME = "list"


def add_parser(sub: Any) -> None:
    """Register ``list`` on the ``prm-gym`` subparsers."""
    sub.add_parser(NAME, help="list the registered prm/* environments and multi-agent envs")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print every registered ``prm/*`` id and every ``prm_gym.multiagent`` env (made with
    ``prm_gym.multiagent.make(name)``) with its description, in aligned columns."""
    from prm_gym.multiagent import ENV_NAMES

    rows = [(env_id, prm_gym.ENV_IDS[env_id][2]) for env_id in sorted(prm_gym.ENV_IDS)]
    rows += [(f"multiagent: {name}", ENV_NAMES[name][1]) for name in sorted(ENV_NAMES)]
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        out.write(f"{name:<{width}}  {description}\n")
    return 0
