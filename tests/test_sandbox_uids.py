"""prm_gym.sandbox: each live worker has its own uid pair (code, judge), hence its own
``RLIMIT_NPROC`` budget (the limit counts every process of a uid on the machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from prm_gym.sandbox import Sandbox, SandboxConfig, SandboxError, SandboxLimits
from prm_gym.sandbox.pool import _lease_uids

# Starts n threads that each live 0.3 s (so those of concurrent jobs overlap); prints the
# code's uid. The second test runs in the judge: its uid is the code's + 1.
THREADS = """
import os, threading, time
UID = os.getuid()
print(UID)
def work(n):
    done = []
    threads = [threading.Thread(target=lambda: (time.sleep(0.3), done.append(1)))
               for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(done)
"""
TESTS = ["assert work(4) == 4", "import os\nassert os.getuid() == UID + 1"]
# One budget of 12 is far below 8 concurrent workers x (judge + code + 4 threads).
LIMITS = SandboxLimits(timeout=10, max_processes=12)


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("the uid switch needs root")


def _run_concurrently(config: SandboxConfig) -> dict[int, list[tuple[bool, str]]]:
    """Three calls on each of 8 one-worker sandboxes, all at once: (passed, stdout) per call."""
    boxes = [Sandbox(pool_size=1, limits=LIMITS, config=config) for _ in range(8)]
    outcomes: dict[int, list[tuple[bool, str]]] = {i: [] for i in range(len(boxes))}

    def run(i: int) -> None:
        for _ in range(3):
            result = boxes[i].run_tests(THREADS, TESTS)
            outcomes[i].append((result.passed, result.stdout.strip()))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(boxes))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for box in boxes:
            box.close()
    return outcomes


def test_concurrent_workers_each_have_their_own_process_budget() -> None:
    outcomes = _run_concurrently(SandboxConfig())
    assert all(passed for runs in outcomes.values() for passed, _ in runs), outcomes
    # Each job ran as a uid of the pool, and the 8 sandboxes (all live at once) used 8 or
    # more different uids (more where a worker was replaced).
    uids = {int(out) for runs in outcomes.values() for _, out in runs}
    assert all(1_000_000 <= uid < 1_065_536 and uid % 2 == 0 for uid in uids), uids
    assert len(uids) >= 8, uids


def test_a_shared_uid_shares_one_budget() -> None:
    """The control: with ``uid_pool=None`` every worker runs as ``uid`` (and the judge as
    ``judge_uid``), and the same jobs exhaust the one budget."""
    outcomes = _run_concurrently(SandboxConfig(uid_pool=None))
    assert not all(passed for runs in outcomes.values() for passed, _ in runs)


def test_uid_pairs_are_leased_once_and_released() -> None:
    config = SandboxConfig(uid_pool=(1_000_000, 1_000_006))  # three pairs
    leases = [_lease_uids(config) for _ in range(3)]
    assert all(lease is not None for lease in leases)
    pairs = {(lease.uid, lease.judge_uid) for lease in leases if lease is not None}
    assert pairs == {(1_000_000, 1_000_001), (1_000_002, 1_000_003), (1_000_004, 1_000_005)}
    with pytest.raises(SandboxError, match="in use"):
        _lease_uids(config)
    assert leases[1] is not None
    leases[1].release()
    again = _lease_uids(config)
    assert again is not None and again.uid == leases[1].uid
    for lease in [leases[0], leases[2], again]:
        assert lease is not None
        lease.release()


def test_uid_pool_is_validated() -> None:
    with pytest.raises(ValueError, match="uid_pool"):
        SandboxConfig(uid_pool=(5, 6))
    with pytest.raises(ValueError, match="uid_pool"):
        SandboxConfig(uid_pool=(0, 100))


def test_a_pair_leased_by_another_process_is_not_handed_out() -> None:
    pool = (1_065_000, 1_065_002)  # one pair
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom prm_gym.sandbox import SandboxConfig\n"
            "from prm_gym.sandbox.pool import _lease_uids\n"
            f"lease = _lease_uids(SandboxConfig(uid_pool={pool}))\n"
            "print(lease.uid, flush=True)\nsys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1065000"
        with pytest.raises(SandboxError, match="in use"):
            _lease_uids(SandboxConfig(uid_pool=pool))
    finally:
        holder.communicate("", timeout=30)
    lease = _lease_uids(SandboxConfig(uid_pool=pool))  # free again once the holder exited
    assert lease is not None and lease.uid == 1_065_000
    lease.release()
