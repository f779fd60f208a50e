"""prm_gym.sandbox: the seccomp filter of the job processes denies namespace, mount, chroot,
tracing and keyring calls (EPERM), while threads, subprocesses and forks still work.

The filter program itself is checked for both supported architectures by a small BPF
interpreter here (aarch64's numbers without an aarch64 machine)."""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterator

import pytest

from prm_gym.sandbox import Sandbox, SandboxConfig, SandboxLimits
from prm_gym.sandbox import _worker as worker

SUPPORTED = os.uname().machine in ("x86_64", "aarch64")
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# What glibc's pthread_create asks clone for (no namespace flag).
THREAD_FLAGS = 0x003D0F00

# Each entry: the errno of one raw call made by the code (0: it succeeded). Without the
# filter, an unprivileged process may unshare a user namespace (and then mount and chroot in
# it), trace itself and use its keyrings: each of these succeeds.
ATTACKS = """
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"x86_64": {"clone": 56, "clone3": 435, "keyctl": 250, "add_key": 248, "request_key": 249,
                 "open_by_handle_at": 304, "bpf": 321, "perf_event_open": 298,
                 "pivot_root": 155},
      "aarch64": {"clone": 220, "clone3": 435, "keyctl": 219, "add_key": 217, "request_key": 218,
                  "open_by_handle_at": 265, "bpf": 280, "perf_event_open": 241,
                  "pivot_root": 41}}[os.uname().machine]

def err(result):
    return 0 if result >= 0 else ctypes.get_errno()

def raw(name, *args):
    args = [a if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
    return err(libc.syscall(ctypes.c_long(NR[name]), *args))

ERR = {
    "unshare_user_ns": err(libc.unshare(0x10000000 | 0x00020000)),
    "unshare_net": err(libc.unshare(0x40000000)),
    "unshare_nothing": err(libc.unshare(0)),
    "mount": err(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    "umount2": err(libc.umount2(b"/tmp", 2)),
    "chroot": err(libc.chroot(b"/tmp")),
    "pivot_root": raw("pivot_root", b"/tmp", b"/tmp"),
    "ptrace_traceme": err(libc.ptrace(0, 0, None, None)),
    "process_vm_readv": err(libc.process_vm_readv(os.getpid(), None, 0, None, 0, 0)),
    "setns": err(libc.setns(os.open("/proc/self/ns/uts", os.O_RDONLY), 0)),
    "keyctl": raw("keyctl", 0, -3, 1),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": raw("add_key", b"user", b"k", b"v", 1, -2),  # to the process keyring
    "request_key": raw("request_key", b"user", b"k", 0, 0),
    "bpf": raw("bpf", 0, 0, 0),
    "perf_event_open": raw("perf_event_open", 0, 0, -1, -1, 0),
    "open_by_handle_at": raw("open_by_handle_at", -100, 0, 0),
    # A raw clone into a new user namespace; clone3 fails with ENOSYS (libc falls back).
    "clone_newuser": raw("clone", 0x10000000 | 17, 0, 0, 0, 0),
    "clone3": raw("clone3", 0, 0),
}
if hasattr(os, "unshare"):  # Python 3.12+
    try:
        os.unshare(os.CLONE_NEWUSER)
        ERR["os_unshare"] = 0
    except OSError as exc:
        ERR["os_unshare"] = exc.errno
"""
DENIED = [
    "unshare_user_ns", "unshare_net", "unshare_nothing", "mount", "umount2", "chroot",
    "pivot_root", "ptrace_traceme", "process_vm_readv", "setns", "keyctl", "add_key",
    "request_key", "bpf", "perf_event_open", "open_by_handle_at", "clone_newuser",
]  # fmt: skip

# Threads, a subprocess (fork + exec), os.fork and a process pool (fork) still work.
LEGIT = """
import os, subprocess, sys, threading
from concurrent.futures import ThreadPoolExecutor
def threads(n):
    out = []
    workers = [threading.Thread(target=out.append, args=(i,)) for i in range(n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sorted(out)
def pool_sum(n):
    with ThreadPoolExecutor(4) as ex:
        return sum(ex.map(lambda x: x * x, range(n)))
def child():
    return subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True,
                          text=True, timeout=5).stdout.strip()
def shell():
    return subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout
def forked():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(pool_size=1, limits=SandboxLimits(timeout=10.0)) as sandbox:
        yield sandbox


@pytest.mark.skipif(not SUPPORTED, reason="the filter covers x86_64 and aarch64 only")
def test_namespace_mount_trace_and_keyring_calls_fail_with_eperm(box: Sandbox) -> None:
    result = box.run_tests(
        ATTACKS,
        [f"assert ERR[{name!r}] == {errno.EPERM}, ERR" for name in DENIED]
        + [
            f"assert ERR['clone3'] == {errno.ENOSYS}",
            f"assert ERR.get('os_unshare', {errno.EPERM}) == {errno.EPERM}",
        ],
    )
    assert result.syscalls_filtered
    assert result.passed, result.report()


@pytest.mark.skipif(not SUPPORTED, reason="the filter covers x86_64 and aarch64 only")
def test_threads_subprocesses_and_forks_still_work(box: Sandbox) -> None:
    result = box.run_tests(
        LEGIT,
        [
            "assert threads(8) == list(range(8))",
            "assert pool_sum(100) == 328350",
            "assert child() == '42'",
            "assert shell() == 'hi\\n'",
            "assert forked() == 7",
        ],
    )
    assert result.syscalls_filtered
    assert result.passed, result.report()


@pytest.mark.skipif(not SUPPORTED, reason="the filter covers x86_64 and aarch64 only")
def test_the_filter_can_be_turned_off_and_is_recorded() -> None:
    """Without the filter, the code can unshare a user and mount namespace (the attack of
    issue 15), where the kernel allows unprivileged user namespaces."""
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "ERR = 0 if libc.unshare(0x10000000 | 0x00020000) == 0 else ctypes.get_errno()\n"
    )
    config = SandboxConfig(syscall_filter=False)
    with Sandbox(pool_size=0, config=config, limits=SandboxLimits(timeout=10.0)) as sandbox:
        result = sandbox.run_tests(code, ["assert ERR == 0, ERR"])
    assert not result.syscalls_filtered
    if not result.passed:
        pytest.skip(f"this kernel denies unprivileged user namespaces anyway: {result.report()}")


# -- the BPF program, run by a small interpreter ------------------------------------------------
RET_ALLOW = worker.SECCOMP_RET_ALLOW
RET_EPERM = worker.SECCOMP_RET_ERRNO | errno.EPERM
RET_ENOSYS = worker.SECCOMP_RET_ERRNO | errno.ENOSYS


def run_bpf(program: list[tuple[int, int, int, int]], arch: int, nr: int, arg0: int = 0) -> int:
    """Run a classic BPF seccomp program (the few instructions it uses) on seccomp_data."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            hit = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


# (arch, syscall numbers) of both architectures, from the kernel's unistd tables.
ARCHES = {
    "x86_64": (0xC000003E, {"read": 0, "unshare": 272, "setns": 308, "mount": 165,
                            "umount2": 166, "pivot_root": 155, "chroot": 161, "ptrace": 101,
                            "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250,
                            "add_key": 248, "request_key": 249, "bpf": 321,
                            "perf_event_open": 298, "kexec_load": 246, "init_module": 175,
                            "finit_module": 313, "open_by_handle_at": 304, "clone": 56,
                            "clone3": 435, "execve": 59, "vfork": 58, "fork": 57}),
    "aarch64": (0xC00000B7, {"read": 63, "unshare": 97, "setns": 268, "mount": 40,
                             "umount2": 39, "pivot_root": 41, "chroot": 51, "ptrace": 117,
                             "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219,
                             "add_key": 217, "request_key": 218, "bpf": 280,
                             "perf_event_open": 241, "kexec_load": 104, "init_module": 105,
                             "finit_module": 273, "open_by_handle_at": 265, "clone": 220,
                             "clone3": 435, "execve": 221}),
}  # fmt: skip
DENIED_CALLS = [
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "ptrace",
    "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "kexec_load", "init_module", "finit_module", "open_by_handle_at",
]  # fmt: skip


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_the_program_denies_exactly_what_it_should(machine: str) -> None:
    program = worker.seccomp_program(machine)
    assert program is not None
    arch, nr = ARCHES[machine]
    for name in DENIED_CALLS:
        assert run_bpf(program, arch, nr[name]) == RET_EPERM, name
    for name in ("read", "execve", "vfork", "fork"):
        if name in nr:
            assert run_bpf(program, arch, nr[name]) == RET_ALLOW, name
    assert run_bpf(program, arch, nr["clone3"]) == RET_ENOSYS
    assert run_bpf(program, arch, nr["clone"], THREAD_FLAGS) == RET_ALLOW
    assert run_bpf(program, arch, nr["clone"], 17) == RET_ALLOW  # fork: SIGCHLD only
    for flag in (CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET):
        assert run_bpf(program, arch, nr["clone"], flag | 17) == RET_EPERM
    # Another architecture's calls (x86's int 0x80) and x32's numbers are denied.
    assert run_bpf(program, 0x40000003, nr["read"]) == RET_EPERM
    assert run_bpf(program, arch, 0x40000000 | nr["unshare"]) == RET_EPERM


def test_unknown_architectures_get_no_filter() -> None:
    assert worker.seccomp_program("riscv64") is None
    assert worker.seccomp_program("s390x") is None
