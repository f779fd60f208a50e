"""prm_gym.sandbox: the code sees only the interpreter, system programs and libraries, a few
devices and its own files (a new root built from an allow-list), not the project checkout,
/work, /home, /root, other directories of the host, nor CodeEnv's task file.

Needs root (a mount namespace); elsewhere the fallback is recorded and these tests skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prm_gym.envs.code import CodeEnv
from prm_gym.sandbox import Sandbox, SandboxConfig, SandboxLimits, default_python

REPO = Path(__file__).resolve().parent.parent
SECRET = "fs-secret-7f3a"
READ = """
import collections, json, math, os
def read(path):
    try:
        with open(path) as fh:
            return "read:" + fh.read(200)
    except OSError as exc:
        return type(exc).__name__
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__
import datetime, decimal, fractions, heapq, itertools, random, re, statistics
open("mine.txt", "w").write("my own file")
def mine():
    return read(os.path.join(os.getcwd(), "mine.txt"))
def linked(path):
    os.symlink(path, "link")
    try:
        return read("link")
    finally:
        os.unlink("link")
def computed():  # in the code's process: its own imports work
    return [math.sqrt(16), json.loads("[1]"), collections.Counter("aab")["a"],
            str(decimal.Decimal("1.5")), statistics.median([1, 3, 5])]
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    if os.geteuid() != 0:
        pytest.skip("the new root needs a mount namespace (root)")
    with Sandbox(pool_size=1, limits=SandboxLimits(timeout=10.0)) as sandbox:
        yield sandbox


@pytest.fixture()
def outside() -> Iterator[Path]:
    """A folder outside /tmp (the sandbox's /tmp is its own) holding a world-readable file."""
    folder = Path(tempfile.mkdtemp(prefix="prm_gym_fs_test_", dir=_outside_tmp()))
    os.chmod(folder, 0o755)
    (folder / "public.txt").write_text(SECRET)
    os.chmod(folder / "public.txt", 0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _outside_tmp() -> str:
    for candidate in ("/var/tmp", str(REPO.parent)):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    pytest.skip("no writable folder outside /tmp")


def test_host_files_are_hidden_and_the_code_still_runs(box: Sandbox, outside: Path) -> None:
    targets = {
        "readme": str(REPO / "README.md"),
        "pyproject": str(REPO / "pyproject.toml"),
        "outside": str(outside / "public.txt"),
        "shadow": "/etc/shadow",
        "passwd": "/etc/passwd",
        "this_test": str(Path(__file__).resolve()),
        "up_from_workdir": "../../" + str(outside / "public.txt"),
    }
    assert all(os.path.exists(p) for k, p in targets.items() if k != "up_from_workdir")
    tests = [
        f"assert read({path!r}) == 'FileNotFoundError', {name!r}" for name, path in targets.items()
    ]
    tests += [
        f"assert listing({folder!r}) == 'FileNotFoundError'"
        for folder in ("/work", "/home", "/root", "/srv", "/opt", "/var", "/run", "/mnt",
                       str(REPO), str(outside))
    ]  # fmt: skip
    readme = str(REPO / "README.md")
    tests += [
        # A link in the work dir resolves in the sandbox's root; init's root is not reachable.
        f"assert linked({readme!r}) == 'FileNotFoundError'",
        f"assert read('/proc/1/root' + {readme!r}) == 'PermissionError'",
        f"assert read('/proc/self/root' + {readme!r}) == 'FileNotFoundError'",
        "assert read('mine.txt') == 'read:my own file'",
        "assert mine() == 'read:my own file'",
        "assert computed() == [4.0, [1], 2, '1.5', 3]",
        "assert set(listing('/')) <= {'bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32',"
        " 'proc', 'sbin', 'tmp', 'usr'}",
    ]
    result = box.run_tests(READ, tests)
    assert result.host_files_hidden and result.filesystem_isolated
    assert result.passed, result.report()


def test_the_root_is_read_only_and_leaves_nothing_on_the_host(box: Sandbox) -> None:
    code = (
        "import os\ndef write(path):\n    try:\n        open(path, 'w').write('x')\n"
        "        return 'written'\n    except OSError as exc:\n        return type(exc).__name__\n"
    )
    result = box.run_tests(
        code,
        [
            "assert write('/escape.txt') in ('PermissionError', 'OSError')",
            "assert write('/usr/lib/escape.txt') in ('PermissionError', 'OSError')",
            "assert write('/dev/shm/x') in ('PermissionError', 'OSError')",
            "assert write('/tmp/ok.txt') == 'written'",
        ],
    )
    assert result.passed, result.report()
    # The staging folder of each new root is gone from the host's /tmp within milliseconds
    # (another sandbox starting meanwhile may show its own for that long).
    seen = _staging_dirs()
    time.sleep(1.0)
    assert not seen & _staging_dirs()


def _staging_dirs() -> set[str]:
    return {p for p in os.listdir("/tmp") if p.startswith("prm_gym_root_")}


def test_codeenv_task_file_is_not_readable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    path = tmp_path / "tasks.jsonl"
    record = {
        "task_id": "Leak/0",
        "prompt": 'def leak():\n    """Return the answer."""\n',
        "canonical_solution": "    return 1\n",
        "test": "def check(candidate):\n    assert candidate() == 'kq9-answer'\n",
        "entry_point": "leak",
    }
    path.write_text(json.dumps(record) + "\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    env = CodeEnv(str(path), timeout=10.0, pool_size=1)
    try:
        env.reset(seed=0)
        code = (
            "def leak():\n    try:\n"
            f"        return 'kq9-answer' if 'kq9' in open({str(path)!r}).read() else 'no'\n"
            "    except OSError as exc:\n        return type(exc).__name__\n"
        )
        _, reward, *_, info = env.step(f"```python\n{code}```")
        assert reward == 0.0
        assert info["tests"][0]["message"] == "expected 'kq9-answer', got 'FileNotFoundError'"
    finally:
        env.close()


def test_a_venv_inside_a_checkout_shows_only_its_interpreter_dirs() -> None:
    """A venv in the project folder: the sandbox runs its interpreter (its prefix, lib and
    site-packages are visible) but not the rest of the checkout."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system is None:
        pytest.skip("no system python3")
    checkout = Path(tempfile.mkdtemp(prefix="prm_gym_fs_checkout_", dir=_outside_tmp()))
    try:
        os.chmod(checkout, 0o755)
        (checkout / "secret.txt").write_text(SECRET)
        made = subprocess.run(
            [system, "-m", "venv", "--without-pip", str(checkout / ".venv")],
            capture_output=True,
            timeout=60,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot make a venv: {made.stderr[-200:]!r}")
        python = str(checkout / ".venv" / "bin" / "python")
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        Path(site, "venv_only_module.py").write_text("VALUE = 41 + 1\n")
        os.chmod(Path(site, "venv_only_module.py"), 0o644)
        config = SandboxConfig(python=python)
        with Sandbox(pool_size=0, config=config, limits=SandboxLimits(timeout=10.0)) as box:
            result = box.run_tests(
                READ + "import subprocess, sys\nPREFIX = sys.prefix\n"
                "from venv_only_module import VALUE\n"
                "AGAIN = subprocess.run([sys.executable, '-c', 'import sys; print(sys.prefix)'],"
                " capture_output=True, text=True, timeout=10).stdout.strip()\n",
                [
                    f"assert PREFIX == {str(checkout / '.venv')!r}",
                    f"assert AGAIN == {str(checkout / '.venv')!r}",  # bin/ and pyvenv.cfg
                    "assert VALUE == 42",
                    f"assert read({str(checkout / 'secret.txt')!r}) == 'FileNotFoundError'",
                    f"assert listing({str(checkout)!r}) == ['.venv']",
                ],
            )
        assert result.host_files_hidden
        assert result.passed, result.report()
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


def test_without_hiding_the_host_tree_is_visible() -> None:
    """The switch works both ways: with ``hide_host_files=False`` the file is readable (so the
    tests above fail without the new root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    # A checkout under /tmp is behind the worker's private /tmp either way; then use a
    # world-readable system file that the new root leaves out.
    target = REPO / "pyproject.toml"
    if str(REPO.resolve()).startswith("/tmp/"):
        target = Path("/etc/os-release")
        if not target.exists():
            pytest.skip("checkout under /tmp and no /etc/os-release")
    config = SandboxConfig(hide_host_files=False)
    with Sandbox(pool_size=0, config=config, limits=SandboxLimits(timeout=10.0)) as box:
        result = box.run_tests(READ, [f"assert read({str(target)!r}).startswith('read:')"])
        hidden = Sandbox(pool_size=0, limits=SandboxLimits(timeout=10.0))
        with hidden:
            check = hidden.run_tests(READ, [f"assert read({str(target)!r}).startswith('read:')"])
        assert not check.passed or not check.host_files_hidden  # hidden with the new root
    assert not result.host_files_hidden
    assert result.passed, result.report()


def test_the_interpreter_paths_leave_out_an_editable_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prm_gym.sandbox import _worker

    """Only paths of the interpreter itself: a checkout that an editable install puts on
    ``sys.path`` is left out (a venv inside it is not)."""
    monkeypatch.setattr(sys, "path", [str(REPO), *sys.path])  # as a .pth file would add it
    paths = _worker.interpreter_paths()
    assert sys.executable in paths
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    for path in paths:
        real = os.path.realpath(path)
        assert any(real == p or real.startswith(p + "/") for p in prefixes) or real.startswith(
            os.path.realpath(os.path.dirname(sys.executable))
        ), path
    assert str(REPO) not in {os.path.realpath(p) for p in paths}


def test_hidden_paths_inside_the_new_root_stay_hidden() -> None:
    """``SandboxConfig.hidden_paths`` inside an allowed directory (this package installed in
    ``site-packages`` holds the reference solutions) are covered in the new root too."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    python = default_python()
    stdlib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    folder, module = os.path.join(stdlib, "xmlrpc"), os.path.join(stdlib, "antigravity.py")
    if not (os.path.isdir(folder) and os.path.isfile(module)):
        pytest.skip("this standard library lacks xmlrpc/ or antigravity.py")
    config = SandboxConfig(hidden_paths=(folder, module))
    with Sandbox(pool_size=0, config=config, limits=SandboxLimits(timeout=10.0)) as box:
        result = box.run_tests(
            READ,
            [
                f"assert listing({folder!r}) == []",
                f"assert read({module!r}) == 'read:'",
                f"assert read({os.path.join(stdlib, 'this.py')!r}).startswith('read:s = ')",
            ],
        )
    assert result.host_files_hidden
    assert result.passed, result.report()
