"""``prm-gym plot``: draw learning-curve CSVs (success rate vs env steps) to a PNG."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any, TextIO

NAME = "plot"


def add_parser(sub: Any) -> None:
    """Register ``plot`` on the ``prm-gym`` subparsers."""
    plot = sub.add_parser(
        NAME,
        help="plot learning-curve CSVs (success rate vs env steps) to a PNG",
        description="One line per CSV written by `prm-gym train`, labelled from its config. A "
        "CSV with a single evaluation point (a run that stopped early) is drawn as a dot with a "
        "warning; one with none is an error.",
    )
    plot.add_argument("csv", nargs="+", metavar="RUN.csv", help="learning-curve CSV files")
    plot.add_argument("--out", default=None, help="PNG path (default: the first CSV's name .png)")
    plot.add_argument("--title", default=None, help="plot title (default: the env ids)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Plot success rate vs env steps for one or more learning-curve CSVs to a PNG."""
    from prm_gym.agents.curves import LearningCurve, plot_learning_curves

    curves = [LearningCurve.from_csv(path) for path in args.csv]
    for path, curve in zip(args.csv, curves, strict=True):
        if len(curve.steps) < 2:
            err.write(
                f"prm-gym plot: warning: {path} has {len(curve.steps)} evaluation point(s); the "
                "run probably stopped early (a single point is drawn as a dot)\n"
            )
    png = args.out or str(Path(args.csv[0]).with_suffix(".png"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # already reported above, per file
        plot_learning_curves(curves, png, title=args.title)
    out.write(f"Wrote a plot of {len(curves)} learning curve(s) to {png}\n")
    return 0
