"""The process side of the sandbox: a fork server and the reusable workers it forks.

This file is not imported by the host. Its source is run as
``python -I -c <source> <socket fd>`` in a fresh interpreter started with a minimal environment,
so it uses the standard library only and never imports ``prm_gym``.

Processes::

    fork server (root, never runs untrusted code): unshares an empty network namespace and a
    │  private mount namespace, pivots into a new read-only root that holds only the
    │  interpreter's and the system's directories and a few devices (hidden paths covered
    │  read-only), pre-imports a few modules, then forks one worker per request
    └─ init: raw clone() into new pid, mount, IPC and UTS namespaces (pid 1 there, root,
       │  trusted, not dumpable, subreaper); private tmpfs on /tmp, fresh /proc, work dir,
       │  clean environment; says "ready" on fd 4. Serves jobs one at a time, each in a fresh
       │  job process. When init exits the kernel kills everything left in the pid namespace.
       └─ job process, the judge: forked by init ahead of its job; forks the solution process,
          │  then drops to the judge uid (setgroups([]) + setgid + setuid), never dumpable,
          │  installs the seccomp filter (no_new_privs), reads ONE job from fd 0 (code,
          │  trusted helpers and setup, tests), sets its rlimits, sends the code to the
          │  solution process, runs the tests with the solution's functions bound to proxies,
          │  streams one JSON line per event to fd 3, writes a byte to its fd 4 (the done
          │  pipe), exits
          └─ solution process: keeps only its request and answer pipes (fds 3, 4), stdout
             and stderr; drops to the sandbox uid, installs the seccomp filter, sets its
             rlimits, runs the code, then answers each call with the result as plain data
             (never sees the tests, the job pipe or the event pipe)

Only plain data crosses from the solution to the judge (see ``to_plain``/``from_plain``): the
judge compares exact builtin values with its own ``==``, so nothing the submission does in its
own process (forged output, early exit, patched builtins, objects with a permissive
``__eq__``) can produce a passing test.

After each job process exits, init reaps it and returns the worker to its fresh state: no
process of the job left (else it kills them all and exits), /tmp emptied with a new work dir,
a new IPC namespace. It reports "end" (the exit status and whether it is clean) on fd 4, then
forks the next job process. The host reuses a worker only after a normal end that init
reports clean, and kills it otherwise.

The host talks to the fork server over a ``SOCK_SEQPACKET`` socket: ``spawn`` (with the
worker's job, stdout, stderr, event, control and done pipes attached as file descriptors) and
``kill`` (``killpg`` of the worker's session, done by its parent so the pid cannot have been
recycled).
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import ctypes
import errno
import fcntl
import gc
import json
import os
import reprlib
import resource
import select
import signal
import socket
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

EVENT_FD = 3  # the job's events (test results), written by the job process
CONTROL_FD = 4  # init's messages ("ready", "end" of each job): the job process has no copy
DONE_FD = 5  # one byte from the job process after its last event (its fd 4)
REQUEST_FD = 3  # in the solution process: the judge's requests (the code, then calls)
RESPONSE_FD = 4  # in the solution process: its answers to the judge (plain data only)
WORKDIR = "/tmp/work"
END = '{"event": "end", "status": %d, "clean": %s}\n'
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SPARE_TMP_DIRS = ("/var/tmp", "/dev/shm", "/run/lock")  # covered read-only; /tmp is private
_CLONE_SYSCALL = {"x86_64": 56, "aarch64": 220}
_PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41}
MS_REMOUNT = 32
MNT_DETACH = 2
# What the new root of the sandbox holds (read-only bind mounts of the host's): system
# programs and libraries, a few files the dynamic loader and the time functions read, the
# harmless devices, and the interpreter's own directories (found at run time). Nothing else
# of the host: no /home, /root, /work, /srv, /opt, /var, /run, /mnt, no project checkout.
SYSTEM_PATHS = (
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32",
    "/usr/libexec", "/usr/share", "/usr/local/bin", "/usr/local/lib", "/usr/local/lib64",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/timezone", "/etc/alternatives",
)  # fmt: skip
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
DEVICE_LINKS = {
    "/dev/fd": "/proc/self/fd",
    "/dev/stdin": "/proc/self/fd/0",
    "/dev/stdout": "/proc/self/fd/1",
    "/dev/stderr": "/proc/self/fd/2",
}
# -- the syscall filter (seccomp) of every job process ----------------------------------------
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
X32_SYSCALL_BIT = 0x40000000
# Namespace flags of clone(); 0x80 (CLONE_NEWTIME) is only ever valid for clone3/unshare
# (in clone's flags the low byte is the exit signal).
CLONE_NEW_ANY = 0x7E020000
# Per architecture: its audit arch, clone, clone3 and the calls denied with EPERM:
# namespaces (unshare, setns), mounts (mount, umount2, pivot_root, chroot and the new mount
# API), tracing (ptrace, process_vm_*, kcmp, pidfd_getfd), keyrings, bpf, perf, modules,
# kexec, file handles, userfaultfd, io_uring and a few admin calls.
_SECCOMP_ARCH: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "x86_64": (0xC000003E, 56, 435, (
        272, 308,  # unshare, setns
        165, 166, 155, 161, 428, 429, 430, 431, 432, 433, 442,  # mount .. mount_setattr
        101, 310, 311, 312, 438,  # ptrace, process_vm_readv/writev, kcmp, pidfd_getfd
        248, 249, 250,  # add_key, request_key, keyctl
        321, 298, 323,  # bpf, perf_event_open, userfaultfd
        175, 313, 176, 246, 320,  # init/finit/delete_module, kexec_load, kexec_file_load
        303, 304,  # name_to_handle_at, open_by_handle_at
        425, 426, 427,  # io_uring_setup/enter/register
        163, 167, 168, 169, 103, 179, 443, 172, 173, 154, 212, 153, 134,
        # acct, swapon, swapoff, reboot, syslog, quotactl, quotactl_fd, iopl, ioperm,
        # modify_ldt, lookup_dcookie, vhangup, uselib
    )),
    "aarch64": (0xC00000B7, 220, 435, (
        97, 268,  # unshare, setns
        40, 39, 41, 51, 428, 429, 430, 431, 432, 433, 442,  # mount .. mount_setattr
        117, 270, 271, 272, 438,  # ptrace, process_vm_readv/writev, kcmp, pidfd_getfd
        217, 218, 219,  # add_key, request_key, keyctl
        280, 241, 282,  # bpf, perf_event_open, userfaultfd
        105, 273, 106, 104, 294,  # init/finit/delete_module, kexec_load, kexec_file_load
        264, 265,  # name_to_handle_at, open_by_handle_at
        425, 426, 427,  # io_uring_setup/enter/register
        89, 224, 225, 142, 116, 60, 443, 18, 58,
        # acct, swapon, swapoff, reboot, syslog, quotactl, quotactl_fd, lookup_dcookie, vhangup
    )),
}  # fmt: skip
# Imported once in the fork server. Kept small on purpose: forking copies the page tables, so a
# bigger fork server makes every worker slower to start; other modules import from disk.
PRELOAD = ("bisect", "collections", "functools", "heapq", "itertools", "math", "operator", "string")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 120
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 12


def _unshare(flags: int) -> bool:
    return bool(_libc.unshare(flags) == 0)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> bool:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    return bool(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) == 0)


def _bind_read_only(source: str, target: str, read_only: bool = True) -> bool:
    """Bind ``source`` on ``target`` (with what is mounted below it), then make the new mount
    read-only, without set-uid and device files (devices are bound with ``read_only=False``)."""
    if not _mount(source, target, None, MS_BIND | MS_REC, ""):
        return False
    if not read_only:
        return _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID, "")
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    return _mount(None, target, None, flags, "")


# -- the syscall filter ------------------------------------------------------------------------
class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_BPF_LD_W_ABS = 0x20
_BPF_JEQ = 0x15
_BPF_JGE = 0x35
_BPF_JSET = 0x45
_BPF_RET = 0x06
_FILTER: tuple[Any, _SockFprog] | None = None  # set by the fork server once it works


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The classic BPF program of the job processes' seccomp filter for ``machine`` (``None``
    where its syscall numbers are unknown), as ``(code, jt, jf, k)`` instructions.

    Another architecture's calls (x86's 32-bit ``int 0x80``, x32's numbers) and the denied
    calls fail with ``EPERM``; ``clone`` fails with ``EPERM`` when its flags ask for a new
    namespace; ``clone3`` fails with ``ENOSYS``, so the C library falls back to ``clone`` (whose
    flags the filter can read: clone3 passes them in memory). Everything else is allowed."""
    spec = _SECCOMP_ARCH.get(machine)
    if spec is None:
        return None
    arch, clone, clone3, denied = spec
    # Jump targets by label, resolved below: "deny" (EPERM), "nosys" (ENOSYS), "allow", "list"
    # (the first comparison of the deny list); 0 is the next instruction.
    code: list[tuple[int, Any, Any, int]] = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_BPF_JEQ, 0, "deny", arch),
        (_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (_BPF_JGE, "deny", 0, X32_SYSCALL_BIT),
        (_BPF_JEQ, "nosys", 0, clone3),
        (_BPF_JEQ, 0, "list", clone),
        (_BPF_LD_W_ABS, 0, 0, 16),  # the low half of clone's flags (little-endian)
        (_BPF_JSET, "deny", "allow", CLONE_NEW_ANY),
    ]
    labels = {"list": len(code)}
    code += [(_BPF_JEQ, "deny", 0, number) for number in denied]
    labels["allow"] = len(code)
    code.append((_BPF_RET, 0, 0, SECCOMP_RET_ALLOW))
    labels["deny"] = len(code)
    code.append((_BPF_RET, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM))
    labels["nosys"] = len(code)
    code.append((_BPF_RET, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS))

    def offset(at: int, target: Any) -> int:
        jump = 0 if target == 0 else labels[target] - at - 1
        if not 0 <= jump <= 255:
            raise ValueError("seccomp jump out of range")
        return jump

    return [(op, offset(i, jt), offset(i, jf), k) for i, (op, jt, jf, k) in enumerate(code)]


def _build_filter(machine: str) -> tuple[Any, _SockFprog] | None:
    program = seccomp_program(machine)
    if program is None:
        return None
    array = (_SockFilter * len(program))(*(_SockFilter(*ins) for ins in program))
    return array, _SockFprog(len(program), ctypes.cast(array, ctypes.POINTER(_SockFilter)))


def _install_filter(built: tuple[Any, _SockFprog] | None) -> bool:
    """Install the filter in this process (it is inherited by every process it starts and
    cannot be removed). ``no_new_privs`` first: then no exec can gain privileges, and an
    unprivileged process may install a filter."""
    if built is None:
        return False
    zero = ctypes.c_ulong(0)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero) != 0:
        return False
    mode = ctypes.c_ulong(SECCOMP_MODE_FILTER)
    return bool(_libc.prctl(PR_SET_SECCOMP, mode, ctypes.byref(built[1]), zero, zero) == 0)


def _probe_filter(built: tuple[Any, _SockFprog] | None) -> bool:
    """Whether the filter installs and works here (in a throwaway child): ``unshare(0)``, a
    no-op otherwise, must fail with EPERM."""
    if built is None:
        return False
    pid = os.fork()
    if pid == 0:
        ok = _install_filter(built) and _libc.unshare(0) == -1
        os._exit(0 if ok and ctypes.get_errno() == errno.EPERM else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _filter_job_process() -> None:
    """Called by each job process after its uid switch, before any job arrives."""
    if _FILTER is not None and not _install_filter(_FILTER):
        os._exit(74)  # it worked in the fork server's probe: never run code without it


# -- fork server ------------------------------------------------------------------------------
def serve(sock: socket.socket, config: dict[str, Any]) -> None:
    """Fork one worker per ``spawn`` message until the host closes the socket."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    # State the interpreter builds on first use, built once here rather than in every job
    # process (where building it means copying hundreds of pages shared with init): the
    # compiler's AST types (set up by the first compile() call) and the encoders of stdout
    # and stderr (writing nothing leaves nothing buffered).
    compile("0", "<preload>", "eval")
    for stream in (sys.stdout, sys.stderr):
        stream.write("")
    global _FILTER
    built = _build_filter(os.uname().machine)
    _FILTER = built if config.get("seccomp", True) and _probe_filter(built) else None
    base = _isolate_server(config)
    base["seccomp"] = _FILTER is not None
    gc.freeze()  # workers' garbage collections then leave the shared pages uncopied
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    live: dict[int, int] = {}  # worker id -> init pid (unreaped, so its pgid is still ours)
    while True:
        watched: list[Any] = [sock, wake_r]
        ready, _, _ = select.select(watched, [], [])
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 4096):
                        break
                except BlockingIOError:
                    break
            _reap(live)
        if sock not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 8)
        except OSError:
            data, fds = b"", []
        if not data:
            break
        msg = json.loads(data)
        if msg["op"] == "spawn":
            pid, isolation = _fork_worker(base)
            if pid == 0:
                try:
                    sock.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    _init(
                        {**config, **msg.get("uids", {}), "workdir": msg["workdir"]}, isolation, fds
                    )
                finally:
                    os._exit(70)
            if pid > 0:
                live[msg["id"]] = pid
            for fd in fds:
                os.close(fd)
        elif msg["op"] == "kill":
            _kill(live.get(msg["id"]))
    for pid in live.values():
        _kill(pid)


def _isolate_server(config: dict[str, Any]) -> dict[str, bool]:
    """Namespaces shared by every worker of this fork server: an empty network namespace and
    a private mount namespace with the spare temp dirs and the hidden paths covered."""
    base = {"network": False, "filesystem": False, "pid": False, "host_hidden": False}
    if not config["namespaces"] or os.geteuid() != 0:
        return base
    base["network"] = _unshare(CLONE_NEWNET)
    # Mount nothing unless the new mount namespace is private: a shared one would propagate
    # our mounts to the host.
    if _unshare(CLONE_NEWNS) and _mount(None, "/", None, MS_REC | MS_PRIVATE, ""):
        if config.get("hide_host", True):
            base["host_hidden"] = _switch_root()
        # In the new root the spare temp dirs do not exist (or are folders on the way to an
        # interpreter's, in the read-only root): only the hidden paths are covered there.
        base["filesystem"] = _cover_paths(config, spare=not base["host_hidden"])
        if base["host_hidden"]:
            # Nothing more is mounted on the root itself: make it read-only (the workers
            # mount their /tmp and /proc on its empty directories).
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
            base["filesystem"] = base["filesystem"] and _mount(None, "/", None, flags, "")
    return base


def interpreter_paths() -> list[str]:
    """The directories (and files) of the running interpreter a job needs: its entries of
    ``sys.path`` that lie under one of its prefixes (the standard library, ``lib-dynload``,
    ``site-packages``; not a directory a ``.pth`` file of an editable install adds, such as a
    project checkout), each prefix's ``lib`` and ``bin`` and a venv's ``pyvenv.cfg``, and the
    executable. A venv inside a project checkout exposes these, never the rest of the
    checkout."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots = {os.path.realpath(p) for p in prefixes} - {"/"}
    paths = []
    for entry in sys.path:
        if entry and os.path.isabs(entry):
            real = os.path.realpath(entry)
            # Strictly below a prefix: a venv made in the project folder itself has that
            # folder as its prefix, and a .pth entry may name it.
            if any(real.startswith(root + "/") for root in roots):
                paths.append(entry)
    for prefix in sorted(prefixes):
        if os.path.realpath(prefix) in roots:
            paths += [os.path.join(prefix, name) for name in ("lib", "lib64", "bin")]
            paths.append(os.path.join(prefix, "pyvenv.cfg"))
    paths.append(sys.executable)
    return paths


def _switch_root() -> bool:
    """Make a new root that holds only :data:`SYSTEM_PATHS`, :data:`DEVICES` and
    :func:`interpreter_paths` (read-only bind mounts at their host paths, with the host's
    symbolic links on the way to them) and empty ``/tmp``, ``/proc`` and ``/dev/shm``
    directories, then ``pivot_root`` into it and detach the old root, so that no path (nor
    ``/proc/*/root``) leads to any other host file. False, with nothing changed, where it
    cannot be done (then only the hidden paths are covered)."""
    number = _PIVOT_ROOT_SYSCALL.get(os.uname().machine)
    if number is None:
        return False
    # A new folder in the host's /tmp (mkdir never follows a link), removed again below.
    stage = f"/tmp/prm_gym_root_{os.getpid()}_{os.urandom(6).hex()}"
    try:
        os.mkdir(stage, 0o700)
    except OSError:
        return False
    if not _mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755"):
        with contextlib.suppress(OSError):
            os.rmdir(stage)
        return False
    try:
        _build_root(stage)
        os.mkdir(stage + "/.old")
        if _libc.syscall(number, stage.encode(), (stage + "/.old").encode()) != 0:
            raise OSError(ctypes.get_errno(), "pivot_root failed")
    except OSError:
        _libc.umount2(stage.encode(), MNT_DETACH)
        with contextlib.suppress(OSError):
            os.rmdir(stage)
        return False
    os.chdir("/")
    with contextlib.suppress(OSError):
        os.rmdir("/.old" + stage)  # no longer a mount point: the new root moved to /
    if _libc.umount2(b"/.old", MNT_DETACH) != 0:
        os._exit(75)  # the old root would stay reachable: never serve workers like that
    os.rmdir("/.old")
    return True


def _build_root(root: str) -> None:
    for name in ("tmp", "proc", "dev/shm", "etc"):
        os.makedirs(root + "/" + name, 0o755, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    wanted = [*SYSTEM_PATHS, *interpreter_paths()]
    bound: list[str] = []
    for path in sorted({os.path.realpath(p) for p in wanted if os.path.exists(p)}):
        if any(path == b or path.startswith(b + "/") for b in bound):
            continue
        target = root + path
        if os.path.isdir(path):
            os.makedirs(target, 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        if not _bind_read_only(path, target):
            raise OSError(ctypes.get_errno(), f"cannot bind {path}")
        bound.append(path)
    for device in DEVICES:
        if os.path.exists(device):
            os.close(os.open(root + device, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            if not _bind_read_only(device, root + device, read_only=False):
                raise OSError(ctypes.get_errno(), f"cannot bind {device}")
    # The links last: no path of the new root leads back to the host while binding.
    for path in wanted:
        _mirror_links(root, path)
    for link, target in DEVICE_LINKS.items():
        os.symlink(target, root + link)


def _mirror_links(root: str, path: str, depth: int = 0) -> None:
    """Recreate under ``root`` the host's symbolic links on the way to ``path`` (``/lib ->
    usr/lib``, a venv's ``bin/python -> /usr/bin/python3.11``) and along each link's chain
    (``/usr/bin/python3 -> /etc/alternatives/python3 -> ...``), so it resolves there too."""
    if depth > 8:
        return
    current = "/"
    for part in path.strip("/").split("/"):
        step = os.path.join(current, part)
        if os.path.islink(step):
            target = os.readlink(step)
            if not os.path.lexists(root + step):
                os.makedirs(root + current, 0o755, exist_ok=True)
                os.symlink(target, root + step)
            _mirror_links(root, os.path.join(current, target), depth + 1)
        current = os.path.realpath(step)


def _cover_paths(config: dict[str, Any], spare: bool) -> bool:
    empty = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY
    for path in [*(SPARE_TMP_DIRS if spare else ()), *config["hidden_paths"]]:
        if os.path.isdir(path) and not os.path.islink(path):
            if not _mount("tmpfs", path, "tmpfs", empty, "size=4k,mode=755"):
                return False
        elif os.path.exists(path) and not _mount("/dev/null", path, None, MS_BIND, ""):
            return False
    return os.path.isdir("/tmp")


def _clone(flags: int) -> int:
    """``fork()`` into new namespaces (raw ``clone``: ``unshare`` cannot give each child its
    own pid namespace); -1 where unsupported."""
    number = _CLONE_SYSCALL.get(os.uname().machine)
    if number is None:
        return -1
    return int(_libc.syscall(number, flags | signal.SIGCHLD, None, None, None, None))


def _fork_worker(base: dict[str, bool]) -> tuple[int, dict[str, bool]]:
    isolation = dict(base)
    pid = -1
    if base["filesystem"]:
        pid = _clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
        isolation["pid"] = pid >= 0
    if pid < 0:
        isolation["pid"] = False
        isolation["filesystem"] = False  # no mount namespace of its own: no private /tmp
        try:
            pid = os.fork()
        except OSError:
            return -1, isolation
        if pid == 0 and base["host_hidden"]:
            # The host's temp dirs are not in the new root: the worker needs its own /tmp.
            isolation["filesystem"] = _unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
    return pid, isolation


def _kill(pid: int | None) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _reap(live: dict[int, int]) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        for worker_id, child in list(live.items()):
            if child == pid:
                del live[worker_id]


# -- worker: init and its job processes -------------------------------------------------------
def _prctl(option: int, value: int) -> bool:
    return bool(_libc.prctl(option, value, 0, 0, 0) == 0)


def _init(config: dict[str, Any], isolation: dict[str, bool], fds: list[int]) -> None:
    """The worker's first process: pid 1 of its own pid namespace when available. Trusted (root
    where the host is root); runs jobs, each in a fresh job process, until the host closes the
    job pipe."""
    signal.set_wakeup_fd(-1)
    # Dispositions every job process inherits: the usual defaults, and an over-large write
    # raises OSError(EFBIG) instead of killing the process.
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.setsid()
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(DONE_FD + 1, 1 << 16)
    # Not dumpable: a job process of the same uid (no uid switch) can then neither trace this
    # process nor open its pipes through /proc. Subreaper: every process a job leaves behind
    # becomes our child, so the leftover check sees it (pid 1 of a namespace is one anyway).
    _prctl(PR_SET_DUMPABLE, 0)
    reaper = _prctl(PR_SET_CHILD_SUBREAPER, 1) or isolation["pid"]
    workdir = config["workdir"]
    if isolation["filesystem"]:
        size = f"size={int(config['tmpfs_mb'])}m,mode=1777"
        isolation["filesystem"] = _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
    if isolation["filesystem"]:
        workdir = WORKDIR
        if isolation["pid"]:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "")
        _make_workdir(config)
    os.environ.clear()
    os.environ.update(
        {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
    )
    os.umask(0o077)
    dropping = os.geteuid() == 0 and config["uid"] is not None
    job_pid = _start_job_process(config, workdir, dropping)
    ready = {"event": "ready", "isolation": isolation, "privileges_dropped": dropping}
    _emit_raw(CONTROL_FD, ready)
    while True:
        status = _wait_for(job_pid)
        if _host_gone():
            os._exit(0)  # the host retired this worker (an idle job process read EOF)
        # Reused only if nothing of this job survives: no process, no file, no IPC object.
        clean = reaper and _no_leftovers()
        if clean:
            clean = _clean_tmp(config) if isolation["filesystem"] else _empty_dir(workdir)
        if clean and isolation["pid"]:
            # A fresh IPC namespace: SysV and POSIX queues, semaphores and shared memory a
            # job created cannot reach the next one.
            clean = _unshare(CLONE_NEWIPC)
        _emit_raw(CONTROL_FD, END % (status, "true" if clean else "false"))
        if not clean:
            # Retired: end now what the job left running, without waiting for the host.
            if not isolation["pid"]:
                os.killpg(0, signal.SIGKILL)  # our session (what setsid escaped survives)
            os._exit(0)  # pid 1: the kernel kills everything left in the namespace
        if isolation["pid"]:
            _reset_last_pid()  # the next job process gets pid 2, as in a fresh worker
        # Forked ahead: the next job process is ready before the host sends its job.
        job_pid = _start_job_process(config, workdir, dropping)


def _start_job_process(config: dict[str, Any], workdir: str, dropping: bool) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            _job_process(config, workdir, dropping)
        finally:
            os._exit(71)
    return pid


def _host_gone() -> bool:
    """Whether the host closed the job pipe (its end hung up, nothing left to read)."""
    poller = select.poll()
    poller.register(0, select.POLLIN)
    return any(event & select.POLLHUP for _, event in poller.poll(0))


def _wait_for(pid: int) -> int:
    """Wait for the job process, reaping any orphan that ends meanwhile; its wait status."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return -1
        if done == pid:
            return status


def _no_leftovers() -> bool:
    """Reap finished orphans; False if any process the job started is still alive."""
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if done == 0:
            return False


def _reset_last_pid() -> None:
    with contextlib.suppress(OSError):
        fd = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY)
        try:
            os.write(fd, b"1")
        finally:
            os.close(fd)


def _make_workdir(config: dict[str, Any]) -> None:
    os.mkdir(WORKDIR, 0o700)
    if os.geteuid() == 0 and config["uid"] is not None:
        os.chown(WORKDIR, config["uid"], config["gid"])


def _clean_tmp(config: dict[str, Any]) -> bool:
    """Return the private /tmp to its state in a fresh worker: empty but for a new work dir
    (a new inode: no mode, times or extended attributes of the last job's). No process of
    the job is left, so nothing can race this; where deleting fails, mount a new tmpfs."""
    try:
        for name in os.listdir("/tmp"):
            _remove("/tmp/" + name)
    except (OSError, RecursionError):
        if _libc.umount2(b"/tmp", 0) != 0:
            return False
        size = f"size={int(config['tmpfs_mb'])}m,mode=1777"
        if not _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size):
            return False
    try:
        _make_workdir(config)
    except OSError:
        return False
    return True


def _remove(path: str) -> None:
    try:
        os.rmdir(path)  # the usual case: the job's empty work dir
    except NotADirectoryError:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
        import shutil  # rarely needed: not preloaded, to keep the fork server small

        shutil.rmtree(path)


def _empty_dir(path: str) -> bool:
    """Without a private tmpfs: empty the host temp dir the job ran in, for the next job."""
    try:
        os.chmod(path, 0o700)
        for name in os.listdir(path):
            _remove(os.path.join(path, name))
        return not os.listdir(path)
    except (OSError, RecursionError):
        return False


def _emit_raw(fd: int, event: dict[str, Any] | str) -> None:
    text = event if isinstance(event, str) else json.dumps(event) + "\n"
    data = text.encode()
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def _read_exact(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = os.read(fd, size - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    return data


def _read_job(fd: int) -> dict[str, Any] | None:
    """One job in the host's framing (``pool._encode_job``), or ``None`` at EOF: a 4-byte
    length, then length-prefixed fields: the limits as ASCII integers, the code, the trusted
    helpers, the trusted setup, the entry point, and for each test its source, the two
    sides of a plain ``assert a == b`` and its literal call (else empty)."""
    header = _read_exact(fd, 4)
    if header is None:
        return None
    payload = _read_exact(fd, int.from_bytes(header, "big"))
    return None if payload is None else _parse_job(payload)


def _parse_job(payload: bytes) -> dict[str, Any]:
    fields = []
    at = 0
    while at < len(payload):
        size = int.from_bytes(payload[at : at + 4], "big")
        fields.append(payload[at + 4 : at + 4 + size].decode("utf-8", "surrogatepass"))
        at += 4 + size
    numbers = [int(n) for n in fields[0].split()]
    names = ("memory_mb", "cpu_seconds", "max_processes", "max_file_mb", "max_open_files")
    return {
        "limits": {name: numbers[i] for i, name in enumerate(names)},
        "max_message": numbers[len(names)],
        "code": fields[1],
        "helpers": fields[2],
        "setup": fields[3],
        "entry_point": fields[4],
        "tests": [fields[i : i + 4] for i in range(5, len(fields), 4)],
    }


def _set_limits(limits: dict[str, Any], dropping: bool) -> None:
    wanted = {
        resource.RLIMIT_AS: int(limits["memory_mb"]) << 20,
        resource.RLIMIT_CPU: int(limits["cpu_seconds"]),
        resource.RLIMIT_FSIZE: int(limits["max_file_mb"]) << 20,
        resource.RLIMIT_NOFILE: int(limits["max_open_files"]),
        resource.RLIMIT_CORE: 0,
    }
    nproc = int(limits["max_processes"])
    if not dropping:
        # Without a dedicated uid the limit counts every process of the host user.
        nproc += sum(1 for p in os.listdir("/proc") if p.isdigit())
    wanted[resource.RLIMIT_NPROC] = nproc
    for res, value in wanted.items():
        _, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        if res == resource.RLIMIT_CPU:
            # SIGXCPU at the soft limit, SIGKILL one second later if it is ignored.
            hard_value = value + 1 if hard == resource.RLIM_INFINITY else min(value + 1, hard)
            resource.setrlimit(res, (value, hard_value))
        else:
            resource.setrlimit(res, (value, value))


def _drop_to(uid: int, gid: int) -> None:
    """Switch to an unprivileged uid/gid with no supplementary groups (or die)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        os._exit(72)


def _job_process(config: dict[str, Any], workdir: str, dropping: bool) -> None:
    """A fresh fork of init, started before its job arrives. It forks the solution process
    (which drops to the sandbox uid and waits for the code), then becomes the judge: drops to
    the judge uid, reads one job, sets its limits, hands the code to the solution process and
    runs the tests against it, calling the solution's functions through a pipe that carries
    plain data only. Everything the job changes dies with these two processes."""
    os.dup2(DONE_FD, CONTROL_FD)  # closes our copy of init's control pipe
    os.close(DONE_FD)
    request_r, request_w = os.pipe()
    response_r, response_w = os.pipe()
    solution = os.fork()
    if solution == 0:
        try:
            _solution_process(config, workdir, dropping, request_r, response_w)
        finally:
            os._exit(73)
    os.close(request_r)
    os.close(response_w)
    _judge_process(config, dropping, solution, request_w, response_r)


# -- the judge: holds the tests, sees only plain data from the solution ------------------------
def _judge_process(
    config: dict[str, Any], dropping: bool, solution: int, request_w: int, response_r: int
) -> None:
    me = os.getpid()
    os.chdir("/")
    if dropping:
        # Hard limits stay as inherited until the job's are set: an unprivileged process
        # may lower them, never raise them.
        _drop_to(config["judge_uid"], config["gid"])
    # Never dumpable: no other process of the sandbox (same uid or not) may trace it, read
    # its memory or open its pipes through /proc.
    _prctl(PR_SET_DUMPABLE, 0)
    _filter_job_process()
    os.environ["HOME"] = "/"
    os.environ["TMPDIR"] = "/tmp"
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p) and not p.startswith("/tmp")]
    channel = _Channel(request_w, response_r, solution)
    job = _read_job(0)
    if job is None:
        channel.close()
        os._exit(0)
    job["dropping"] = dropping
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the tests read EOF from stdin
    os.close(null)
    _set_limits(job["limits"], dropping)

    def emit(event: dict[str, Any] | str) -> None:
        if os.getpid() != me:  # a process the tests forked: never report for it
            os._exit(0)
        _flush()
        _emit_raw(EVENT_FD, event)

    _judge_job(job, channel, emit)
    if channel.gone is not None:
        # The exit status only where the process ended by itself (else it broke the protocol).
        status = channel.status if channel.ended else None
        emit({"event": "solution_end", "status": status, "reason": channel.gone})
    emit('{"event": "done"}\n')
    with contextlib.suppress(OSError):
        # The host need not wait for init's report to return the result; it reads the
        # report before this worker's next job.
        os.write(CONTROL_FD, b"d")
    # Then hang up: the solution process reads EOF and exits; init reports the job's end
    # once both are gone (a solution process that lingers retires the worker).
    channel.close()
    os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


class SolutionGone(BaseException):
    """The solution process ended, or broke the protocol: no further call can be answered.
    A ``BaseException``, so a test's ``except Exception`` cannot swallow it."""


class InvalidResult(BaseException):
    """The solution returned something that is not plain data (or too big, or too deep)."""


class SolutionLimit(BaseException):
    """The solution hit a resource limit (or exited) while answering a call."""

    def __init__(self, kind: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.error_type = error_type


# Exceptions the solution may raise that the judge re-raises as the same builtin type (a test
# may expect them); any other type becomes a fresh Exception subclass of the same name.
_REMOTE_EXCEPTIONS = {
    cls.__name__: cls
    for cls in (
        ArithmeticError, AssertionError, AttributeError, Exception, IndexError, KeyError,
        LookupError, NameError, NotImplementedError, OverflowError, RecursionError,
        RuntimeError, TypeError, UnboundLocalError, UnicodeError, ValueError,
        ZeroDivisionError,
    )
}  # fmt: skip


class _Channel:
    """The judge's end of the pipes to the solution process. Every answer is decoded with
    :func:`from_plain` into exact builtin values; a malformed answer, an answer over the
    size cap, or the end of the process makes the channel ``gone`` for good."""

    def __init__(self, write_fd: int, read_fd: int, pid: int) -> None:
        self.write_fd = write_fd
        self.read_fd = read_fd
        self.pid = pid
        self.gone: str | None = None
        self.status: int | None = None  # the solution process's wait status, once reaped
        self.ended = False  # it ended before the judge hung up
        self.closed = False
        self.expected: collections.deque[dict[str, Any]] = collections.deque()

    def prefetch(self, calls: list[dict[str, Any]]) -> None:
        """Ask for ``calls`` now; :meth:`call` then reads their answers in order."""
        if self.send({"op": "batch", "calls": calls}):
            self.expected.extend(calls)

    def send(self, message: Any) -> bool:
        if self.gone is not None:
            return False
        data = json.dumps(message, ensure_ascii=True, allow_nan=False).encode("ascii")
        try:
            _write_all(self.write_fd, len(data).to_bytes(4, "big") + data)
        except OSError:
            self._ended()
            return False
        return True

    def receive(self) -> Any:
        """The next raw answer (JSON), or ``None`` once the channel is gone."""
        if self.gone is not None:
            return None
        header = _read_exact(self.read_fd, 4)
        if header is None:
            self._ended()
            return None
        size = int.from_bytes(header, "big")
        if size > MAX_MESSAGE:
            self.gone = f"the solution sent an answer of {size} bytes (limit {MAX_MESSAGE})"
            return None
        data = _read_exact(self.read_fd, size)
        if data is None:
            self._ended()
            return None
        try:
            return json.loads(data, parse_constant=_no_constant)
        except (ValueError, RecursionError, MemoryError):
            self.gone = "the solution sent malformed data"
            return None

    def _ended(self) -> None:
        self.gone = "the solution process ended"
        self.ended = True
        self._reap(block=True)

    def _reap(self, block: bool) -> None:
        if self.status is not None:
            return
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid == self.pid:
                self.status = status

    def close(self) -> None:
        """Hang up (the solution process reads EOF and exits) and reap it."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        self._reap(block=True)
        with contextlib.suppress(OSError):
            os.close(self.read_fd)

    def violation(self, why: str) -> SolutionGone:
        self.gone = f"the solution broke the result protocol: {why}"
        return SolutionGone(self.gone)

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.gone is not None:
            raise SolutionGone(self.gone)
        try:
            message = {"op": "call", "name": name, "args": to_plain(list(args)),
                       "kwargs": to_plain(kwargs)}  # fmt: skip
        except NotPlain as exc:
            raise TypeError(f"cannot pass this argument to the solution: {exc}") from None
        _flush()  # the tests' output before the solution's, as they happened
        if self.expected:
            ahead = self.expected.popleft()
            if (
                ahead["name"] != name
                or ahead["args"] != message["args"]
                or (ahead["kwargs"] != message["kwargs"])
            ):
                # Not the call the batch foresaw (never for the literal tests it is made of):
                # drop the batch's answers and ask again.
                for _ in range(1 + len(self.expected)):
                    self.receive()
                self.expected.clear()
                if not self.send(message):
                    raise SolutionGone(self.gone)
        elif not self.send(message):
            raise SolutionGone(self.gone)
        reply = self.receive()
        if reply is None:
            raise SolutionGone(self.gone)
        if not isinstance(reply, dict) or len(reply) != 1:
            raise self.violation("an answer must be a one-key object")
        if "ok" in reply:
            try:
                return from_plain(reply["ok"])
            except (ValueError, TypeError, RecursionError, MemoryError) as exc:
                raise self.violation(f"not plain data ({exc})") from None
        if "bad" in reply and isinstance(reply["bad"], str):
            raise InvalidResult(reply["bad"][:MAX_TEXT])
        raised = reply.get("raise")
        if (
            isinstance(raised, list)
            and len(raised) == 3
            and isinstance(raised[0], str)
            and isinstance(raised[1], str)
            and (raised[2] is None or isinstance(raised[2], str))
        ):
            raise _remote_exception(raised[0][:100], raised[1][:MAX_TEXT], raised[2])
        raise self.violation("unknown answer")


def _no_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not allowed")


def _remote_exception(type_name: str, message: str, kind: str | None) -> BaseException:
    if kind in LIMIT_KINDS:
        return SolutionLimit(kind, type_name, message)
    cls: Any = _REMOTE_EXCEPTIONS.get(type_name)
    if cls is None:
        name = type_name if type_name.isidentifier() else "SolutionError"
        cls = type(name, (Exception,), {"__module__": "solution"})
    return cls(message) if message else cls()


class _Remote:
    """Stands in the judge for a function of the solution: calling it sends the arguments
    (plain data) to the solution process and returns its answer, decoded as plain data."""

    __slots__ = ("_channel", "_name")

    def __init__(self, name: str, channel: _Channel) -> None:
        self._name = name
        self._channel = channel

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<solution function {self._name}>"


def _code_names(code: Any, into: set[str]) -> None:
    """Every global (and attribute) name a code object and the code nested in it use."""
    into.update(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            _code_names(const, into)


def _compile_trusted(source: str, what: str) -> tuple[Any, str | None]:
    if not source.strip():
        return None, None
    try:
        return compile(source, f"<{what}>", "exec"), None
    except (SyntaxError, ValueError) as exc:
        return None, f"the problem's {what} code does not compile: {exc}"


def _judge_job(job: dict[str, Any], channel: _Channel, emit: Any) -> None:
    limit = int(job.get("max_message", 300))
    # The solution process sets the same limits on itself and runs the code while the judge
    # compiles the tests; then it reports how the run went and what it defines of the names
    # the tests use (sent as soon as they are known).
    run = {"op": "run", "code": job["code"], "limits": job["limits"],
           "max_message": limit, "dropping": job.get("dropping", False)}  # fmt: skip
    channel.send(run)
    entry = job.get("entry_point") or ""
    helpers, helpers_error = _compile_trusted(job.get("helpers", ""), "helper")
    setup, setup_error = _compile_trusted(job.get("setup", ""), "setup")
    compiled: list[tuple[str, Any, dict[str, Any] | None]] = []
    names: set[str] = {entry} if entry else set()
    for code in (helpers, setup):
        if code is not None:
            _code_names(code, names)
    for test, left, right, _ in job["tests"]:
        try:
            parts = _compile_test(test, left, right)
        except (SyntaxError, ValueError) as exc:
            compiled.append((test, None, {**_failure(exc, limit), "kind": "bad_test"}))
            continue
        for part in parts:
            if part is not None:
                _code_names(part, names)
        compiled.append((test, parts, None))
    names_sent = channel.send({"op": "names", "names": sorted(names)})
    reply = channel.receive() if names_sent else None
    if reply is None:
        return  # the solution process ended (or broke the protocol) while running the code
    code_event = _checked_code_event(reply.get("code") if isinstance(reply, dict) else None)
    if code_event is None:
        channel.violation("malformed report of the code's run")
        return
    emit({"event": "code", **code_event})
    if not code_event["passed"]:
        return
    offered = reply.get("names")
    if not isinstance(offered, dict):
        channel.violation("malformed names")
        return
    namespace: dict[str, Any] = {"__name__": "judge", "__builtins__": builtins}
    broken = helpers_error or setup_error
    if broken is None and helpers is not None:
        broken = _exec_trusted(helpers, namespace, "helper", limit)
    if broken is None:
        broken = _bind(names, entry, offered, namespace, channel)
    if broken is None and setup is not None:
        broken = _exec_trusted(setup, namespace, "setup", limit)
    if broken is None:
        _prefetch(job["tests"], compiled, namespace, channel)
    for index, (test, parts, failed) in enumerate(compiled):
        if broken is not None:
            result: dict[str, Any] = {"passed": False, "error_type": "SetupError",
                                      "message": broken[:limit], "kind": "bad_test"}  # fmt: skip
        elif failed is not None:
            result = failed
        else:
            result = _run_test(test, parts, namespace, limit)
        if result is _PASSED:  # the common case, without the json module
            emit(f'{{"event": "test", "index": {index}, "passed": true}}\n')
        else:
            emit({"event": "test", "index": index, **result})
        if result.get("kind") in ("exited", "solution_gone"):
            return


def _prefetch(
    tests: list[list[str]], compiled: list[tuple[str, Any, dict[str, Any] | None]],
    namespace: dict[str, Any], channel: _Channel,
) -> None:  # fmt: skip
    """Send the leading run of tests that are ``assert f(literals) == literal`` with ``f`` a
    solution function as one batch: the solution answers them in order without waiting for
    the judge, which reads each answer when its test calls ``f`` (the same calls, in the same
    order, as one by one; just fewer round trips)."""
    batch = []
    for (_, _, _, call), (_, _, failed) in zip(tests, compiled, strict=True):
        if failed is not None or not call:
            break
        name, args_source, kwargs_source = call.split("\0")
        remote = namespace.get(name)
        if type(remote) is not _Remote:
            break
        try:
            args = eval(args_source, {"__builtins__": {}})
            kwargs = eval(kwargs_source, {"__builtins__": {}})
            batch.append({"name": remote._name, "args": to_plain(list(args)),
                          "kwargs": to_plain(kwargs)})  # fmt: skip
        except Exception:
            break
    if len(batch) > 1:
        channel.prefetch(batch)


def _checked_code_event(report: Any) -> dict[str, Any] | None:
    """The solution's report on running its code, reduced to plain, bounded fields."""
    if not isinstance(report, dict) or not isinstance(report.get("passed"), bool):
        return None
    if report["passed"]:
        return {"passed": True}
    kind = report.get("kind")
    return {
        "passed": False,
        "error_type": str(report.get("error_type") or "Error")[:100],
        "message": str(report.get("message") or "")[:MAX_TEXT],
        "kind": kind if kind in ("syntax_error", *LIMIT_KINDS) else None,
    }


def _exec_trusted(code: Any, namespace: dict[str, Any], what: str, limit: int) -> str | None:
    try:
        exec(code, namespace)
    except SolutionGone:
        raise
    except BaseException as exc:
        return f"the problem's {what} code raised {type(exc).__name__}: {_describe(exc, limit)}"
    return None


def _bind(
    names: set[str], entry: str, offered: dict[str, Any], namespace: dict[str, Any],
    channel: _Channel,
) -> str | None:  # fmt: skip
    """Bind in the judge's namespace what the tests use from the solution: its functions as
    :class:`_Remote` proxies, its plain module-level values decoded. The entry point always
    comes from the solution; other names only where the trusted helpers and the builtins have
    none. A standard-library module the tests name is imported here, by the judge."""
    for name in sorted(names):
        if name != entry and (name in namespace or hasattr(builtins, name)):
            continue
        what = offered.get(name)
        if isinstance(what, list) and what == ["f"]:
            namespace[name] = _Remote(name, channel)
        elif isinstance(what, list) and len(what) == 2 and what[0] == "v":
            try:
                namespace[name] = from_plain(what[1])
            except (ValueError, TypeError, RecursionError, MemoryError) as exc:
                channel.violation(f"not plain data ({exc})")
                return channel.gone
        elif name != entry and name in sys.stdlib_module_names and "." not in name:
            with contextlib.suppress(Exception):
                namespace[name] = __import__(name)
        elif name == entry:
            namespace.pop(name, None)  # not the helpers' stub: a NameError in the tests
    return None


# -- plain data: the only thing that crosses between the solution and the judge ---------------
MAX_MESSAGE = 8 << 20  # bytes of one encoded answer
MAX_ITEMS = 1 << 20  # values in one answer (containers and scalars)
MAX_DEPTH = 100  # nesting of containers
MAX_TEXT = 2000  # characters of an exception message or type name kept
_BIG_INT = 1 << 4000  # larger ints travel as hex (decimal text of them is capped)
LIMIT_KINDS = ("memory", "file_limit", "process_limit", "open_files_limit", "exited")


class NotPlain(Exception):
    """A value that the plain-data encoding does not carry."""


def to_plain(value: Any) -> Any:
    """Encode plain data (None, bool, int, float, str, bytes, and lists, tuples, dicts, sets,
    frozensets of them) as JSON-ready values. Lists, strings, ints, finite floats, bools and
    None are themselves; everything else is a one-key object: ``{"t": [...]}`` tuple,
    ``{"d": [[k, v], ...]}`` dict, ``{"s": [...]}`` set, ``{"f": [...]}`` frozenset,
    ``{"b": hex}`` bytes, ``{"x": "nan" | "inf" | "-inf"}`` float, ``{"i": hex}`` huge int.
    A subclass of a builtin type is encoded as its base value (its own methods are ignored).
    Raises :class:`NotPlain` for anything else, or past :data:`MAX_ITEMS` / :data:`MAX_DEPTH`.
    """
    return _Encoder().encode(value, 0)


class _Encoder:
    def __init__(self) -> None:
        self.items = 0

    def encode(self, value: Any, depth: int) -> Any:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise NotPlain(f"more than {MAX_ITEMS} values")
        if depth > MAX_DEPTH:
            raise NotPlain(f"nested deeper than {MAX_DEPTH}")
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if -_BIG_INT < value < _BIG_INT else {"i": hex(value)}
        if kind is float:
            return value if value - value == 0.0 else {"x": repr(value)}
        if kind in _CONTAINERS:
            self.items += len(value)  # counted up front: a huge container fails at once
            if self.items > MAX_ITEMS:
                raise NotPlain(f"more than {MAX_ITEMS} values")
            self.items -= len(value)
        if kind is list:
            return [self.encode(v, depth + 1) for v in value]
        if kind is tuple:
            return {"t": [self.encode(v, depth + 1) for v in value]}
        if kind is dict:
            return {"d": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                          for k, v in value.items()]}  # fmt: skip
        if kind is set or kind is frozenset:
            return {"s" if kind is set else "f": [self.encode(v, depth + 1) for v in value]}
        if kind is bytes:
            return {"b": value.hex()}
        # Subclasses of the builtin types: their base value, read with the base type's own
        # methods (never the subclass's __eq__, __iter__, __str__, ...).
        for base, convert in _BASES:
            if isinstance(value, base):
                return self.encode(convert(value), depth)
        raise NotPlain(f"a value of type {_type_name(value)} is not plain data")


_CONTAINERS = (list, tuple, dict, set, frozenset)

_BASES: tuple[tuple[type, Any], ...] = (
    (int, int.__index__),
    (float, float.__float__),
    (str, str.__str__),
    (bytes, lambda v: bytes(memoryview(v))),
    (list, lambda v: list(list.__iter__(v))),
    (tuple, lambda v: tuple(tuple.__iter__(v))),
    (dict, lambda v: dict(dict.items(v))),
    (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
    (set, lambda v: set(set.__iter__(v))),
)


def _type_name(value: Any) -> str:
    try:
        return str(type(value).__name__)[:100]
    except Exception:
        return "<unknown>"


def from_plain(node: Any) -> Any:
    """Decode :func:`to_plain`'s output (after ``json.loads``) into exact builtin values.
    Raises ``ValueError`` for anything else, or past the caps."""
    return _Decoder().decode(node, 0)


class _Decoder:
    def __init__(self) -> None:
        self.items = 0

    def decode(self, node: Any, depth: int) -> Any:
        self.items += 1
        if self.items > MAX_ITEMS or depth > MAX_DEPTH:
            raise ValueError("too many or too deeply nested values")
        kind = type(node)
        if node is None or kind is bool or kind is str or kind is int:
            return node
        if kind is float:
            if node - node != 0.0:
                raise ValueError("a non-finite float outside its tag")
            return node
        if kind is list:
            return [self.decode(v, depth + 1) for v in node]
        if kind is not dict or len(node) != 1:
            raise ValueError(f"unexpected {kind.__name__}")
        ((tag, body),) = node.items()
        if tag == "i" and type(body) is str:
            return int(body, 16)
        if tag == "x" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if type(body) is not list:
            raise ValueError(f"tag {tag!r} needs a list")
        items = [self.decode(v, depth + 1) for v in body]
        if tag == "t":
            return tuple(items)
        if tag == "s":
            return set(items)
        if tag == "f":
            return frozenset(items)
        if tag == "d":
            if not all(type(p) is list and len(p) == 2 for p in items):
                raise ValueError("a dict needs [key, value] pairs")
            return {k: v for k, v in items}
        raise ValueError(f"unknown tag {tag!r}")


# -- the solution process: runs the submission, answers calls with plain data ------------------
def _solution_process(
    config: dict[str, Any], workdir: str, dropping: bool, request_r: int, response_w: int
) -> None:
    """Holds nothing but its two pipe ends (calls in, answers out), stdout and stderr: not
    the job pipe, not the event or done pipes, not init's. Runs the code under the sandbox
    uid, then answers each call. Whatever it writes, the judge only decodes plain data."""
    high_r = fcntl.fcntl(request_r, fcntl.F_DUPFD, 64)
    high_w = fcntl.fcntl(response_w, fcntl.F_DUPFD, 64)
    os.dup2(high_r, REQUEST_FD)
    os.dup2(high_w, RESPONSE_FD)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the code reads EOF from stdin
    os.closerange(RESPONSE_FD + 1, 1 << 16)
    os.chdir(workdir)
    if dropping:
        _drop_to(config["uid"], config["gid"])
    _filter_job_process()
    run = _read_message(REQUEST_FD)
    if not isinstance(run, dict) or run.get("op") != "run":
        os._exit(0)
    _set_limits(run["limits"], bool(run.get("dropping")))
    _serve(run, os.read, os.write, os._exit)


def _read_message(fd: int) -> Any:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    data = _read_exact(fd, int.from_bytes(header, "big"))
    return None if data is None else json.loads(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _serve(run: dict[str, Any], read: Any, write: Any, exit_: Any) -> None:
    """The solution's loop. The harness functions it needs are bound before the code runs, and
    the builtins and recursion limit the code changed are swapped out while the harness
    works, so a submission that patches them changes only what its own functions see."""
    limit = int(run.get("max_message", 300))
    dumps, loads, encode, decode = json.dumps, json.loads, to_plain, from_plain
    flush, kind_of, describe, type_name = _flush, _kind, _describe, _type_name
    table = builtins.__dict__
    pristine, copy, clear, update = table.copy(), table.copy, table.clear, table.update
    get_depth, set_depth = sys.getrecursionlimit, sys.setrecursionlimit
    depth = get_depth()

    def harness() -> tuple[dict[str, Any], int]:
        theirs = (copy(), get_depth())
        clear()
        update(pristine)
        set_depth(depth)
        return theirs

    def theirs_again(theirs: tuple[dict[str, Any], int]) -> None:
        clear()
        update(theirs[0])
        set_depth(theirs[1])

    def answer(message: Any) -> None:
        flush()
        try:
            data = dumps(message, ensure_ascii=True, allow_nan=False).encode("ascii")
        except BaseException:
            data = b'{"bad": "the answer could not be encoded"}'
        if len(data) > MAX_MESSAGE:
            data = b'{"bad": "the answer is larger than the size limit"}'
        data = len(data).to_bytes(4, "big") + data
        try:
            while data:
                data = data[write(RESPONSE_FD, data) :]
        except BaseException:
            exit_(0)

    def receive() -> Any:
        try:
            header = _read_exact_with(read, REQUEST_FD, 4)
            if header is None:
                return None
            body = _read_exact_with(read, REQUEST_FD, int.from_bytes(header, "big"))
            return None if body is None else loads(body)
        except BaseException:
            return None

    def failure(exc: BaseException) -> dict[str, Any]:
        return {"raise": [type_name(exc), describe(exc, limit), kind_of(exc)]}

    namespace: dict[str, Any] = {"__name__": "solution", "__builtins__": builtins}
    report = _run_code(run["code"], namespace, limit)
    theirs = harness()
    flush()
    request = receive()
    if not isinstance(request, dict) or request.get("op") != "names":
        exit_(0)
    offered: dict[str, Any] = {}
    if report["passed"]:
        for name in request.get("names") or ():
            try:
                offered[name] = _offer(namespace, name, encode)
            except BaseException:
                continue
    answer({"code": report, "names": offered})

    def call(request: Any) -> Any:
        nonlocal theirs
        try:
            function = namespace[request["name"]]
            args = decode(request["args"])
            kwargs = decode(request["kwargs"])
        except BaseException as exc:
            return failure(exc)
        theirs_again(theirs)
        try:
            value = function(*args, **kwargs)
        except BaseException as exc:
            theirs = harness()
            return failure(exc)
        theirs = harness()
        try:
            return {"ok": encode(value)}
        except NotPlain as exc:
            return {"bad": f"the function returned something that is not plain data: {exc}"}
        except BaseException as exc:
            return failure(exc)

    while True:
        request = receive()
        if not isinstance(request, dict):
            flush()
            exit_(0)
        if request.get("op") == "batch":
            for one in request.get("calls") or ():
                reply = call(one)
                answer(reply)
                if "raise" in reply and reply["raise"][2] == "exited":
                    break  # the judge stops at this test: run no later call
        else:
            answer(call(request))


def _read_exact_with(read: Any, fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _offer(namespace: dict[str, Any], name: str, encode: Any) -> Any:
    value = namespace.get(name, _offer)
    if value is _offer:
        raise KeyError(name)
    if type(value).__name__ == "module":
        return ["m"]
    if callable(value):
        return ["f"]
    return ["v", encode(value)]


def _run_code(code: str, namespace: dict[str, Any], limit: int) -> dict[str, Any]:
    try:
        compiled = compile(code, "<solution>", "exec")
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, SyntaxError):
            where = f" (line {exc.lineno})" if exc.lineno else ""
            message = f"{exc.msg}{where}"
        else:
            message = str(exc)
        return {"passed": False, "error_type": type(exc).__name__, "message": message[:limit],
                "kind": "syntax_error"}  # fmt: skip
    except BaseException as exc:
        return _failure(exc, limit)
    try:
        exec(compiled, namespace)
    except BaseException as exc:
        return _failure(exc, limit)
    return {"passed": True}


# -- running a test ---------------------------------------------------------------------------
def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, SolutionLimit):
        return exc.kind
    if isinstance(exc, SolutionGone):
        return "solution_gone"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, SystemExit):
        return "exited"
    if isinstance(exc, OSError):
        if exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
            return "file_limit"
        if exc.errno == errno.EAGAIN:
            return "process_limit"
        if exc.errno == errno.EMFILE:
            return "open_files_limit"
    return None


def _describe(exc: BaseException, limit: int) -> str:
    if isinstance(exc, SystemExit):
        try:
            text = f"the code called sys.exit({exc.code!r})"
        except Exception:
            text = "the code called sys.exit()"
    else:
        try:
            text = str(exc)
            if type(text) is not str:
                text = "<unprintable exception>"
        except BaseException:
            text = "<unprintable exception>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure(exc: BaseException, limit: int) -> dict[str, Any]:
    error_type = exc.error_type if isinstance(exc, SolutionLimit) else _type_name(exc)
    return {
        "passed": False,
        "error_type": error_type,
        "message": _describe(exc, limit),
        "kind": _kind(exc),
    }


def _compile_test(test: str, left: str, right: str) -> tuple[Any, Any, Any]:
    """``(code, left, right)``: ``left``/``right`` are set for a plain ``assert a == b``,
    whose two sides the host found (``pool._split_assert``) and sent as source."""
    if left and right:
        try:
            return (
                None,
                compile(f"({left})", "<test>", "eval"),
                compile(f"({right})", "<test>", "eval"),
            )
        except (SyntaxError, ValueError):
            pass  # another interpreter than the host's parsed it: run it as a statement
    return compile(test, "<test>", "exec"), None, None


_PASSED: dict[str, Any] = {"passed": True}


def _run_test(test: str, parts: tuple[Any, Any, Any], namespace: dict[str, Any],
              limit: int) -> dict[str, Any]:  # fmt: skip
    code, left_code, right_code = parts
    try:
        if code is not None:
            exec(code, namespace)
            return _PASSED
        got = eval(left_code, namespace)
        expected = eval(right_code, namespace)
        if bool(got == expected):
            return _PASSED
        message = f"expected {_repr.repr(expected)}, got {_repr.repr(got)}"
        return {"passed": False, "error_type": "AssertionError", "message": message[:limit]}
    except AssertionError as exc:
        message = _describe(exc, limit) or f"assertion failed: {test.strip()}"[:limit]
        return {"passed": False, "error_type": "AssertionError", "message": message}
    except BaseException as exc:
        return _failure(exc, limit)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), json.loads(sys.argv[2]))
