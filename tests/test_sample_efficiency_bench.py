"""benchmarks/sample_efficiency.py: curves of runs stopped by --stop-at, and its flag checks."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from _benchmarks import load_benchmark

pytest.importorskip("stable_baselines3")

from prm_gym.agents.curves import LearningCurve


def _bench() -> ModuleType:
    return load_benchmark("sample_efficiency")


def test_band_covers_the_longest_run_and_holds_a_stopped_run_at_its_last_rate() -> None:
    bench = _bench()
    stopped = LearningCurve([0, 10, 20], [0.0, 0.5, 0.9], [0.0, 0.0, 0.0])
    full = LearningCurve([0, 10, 20, 30, 40], [0.0, 0.1, 0.2, 0.3, 0.4], [0.0] * 5)
    steps, mean, lo, hi = bench.mean_band([stopped, full])
    assert steps.tolist() == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(hi, [0.0, 0.5, 0.9, 0.9, 0.9])
    np.testing.assert_allclose(lo, [0.0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(mean, [0.0, 0.3, 0.55, 0.6, 0.65])


def test_steps_to_counts_a_stopped_run_at_its_stop_and_an_unreached_one_as_the_budget() -> None:
    bench = _bench()
    result = bench.VariantResult("sparse+HER")
    result.curves = [
        LearningCurve([0, 6000, 12000], [0.0, 0.3, 0.85], [0.0] * 3),
        LearningCurve([0, 6000, 12000, 18000], [0.0, 0.1, 0.2, 0.3], [0.0] * 4),
    ]
    mean, reached = result.steps_to(18000)
    assert reached == 1
    assert mean == pytest.approx((12000 + 18000) / 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--stop-at", "0"], "--stop-at"), (["--eval-every", "0"], "--eval-every")],
)
def test_bad_flags_exit_with_a_message(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench()
    monkeypatch.setattr(sys, "argv", ["sample_efficiency.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        bench.main()
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_from_csv_tables_finished_runs_and_leaves_out_incomplete_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench()
    LearningCurve([0, 6000, 12000], [0.0, 0.4, 0.85], [0.0] * 3).to_csv(
        tmp_path / "sparse_HER_seed0.csv"
    )
    LearningCurve([0, 6000], [0.0, 0.3], [0.0] * 2).to_csv(tmp_path / "sparse_HER_seed1.csv")
    lines = bench.from_csv(tmp_path, ["sparse+HER"], 3, 18000, 0.8)
    text = "\n".join(lines)
    assert "sparse+HER seed 0: 80% at 12,000" in text
    assert "sparse+HER seed 1: incomplete, 6,000 steps so far" in text
    assert "sparse+HER seed 2: no CSV" in text
    row = next(line for line in lines if line.startswith("sparse+HER ") and "seed" not in line)
    assert "12,000" in row and "1/1" in row
    assert (tmp_path / "success_vs_steps.png").read_bytes()[:4] == b"\x89PNG"
    assert "incomplete" in capsys.readouterr().out
