"""prm_gym.sandbox: limits really apply in the child, results, warm == cold (also on a reused
worker), cleanup. Worker reuse and replacement: ``test_sandbox_pool.py``.

Dangerous payloads (fork bomb, 10 GB, 1 GB write, 100 MB of output) run only after
``test_limits_apply_in_the_child`` style probes pass (the ``verified`` fixture), are bounded
even if containment failed, and always run with a short timeout.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import tempfile
import time

import pytest

from prm_gym.envs.code import pass_at_k
from prm_gym.sandbox import STATUSES, Sandbox, SandboxConfig, SandboxLimits, run_tests

ADD = "def add(a, b):\n    return a + b\n"
PROBE = """
import os, resource, subprocess
def info():
    return {
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
        "as": resource.getrlimit(resource.RLIMIT_AS),
        "fsize": resource.getrlimit(resource.RLIMIT_FSIZE),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "core": resource.getrlimit(resource.RLIMIT_CORE),
        "cpu": resource.getrlimit(resource.RLIMIT_CPU),
    }
def spawn_sleepers(n):
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen(["sleep", "5"]))
    except OSError:
        pass
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return len(procs)
"""


@pytest.fixture(scope="module")
def box() -> Sandbox:
    with Sandbox(pool_size=2, limits=SandboxLimits(timeout=3.0)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def verified(box: Sandbox) -> Sandbox:
    """The sandbox, after a harmless probe showed the limits apply in the child."""
    result = box.run_tests(
        PROBE + "INFO = info()\nSPAWNED = spawn_sleepers(40)\n",
        [
            "assert INFO['uid'] != 0 and INFO['euid'] != 0",
            "assert INFO['groups'] == []",
            "assert INFO['nproc'][0] == 32",
            "assert INFO['as'][0] == 512 * 2**20",
            "assert INFO['fsize'][0] == 16 * 2**20",
            "assert INFO['nofile'][0] == 64 and INFO['core'] == (0, 0)",
            "assert 1 <= INFO['cpu'][0] <= 5",
            "assert SPAWNED < 40",
        ],
    )
    if os.geteuid() != 0 or not result.passed:
        pytest.skip(f"limits not verified in the child, dangerous tests skipped: {result}")
    return box


def test_limits_apply_in_the_child(box: Sandbox) -> None:
    if os.geteuid() != 0:
        pytest.skip("the uid switch needs root")
    result = box.run_tests(
        PROBE, ["assert 1_000_000 <= info()['uid'] < 1_065_536", "assert spawn_sleepers(40) < 40"]
    )
    assert result.passed, result.report()
    assert result.privileges_dropped


def test_run_tests_reports_each_test() -> None:
    result = run_tests(
        ADD + "print('hello')",
        ["assert add(1, 2) == 3", "assert add(2, 2) == 5", "assert add(1) == 2", "x = ("],
        timeout=3,
    )
    assert result.status == "ok" and result.error is None and not result.passed
    assert [t.passed for t in result.tests] == [True, False, False, False]
    assert result.tests[1].message == "expected 5, got 4"
    assert result.tests[2].error_type == "TypeError"
    assert result.tests[3].error_type == "SyntaxError"
    assert result.stdout == "hello\n"
    assert "FAILED test 2" in result.report()


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("def add(a, b) return a", "syntax_error", "syntax error"),
        ("", "ok", None),
        ("raise ValueError('nope')", "runtime_error", "ValueError: nope"),
        ("import sys\nsys.exit(3)", "exited", "sys.exit(3)"),
        ("import os\nos._exit(0)", "exited", "exit status 0"),
        ("while True:\n    pass", "timeout", "time limit"),
        ("import time\ntime.sleep(30)", "timeout", "time limit"),
    ],
)
def test_statuses(box: Sandbox, code: str, status: str, words: str | None) -> None:
    start = time.monotonic()
    result = box.run_tests(code, ["assert True"], timeout=1.5)
    assert time.monotonic() - start < 3.0
    assert result.status == status and status in STATUSES
    if words is None:
        assert result.error is None
    else:
        assert words in (result.error or ""), result.error


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock() -> None:
    with Sandbox(pool_size=0, limits=SandboxLimits(timeout=6.0, cpu_seconds=1)) as sandbox:
        result = sandbox.run_tests("while True:\n    pass", [])
    assert result.status == "timeout" and "CPU time" in (result.error or "")


def test_fork_bomb_is_contained(verified: Sandbox) -> None:
    bomb = (
        "import os, time\n"
        "def bomb():\n"
        "    for _ in range(3000):\n"  # bounded even if RLIMIT_NPROC failed
        "        if os.fork() == 0:\n"
        "            time.sleep(20)\n"
        "            os._exit(0)\n"
    )
    result = verified.run_tests(bomb, ["bomb()"], timeout=3)
    assert result.status == "process_limit", result
    assert "process limit" in (result.error or "")
    assert verified.run_tests(ADD, ["assert add(2, 3) == 5"]).passed


def test_memory_is_contained(verified: Sandbox) -> None:
    hog = (
        "def hog():\n"
        "    chunks = []\n"
        "    for _ in range(100):\n"  # 100 x 100 MB = 10 GB at most
        "        chunks.append(bytearray(100 * 2**20))\n"
    )
    result = verified.run_tests(hog, ["hog()"], timeout=5)
    assert result.status == "memory" and "memory limit" in (result.error or "")


def test_disk_is_contained(verified: Sandbox) -> None:
    writer = (
        "def write():\n"
        "    with open('big.bin', 'wb') as fh:\n"
        "        for _ in range(1024):\n"  # 1 GB at most
        "            fh.write(b'x' * 2**20)\n"
    )
    result = verified.run_tests(writer, ["write()"], timeout=5)
    assert result.status == "file_limit" and "file size limit" in (result.error or "")


def test_output_flood_is_contained(verified: Sandbox) -> None:
    flood = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)\n"
    start = time.monotonic()
    result = verified.run_tests(flood, [], timeout=5)
    assert time.monotonic() - start < 5
    assert result.status == "output_limit" and result.output_truncated
    assert len(result.stdout) <= SandboxLimits().max_output_bytes
    assert "more than 4194304 bytes (4 MiB) written to stdout/stderr" in (result.error or "")


def test_results_over_their_cap_are_reported_as_such(box: Sandbox) -> None:
    """Test results (failure messages) past the 1 MiB cap of the result events: the message
    names that cap, not the 4 MiB stdout/stderr one (issue 15)."""
    tests = ["assert False, 'x' * 200_000"] * 8  # 8 events of 200 kB, no output at all
    result = box.run_tests("", tests, max_message=200_000)
    assert result.status == "output_limit"
    assert result.stdout == result.stderr == ""
    error = result.error or ""
    assert "1048576 bytes (1 MiB)" in error and "max_message" in error, error
    assert "stdout" not in error and "4 MiB" not in error


def test_warm_and_cold_results_are_identical(box: Sandbox) -> None:
    cases = [
        (ADD, ["assert add(1, 2) == 3", "assert add(0, 0) == 1"]),
        ("def f(:\n", ["assert f()"]),
        ("print('out')\nimport sys\nprint('err', file=sys.stderr)", ["assert 1 == 1"]),
        ("import sys\nsys.exit(1)", ["assert True"]),
        ("x = [0] * 10**9", ["assert x"]),
        ("while True:\n    pass", ["assert True"]),
        # Changes that must not reach the next job on a reused worker.
        (
            "import builtins, os\nopen('f.txt', 'w').write('x')\nos.environ['X'] = '1'\n"
            "builtins.abs = None",
            ["assert os.listdir('.') == ['f.txt']", "assert 'X' in os.environ"],
        ),
    ]
    with Sandbox(pool_size=0, limits=box.limits) as cold:
        for code, tests in cases:
            cold_result = cold.run_tests(code, tests, timeout=1.0)
            for _ in range(2):  # a pre-started worker, then (after a clean end) the same one
                assert box.run_tests(code, tests, timeout=1.0) == cold_result
    assert box.stats.reused > 0


def test_pool_replaces_dead_workers(box: Sandbox) -> None:
    for _ in range(3):
        assert box.run_tests(ADD, ["assert add(1, 1) == 2"]).passed
    time.sleep(0.3)
    with box._lock:
        for worker in box._ready:
            box._server_box[0].kill(worker.worker_id)  # type: ignore[union-attr]
    time.sleep(0.1)
    result = box.run_tests(ADD, ["assert add(1, 1) == 2"])
    assert result.passed


def test_close_is_idempotent_and_releases_processes() -> None:
    sandbox = Sandbox(pool_size=2)
    assert sandbox.run_tests(ADD, ["assert add(1, 1) == 2"]).passed
    server = sandbox._server_box[0]
    assert server is not None
    sandbox.close()
    sandbox.close()
    assert server.proc.poll() is not None
    with pytest.raises(Exception, match="closed"):
        sandbox.run_tests(ADD, [])


def test_without_namespaces_still_limits_and_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    # A temp dir of our own, so other sandboxes on the machine cannot confuse the check.
    host_tmp = tempfile.mkdtemp(prefix="prm_gym_test_tmp_")
    os.chmod(host_tmp, 0o755)
    monkeypatch.setattr(tempfile, "tempdir", host_tmp)
    try:
        config = SandboxConfig(namespaces=False)
        limits = SandboxLimits(timeout=3)
        with Sandbox(pool_size=0, config=config, limits=limits) as sandbox:
            result = sandbox.run_tests(PROBE + "import os\nCWD = os.getcwd()\n", [
                "assert 1_000_000 <= info()['uid'] < 1_065_536", "assert spawn_sleepers(40) < 40",
                f"assert CWD.startswith({host_tmp + '/prm_gym_sandbox_'!r})",
            ])  # fmt: skip
            assert result.passed, result.report()
            assert not result.network_isolated and not result.filesystem_isolated
        assert os.listdir(host_tmp) == []  # the host temp dir was removed
    finally:
        shutil.rmtree(host_tmp, ignore_errors=True)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        run_tests(b"x", [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        run_tests("x = 1", "assert x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown sandbox limit"):
        run_tests("x = 1", [], bogus=1)
    with pytest.raises(ValueError):
        SandboxLimits(timeout=0)


@pytest.mark.parametrize("n", range(0, 12))
def test_pass_at_k_matches_the_combinatorial_definition(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            expected = 1.0 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_host_limits_are_untouched() -> None:
    names = ("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CPU")
    before = {n: resource.getrlimit(getattr(resource, n)) for n in names}
    uid = os.getuid()
    assert run_tests(ADD, ["assert add(1, 1) == 2"]).passed
    assert {n: resource.getrlimit(getattr(resource, n)) for n in names} == before
    assert os.getuid() == uid
