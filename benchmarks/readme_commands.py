"""Run every shell command the README documents, as a new user would, with long runs shrunk.

    python benchmarks/readme_commands.py              # all commands, in a temp working dir
    python benchmarks/readme_commands.py --list       # only print the commands found
    python benchmarks/readme_commands.py --match train-prm

Commands come from the README's ```bash blocks and from inline `prm-gym ...` /
`python benchmarks/...` / `python examples/...` code spans (placeholders such as COMMAND or
ENV_ID are skipped). Long runs are shrunk only through their own documented flags (``--steps``,
``--n``, ``--episodes``, ``--quick`` where a script has it; :data:`SHRINK`), the install
commands and commands that talk to a server URL are skipped, ``prm-gym play`` gets ``:quit``
on stdin, and a command that needs a local model directory is reported as skipped. Prints one
line per command with its exit code and time, and exits 1 if any ran and failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: flag -> value used instead of the README's (documented flags only).
SHRINK: dict[str, str] = {
    "--steps": "400",
    "--n": "40",
    "--pretrain-steps": "10",
    "--episodes": "2",
    "--rounds": "1",
    "--candidates": "1",
}

_INLINE = re.compile(
    r"`((?:PYTHONPATH=\. )?python (?:benchmarks|examples)/[^`]+|prm-gym [a-z-]+(?: [^`]*)?)`"
)
_PLACEHOLDER = re.compile(r"\b[A-Z_]{3,}\b|\.\.\.|: error|: warning|\[--")


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """Every documented shell command, in README order, without duplicates."""
    text = readme.read_text(encoding="utf-8")
    found: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command:
                found.append(command)
    found += [m.group(1).strip() for m in _INLINE.finditer(text)]
    out: list[str] = []
    for command in found:
        if _PLACEHOLDER.search(command.replace("PYTHONPATH", "")) or command in out:
            continue
        if re.fullmatch(r"prm-gym [a-z-]+", command) and command != "prm-gym list":
            continue  # a command's name in prose, not a command line
        out.append(command)
    return out


def _script_flags(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def shrink(command: str) -> tuple[list[str] | None, str]:
    """The argv to run (``None`` to skip) and a note."""
    if "pip install" in command:
        return None, "install command (CI runs it)"
    if re.search(r"https?://", command):
        return None, "needs a running server at the URL it names"
    argv = shlex.split(command.replace("PYTHONPATH=. ", ""))
    if argv[0] == "python":
        argv[0] = sys.executable
        source = _script_flags(ROOT / argv[1])
        if '"--quick"' in source and "--quick" not in argv:
            argv.append("--quick")
    if "--model" in argv and not Path(argv[argv.index("--model") + 1]).is_dir():
        return None, "needs a local model directory (--model)"
    for i, arg in enumerate(argv[:-1]):
        if arg in SHRINK and argv[0] != sys.executable:
            argv[i + 1] = SHRINK[arg]
    return argv, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    parser.add_argument("--match", default="", help="run only commands containing this text")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per command (900)")
    args = parser.parse_args(argv)
    commands = [c for c in readme_commands() if args.match in c]
    if args.list:
        print("\n".join(commands))
        return 0
    failed = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory() as work:
        for command in commands:
            run, note = shrink(command)
            if run is None:
                print(f"SKIP  {command}  ({note})")
                continue
            if run[0] == sys.executable:
                run[1] = str(ROOT / run[1])
            start = time.perf_counter()
            try:
                proc = subprocess.run(
                    run,
                    cwd=work,
                    env=env,
                    input=":quit\n",
                    capture_output=True,
                    text=True,
                    timeout=args.timeout,
                )
                rc: int | str = proc.returncode
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] if rc else []
            except subprocess.TimeoutExpired:
                rc, tail = "timeout", []
            seconds = time.perf_counter() - start
            failed += rc != 0
            status = "OK  " if rc == 0 else "FAIL"
            print(f"{status}  {command}  (rc {rc}, {seconds:.0f} s, ran: {shlex.join(run[1:])})")
            for line in tail:
                print(f"      {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
