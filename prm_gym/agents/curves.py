"""Learning curves: success rate against environment steps, saved as CSV and plotted to PNG.

A :class:`LearningCurve` is what :func:`prm_gym.agents.sb3.train` returns and what
``prm-gym plot`` reads. The CSV is plain: one ``# config: {json}`` comment line, then the columns
``steps,success_rate,episode_return``, so spreadsheets and pandas (``comment="#"``) read it too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LearningCurve", "plot_learning_curves"]

_CONFIG_PREFIX = "# config: "
_COLUMNS = ("steps", "success_rate", "episode_return")


@dataclass
class LearningCurve:
    """Evaluation results over one training run.

    Attributes:
        steps: Environment steps taken when each evaluation ran (all sub-envs together).
        success_rate: Fraction of evaluation episodes whose final ``info["is_success"]`` was true.
        episode_return: Mean evaluation return of the env's own (unshaped) reward.
        config: How the run was made (env id, algorithm, shaping, seed, ...); JSON-serialisable
            values round-trip through the CSV, anything else is stored as its ``repr``.
    """

    steps: list[int] = field(default_factory=list)
    success_rate: list[float] = field(default_factory=list)
    episode_return: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not len(self.steps) == len(self.success_rate) == len(self.episode_return):
            raise ValueError(
                "steps, success_rate and episode_return must have the same length, got "
                f"{len(self.steps)}, {len(self.success_rate)}, {len(self.episode_return)}"
            )

    def append(self, step: int, success_rate: float, episode_return: float) -> None:
        """Add one evaluation."""
        self.steps.append(int(step))
        self.success_rate.append(float(success_rate))
        self.episode_return.append(float(episode_return))

    def steps_to(self, threshold: float) -> int | None:
        """The first evaluated step whose success rate is ≥ ``threshold``; ``None`` if never.

        Example:
            >>> LearningCurve([0, 100, 200], [0.0, 0.5, 0.9], [0.0, 0.0, 0.0]).steps_to(0.8)
            200
        """
        for step, rate in zip(self.steps, self.success_rate, strict=True):
            if rate >= threshold:
                return step
        return None

    @property
    def label(self) -> str:
        """A short legend label from the config, e.g. ``"prm/Reach-v0 SAC potential seed 0"``."""
        c = self.config
        if not c:
            return "run"
        parts = [str(c.get("env_id", "")), str(c.get("algo", "")).upper()]
        shaping = str(c.get("shaping", ""))
        parts.append(shaping + ("+HER" if c.get("her") else ""))
        if "seed" in c:
            parts.append(f"seed {c['seed']}")
        return " ".join(p for p in parts if p)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the curve (config in a leading ``# config:`` line) and return the path."""
        path = Path(path)
        buffer = io.StringIO()
        buffer.write(_CONFIG_PREFIX + json.dumps(self.config, sort_keys=True, default=repr) + "\n")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for row in zip(self.steps, self.success_rate, self.episode_return, strict=True):
            writer.writerow([row[0], repr(row[1]), repr(row[2])])
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buffer.getvalue(), encoding="utf-8")
        return path

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> LearningCurve:
        """Read a curve written by :meth:`to_csv`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no learning-curve CSV at {path}")
        config: dict[str, Any] = {}
        rows: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(_CONFIG_PREFIX):
                config = json.loads(line[len(_CONFIG_PREFIX) :])
            elif line and not line.startswith("#"):
                rows.append(line)
        reader = csv.reader(rows)
        header = next(reader, None)
        if header is None or tuple(header) != _COLUMNS:
            raise ValueError(
                f"{path} is not a learning-curve CSV: expected the columns {','.join(_COLUMNS)} "
                f"(written by LearningCurve.to_csv / prm-gym train), got {header}"
            )
        curve = cls(config=config)
        for line_no, row in enumerate(reader, start=2):
            try:
                curve.append(int(row[0]), float(row[1]), float(row[2]))
            except (IndexError, ValueError) as exc:
                raise ValueError(f"{path}: bad data row {line_no}: {row} ({exc})") from None
        return curve


def plot_learning_curves(
    curves: Sequence[LearningCurve],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    labels: Sequence[str] | None = None,
) -> Path:
    """Plot success rate against environment steps, one line per curve, to a PNG file.

    A curve with one evaluation point is drawn as a dot and warns (``UserWarning``); a curve
    with none raises ``ValueError``.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change), so it works
    headless and inside other matplotlib programs.

    Args:
        curves: The runs to draw.
        path: Output file (``.png``).
        title: Figure title (default: the env ids of the curves).
        labels: Legend labels (default: each curve's :attr:`LearningCurve.label`).
    """
    if not curves:
        raise ValueError("plot_learning_curves needs at least one curve")
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"got {len(labels)} labels for {len(curves)} curves")
    for i, curve in enumerate(curves):
        name = labels[i] if labels is not None else curve.label
        if not curve.steps:
            raise ValueError(f"learning curve {name!r} has no evaluation points to plot")
        if len(curve.steps) < 2:
            warnings.warn(
                f"learning curve {name!r} has only 1 evaluation point (step {curve.steps[0]}): "
                "it is drawn as a single dot; the run probably stopped early",
                UserWarning,
                stacklevel=2,
            )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, curve in enumerate(curves):
        label = labels[i] if labels is not None else curve.label
        ax.plot(curve.steps, curve.success_rate, marker="o", markersize=3, label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    if title is None:
        env_ids = sorted({str(c.config.get("env_id", "")) for c in curves} - {""})
        title = ", ".join(env_ids) if env_ids else "learning curves"
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
