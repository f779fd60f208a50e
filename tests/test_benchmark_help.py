"""Every benchmark script answers ``--help`` without running, and says what to install."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO_ROOT / "benchmarks").glob("*.py"))


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", ["scoring.py", "progress_potential.py"])
def test_help_prints_usage_and_does_not_run(script: str) -> None:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / script), "--help"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: {script}")
    assert "µs" not in proc.stdout and "ms per vector step" not in proc.stdout  # no results
    assert time.perf_counter() - start < 60


def test_every_benchmark_has_an_argparse_main() -> None:
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        assert "argparse" in text and 'if __name__ == "__main__":' in text, path.name


def test_manipulation_benchmark_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load(REPO_ROOT / "benchmarks" / "manipulation_env.py")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "imageio" else real(name, *a),
    )
    with pytest.raises(SystemExit, match=r"pip install 'prm-gym\[bench\]'"):
        module.make_pusher()
