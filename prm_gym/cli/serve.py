"""``prm-gym serve ENV_ID``: serve an env as an OpenEnv environment server (WebSocket ``/ws``).

Each connected client gets its own env instance; ``reset`` passes ``seed`` and ``options``
through; each observation carries the step's ``info`` (``reward_components`` included). See
:mod:`prm_gym.integrations.openenv` for the wire format and the client class.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from prm_gym.cli._common import CLIError

NAME = "serve"


def add_parser(sub: Any) -> None:
    """Register ``serve`` on the ``prm-gym`` subparsers."""
    p = sub.add_parser(
        NAME,
        help="serve an env as an OpenEnv environment server (one env per client)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("env_id", help="a registered id, e.g. prm/Math-v0 or prm/Reach-v0")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--dense", action="store_true", help="serve prm_gym.make_dense(ENV_ID)")
    p.add_argument("--coef", type=float, default=None, help="dense weight (default: family's)")
    p.add_argument("--max-sessions", type=int, default=64, help="most concurrent clients")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Build the app and run it with uvicorn until interrupted."""
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be in 0..65535, got {args.port}")
    if args.max_sessions < 1:
        raise CLIError(f"--max-sessions must be >= 1, got {args.max_sessions}")
    if args.coef is not None and not args.dense:
        raise CLIError("--coef applies to the dense stack: add --dense")
    try:
        import uvicorn

        from prm_gym.integrations.openenv import create_openenv_app
    except ImportError as exc:
        raise CLIError(f"{exc}; serving needs: pip install 'prm-gym[openenv]'") from exc
    app = create_openenv_app(
        args.env_id, dense=args.dense, coef=args.coef, max_sessions=args.max_sessions
    )
    out.write(f"serving {args.env_id} at ws://{args.host}:{args.port}/ws\n")
    out.flush()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
