"""``prm-gym list``: every registered ``prm/*`` id with its one-line description."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

import prm_gym

NAME = "list"


def add_parser(sub: Any) -> None:
    """Register ``list`` on the ``prm-gym`` subparsers."""
    sub.add_parser(NAME, help="list the registered prm/* environments")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print every registered ``prm/*`` id and its description in aligned columns."""
    ids = sorted(prm_gym.ENV_IDS)
    width = max(len(i) for i in ids)
    for env_id in ids:
        description = prm_gym.ENV_IDS[env_id][2]
        out.write(f"{env_id:<{width}}  {description}\n")
    return 0
