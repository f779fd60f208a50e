"""``prm-gym eval-prm``: ProcessBench-style first-error F1 and best-of-N of a saved PRM."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from prm_gym.cli._common import CLIError, finite_float, positive_int
from prm_gym.cli.train_prm import require_procedural_maths

NAME = "eval-prm"


def add_parser(sub: Any) -> None:
    """Register ``eval-prm`` on the ``prm-gym`` subparsers."""
    from prm_gym.envs.math.generator import LEVELS

    ev = sub.add_parser(
        NAME,
        help="first-error F1 and best-of-N of a trained PRM on held-out problems",
        description="ProcessBench-style evaluation of a PRM saved by train-prm, against the "
        "constant 'no error' baseline, with an optional PNG report.",
    )
    ev.add_argument("prm_dir", help="directory written by train-prm")
    ev.add_argument("--n", type=positive_int, default=200, help="held-out solutions (200)")
    ev.add_argument("--env-id", default=None, help="env id (default: the one trained on)")
    ev.add_argument("--seed", type=int, default=None, help="first task seed (train seed + 1e6)")
    ev.add_argument(
        "--samples-per-task", type=positive_int, default=4, help="solutions per problem (4)"
    )
    ev.add_argument("--threshold", type=finite_float, default=0.5, help="error threshold")
    ev.add_argument(
        "--levels",
        type=int,
        choices=LEVELS,
        nargs="+",
        default=None,
        metavar="L",
        help="difficulty levels of the held-out problems (default: the ones trained on)",
    )
    ev.add_argument("--out", default=None, help="PNG report to write")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """ProcessBench-style first-error F1 and best-of-N of a saved PRM on held-out problems."""
    from prm_gym.rewards.prm_training import eval_prm, load_prm, make_prm_dataset, plot_prm_report

    if not Path(args.prm_dir).is_dir():
        raise CLIError(f"no PRM directory at {args.prm_dir} (write one with `prm-gym train-prm`)")
    try:
        scorer = load_prm(args.prm_dir)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot load a PRM from {args.prm_dir}: {exc}") from exc
    meta_path = Path(args.prm_dir, "prm_training.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    env_id = args.env_id or meta.get("env_id", "prm/Math-v0")
    require_procedural_maths(env_id, NAME)
    # Held out: task seeds far past the training ones.
    seed = args.seed if args.seed is not None else meta.get("seed", 0) + 1_000_000
    levels = args.levels if args.levels is not None else meta.get("levels")
    data = make_prm_dataset(
        env_id,
        args.n,
        seed,
        samples_per_task=args.samples_per_task,
        levels=levels,
        progress=not args.quiet,
    )
    result = eval_prm(scorer, data, threshold=args.threshold, progress=not args.quiet)
    summary = result.summary()
    out.write(json.dumps(summary, indent=2) + "\n")
    out.write(
        f"first-error F1 {result.f1:.3f} vs constant baseline {result.baseline['f1']:.3f} "
        f"(acc on erroneous {result.acc_error:.3f}, on correct {result.acc_correct:.3f}); "
        f"step AUROC {result.step_auroc:.3f} (0.5: no information)\n"
    )
    if args.out:
        plot_prm_report({"trained PRM": result}, args.out, title=f"{args.prm_dir} on {env_id}")
        out.write(f"Wrote the report to {args.out}\n")
    return 0
