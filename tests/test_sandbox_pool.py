"""prm_gym.sandbox pool: workers are reused after clean jobs, replaced after abnormal ones, and a
reused worker gives every job the state of a fresh one."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from prm_gym.sandbox import Sandbox, SandboxLimits

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = ["assert add(1, 2) == 3"]
# Where the worker has a pid namespace: the start time of its init, in clock ticks since boot.
INIT_START = "import os\nINIT = open('/proc/1/stat').read().rsplit(')', 1)[1].split()[19]\n"

# A job that changes everything a job can change in its process, work dir and IPC namespace.
POLLUTE = """
import builtins, ctypes, json, math, os, sys
builtins.len = lambda obj: 42
math.pi = 3
json.MARK = "left behind"
sys.setrecursionlimit(77)
os.environ["LEFT"] = "behind"
open("left.txt", "w").write("behind")
open("/tmp/left.txt", "w").write("behind")
os.mkdir("sub")
open("sub/deep.txt", "w").write("behind")
os.chmod(".", 0o500)
os.umask(0)
libc = ctypes.CDLL(None, use_errno=True)
QUEUE = libc.msgget(0x5EED, 0o1600)  # IPC_CREAT | 0o600
os.chdir("/")
"""
# A job that checks it sees none of the above (each test one fact). The facts are gathered by
# the code (the solution process); the tests, which run in the judge process, check them.
FRESH = """
import builtins, ctypes, json, math, os, sys
FACTS = {
    "len": len([1, 2]),
    "pi": math.pi,
    "mark": hasattr(json, "MARK"),
    "recursion": sys.getrecursionlimit(),
    "left_env": "LEFT" in os.environ,
    "listing": os.listdir("."),
    "mode": os.stat(".").st_mode & 0o777,
    "umask": os.umask(0o077),
    "queue": ctypes.CDLL(None).msgget(0x5EED, 0),
    "cwd_is_home": os.getcwd() == os.environ["HOME"],
    "tmp": os.listdir("/tmp"),
    "pid": os.getpid(),
}
"""
FRESH_TESTS = [
    "assert FACTS['len'] == 2",
    "assert FACTS['pi'] > 3.14",
    "assert not FACTS['mark']",
    "assert FACTS['recursion'] == 1000",
    "assert not FACTS['left_env']",
    "assert FACTS['listing'] == []",
    "assert FACTS['mode'] == 0o700",
    "assert FACTS['umask'] == 0o077",
    "assert FACTS['queue'] == -1",
    "assert FACTS['cwd_is_home']",
]


@pytest.fixture()
def single() -> Iterator[Sandbox]:
    """A sandbox with one worker, started and idle (so every call below gets that worker)."""
    with Sandbox(pool_size=1, limits=SandboxLimits(timeout=3.0)) as sandbox:
        _settle(sandbox)
        yield sandbox


def _settle(sandbox: Sandbox) -> None:
    """Wait until the pool holds exactly its one worker, ready."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sandbox._lock:
            if sandbox._workers == 1 and len(sandbox._ready) == 1:
                return
        time.sleep(0.02)
    raise AssertionError("the pool did not fill")


def test_consecutive_clean_jobs_reuse_one_worker(single: Sandbox) -> None:
    before = single.stats
    results = [single.run_tests(INIT_START + ADD, [*ADD_TESTS, "print(INIT)"]) for _ in range(5)]
    after = single.stats
    assert all(r.passed and r.warm for r in results)
    assert after.workers_started == before.workers_started
    assert after.workers_retired == before.workers_retired
    assert after.reused - before.reused == 5 - (before.executions == 0)
    if results[0].pid_isolated:
        # The same init process served every job.
        assert len({r.stdout for r in results}) == 1


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    pass",  # timeout
        "import sys\nsys.exit(1)",  # exited
        "import os\nos._exit(0)",  # exited without a word
        "x = bytearray(600 * 2**20)",  # memory limit
        "import subprocess\nsubprocess.Popen(['sleep', '123.25'])",  # leaves a process running
        "import sys\nsys.stdout.write('x' * 6 * 2**20)",  # output flood
    ],
)
def test_worker_is_replaced_after_an_abnormal_end(single: Sandbox, code: str) -> None:
    before = single.stats
    single.run_tests(code, ["assert True"], timeout=1.5)
    result = single.run_tests(ADD, ADD_TESTS)
    assert result.passed, result.report()
    after = single.stats
    assert after.workers_retired >= before.workers_retired + 1
    assert after.workers_started > before.workers_started


def test_a_process_left_running_is_killed_at_once() -> None:
    # The job's deadline (60 s) is far past the wait below, so the host's sweep of finishing
    # workers (which retires one only after its deadline) cannot be what kills the process:
    # init must end it as soon as the job is over. The wait is long only so that a loaded
    # CI machine cannot fail the test; here the process is gone within milliseconds.
    with Sandbox(pool_size=1, limits=SandboxLimits(timeout=60.0)) as sandbox:
        _settle(sandbox)
        code = "import subprocess\nP = subprocess.Popen(['sleep', '123.25'])"
        result = sandbox.run_tests(code, [])
        assert result.status == "ok"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _sleepers():
            time.sleep(0.05)
        left = _sleepers()
        assert not left, (left, result.pid_isolated, sandbox.stats)


def _descendants(pid: int) -> list[int]:
    """This test process's descendants (the sandbox's fork server, workers and jobs), read from
    ``/proc/<pid>/task/*/children``: never other processes on the machine."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as fh:
                    children = [int(c) for c in fh.read().split()]
            except OSError:
                continue
            out.extend(children)
            todo.extend(children)
    return out


def _sleepers() -> list[int]:
    found = []
    for pid in _descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if fh.read().split(b"\0")[:2] == [b"sleep", b"123.25"]:
                    found.append(pid)
        except OSError:
            continue
    return found


def test_a_reused_worker_gives_each_job_a_fresh_state(single: Sandbox) -> None:
    polluted = single.run_tests(POLLUTE, [])
    assert polluted.status == "ok", polluted.report()
    before = single.stats
    fresh = single.run_tests(FRESH, FRESH_TESTS)
    assert single.stats.reused == before.reused + 1  # the polluted worker ran it
    if not fresh.filesystem_isolated:
        pytest.skip("needs the private /tmp")
    assert fresh.passed, fresh.report()
    checks = ["assert FACTS['tmp'] == ['work']"]
    if fresh.pid_isolated:
        checks.append("assert FACTS['pid'] == 3")  # as in a fresh worker (the judge is 2)
    assert single.run_tests(FRESH, checks).passed
    with Sandbox(pool_size=0, limits=single.limits) as cold:
        assert cold.run_tests(FRESH, FRESH_TESTS) == fresh


def test_limits_are_per_call_on_a_reused_worker(single: Sandbox) -> None:
    probe = "import resource\nN = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
    small = single.run_tests(probe, ["assert N == 20"], max_open_files=20)
    default = single.run_tests(probe, ["assert N == 64"])
    assert small.passed and default.passed
    hog = "x = bytearray(200 * 2**20)"
    assert single.run_tests(hog, [], memory_mb=128).status == "memory"
    assert single.run_tests(hog, []).status == "ok"  # the retired worker's limit is gone
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass\n"
    for _ in range(3):  # each job has its own CPU budget (RLIMIT_CPU counts per process)
        assert single.run_tests(busy, [], cpu_seconds=1, timeout=20).status == "ok"
    assert single.stats.reused >= 3


def test_a_job_that_fakes_its_end_cannot_reach_the_next_one(single: Sandbox) -> None:
    # Claims to be done (event and done byte on every descriptor), then keeps running and
    # printing: its process holds no pipe of the judge or of init, so the claim is noise.
    fake = (
        "import os, time\n"
        "for fd in range(1, 21):\n"
        "    for data in (b'{\"event\": \"done\"}\\n', b'd'):\n"
        "        try:\n"
        "            os.write(fd, data)\n"
        "        except OSError:\n"
        "            pass\n"
    )
    liar = single.run_tests(fake + "time.sleep(0.4)\nprint('late', flush=True)\n", [])
    assert liar.status == "protocol_error" and not liar.passed
    result = single.run_tests(ADD + "print('mine')", ADD_TESTS)
    assert result.passed and result.stdout == "mine\n"  # nothing of the liar's late output
    before = single.stats
    forever = single.run_tests(fake + "time.sleep(60)", ["assert True"], timeout=0.5)
    # The judge sees the garbage at once and answers; the sleeper's worker is retired.
    assert forever.status == "protocol_error" and not forever.passed
    time.sleep(0.2)
    assert single.stats.workers_retired > before.workers_retired
    assert single.run_tests(ADD, ADD_TESTS).passed
