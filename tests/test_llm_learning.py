"""benchmarks/llm_learning.py writes its table and curves (the output, not a result)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from _benchmarks import load_benchmark

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("matplotlib")


def _bench() -> ModuleType:
    return load_benchmark("llm_learning")


def _check_outputs(out: Path, variants: tuple[str, ...], updates: int) -> None:
    md = (out / "llm_learning.md").read_text()
    header = md.splitlines()[0]
    for column in (
        "greedy acc",
        "pass@K",
        "updates to outcome's final greedy",
        "steps/episode",
        "idle share",
        "gen s/upd",
        "env+reward s/upd",
        "opt s/upd",
    ):
        assert column in header
    rows = [line.split("|")[1].strip() for line in md.splitlines()[2:] if line.startswith("| ")]
    assert rows == list(variants)
    png = out / "llm_learning.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "llm_learning.json").read_text())
    assert sorted({r["variant"] for r in data["runs"]}) == sorted(variants)
    for run in data["runs"]:
        assert run["curve"][0]["update"] == 0.0
        assert run["curve"][-1]["update"] == float(updates)
        for point in run["curve"]:
            for key in ("greedy", "pass_at_k", "sample_acc"):
                assert 0.0 <= point[key] <= 1.0
            assert point["sample_acc"] <= point["pass_at_k"]
            assert 0.0 <= point["idle_share"] <= 1.0
        assert min(run["gen_s"], run["env_s"], run["opt_s"]) >= 0.0
    # Every variant starts from the same cached base policy.
    assert len({json.dumps(r["curve"][0]["greedy"]) for r in data["runs"]}) == 1


def test_one_variant_one_update(tmp_path: Path) -> None:
    """Fast smoke: the outcome-only variant, one update, a tiny base policy."""
    bench = _bench()
    bench.main(
        [
            "--quick",
            "--variants",
            "outcome",
            "--updates",
            "1",
            "--sft-steps",
            "5",
            "--sft-solutions",
            "50",
            "--eval-tasks",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    _check_outputs(tmp_path, ("outcome",), 1)
    assert list(tmp_path.glob("base_policy_*/sft.json"))


def test_train_pool_trains_on_its_problems_and_measures_them(tmp_path: Path) -> None:
    """``--train-tasks N``: a pool disjoint from the held-out problems, its accuracy reported."""
    bench = _bench()
    pool = {t.prompt for t in bench.eval_tasks(3, bench.POOL_SEED)}
    held_out = {t.prompt for t in bench.eval_tasks(2)}
    assert not pool & held_out
    argv = ["--quick", "--variants", "outcome", "--updates", "2", "--sft-steps", "5"]
    argv += ["--sft-solutions", "50", "--eval-tasks", "2", "--train-tasks", "3"]
    bench.main([*argv, "--out", str(tmp_path)])
    _check_outputs(tmp_path, ("outcome",), 2)
    data = json.loads((tmp_path / "llm_learning.json").read_text())
    assert data["settings"]["train_tasks"] == 3
    for point in data["runs"][0]["curve"]:
        assert 0.0 <= point["pool_greedy"] <= 1.0
    for record in data["runs"][0]["train"]:
        assert 0.0 <= record["zero_var_groups"] <= 1.0
    md = (tmp_path / "llm_learning.md").read_text()
    assert "pool greedy (final)" in md.splitlines()[0]
    assert md.splitlines()[1].count("---") == md.splitlines()[0].count("|") - 1


@pytest.mark.slow
def test_quick_runs_every_variant(tmp_path: Path) -> None:
    """``--quick`` runs all six variants end to end and writes the table, JSON and PNG."""
    bench = _bench()
    bench.main(["--quick", "--out", str(tmp_path)])
    _check_outputs(tmp_path, bench.VARIANTS, bench.QUICK.updates)
