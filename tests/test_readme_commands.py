"""Every shell command the README documents is valid as written (issue 15): ``prm-gym`` lines
parse with the real CLI parser and name registered envs, and every ``python benchmarks/...`` /
``python examples/...`` line names a script that exists and accepts each flag it is given.
``benchmarks/readme_commands.py`` runs them all (long runs shrunk by their own flags)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

import prm_gym
from prm_gym.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    spec = importlib.util.spec_from_file_location(
        "readme_commands", ROOT / "benchmarks" / "readme_commands.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.readme_commands(ROOT / "README.md"))


COMMANDS = _commands()


def test_the_readme_documents_commands() -> None:
    assert any(c.startswith("prm-gym train ") for c in COMMANDS)
    assert any("benchmarks/reward_integrity.py" in c for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_is_valid_as_written(command: str) -> None:
    for part in command.split("&&"):
        argv = shlex.split(part.replace("PYTHONPATH=. ", "").strip())
        if argv[0] == "prm-gym":
            args = build_parser().parse_args(argv[1:])  # SystemExit on an unknown flag or value
            env_id = getattr(args, "env_id", None)
            if isinstance(env_id, str) and env_id.startswith("prm/"):
                assert env_id in prm_gym.ENV_IDS
        elif argv[0] == "python" and argv[1].endswith(".py"):
            script = ROOT / argv[1]
            assert script.is_file(), f"{argv[1]} does not exist"
            source = script.read_text(encoding="utf-8")
            for flag in (a.split("=")[0] for a in argv[2:] if a.startswith("--")):
                assert re.search(rf"[\"']{re.escape(flag)}[\"']", source), (
                    f"{argv[1]} has no {flag} option"
                )
        else:
            assert argv[:3] in (["python", "-m", "pip"], ["python", "-m", "pytest"]), part
