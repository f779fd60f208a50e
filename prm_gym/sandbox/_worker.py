"""The process side of the sandbox: a fork server and the one-shot workers it forks.

This file is not imported by the host. Its source is run as
``python -I -c <source> <socket fd>`` in a fresh interpreter started with a minimal environment,
so it uses the standard library only and never imports ``prm_gym``.

Processes::

    fork server (root, never runs untrusted code): unshares an empty network namespace and a
    │  private mount namespace (spare temp dirs and hidden paths covered read-only), pre-imports
    │  a few modules, then forks one worker per request
    └─ init: raw clone() into new pid, mount, IPC and UTS namespaces (pid 1 there, root,
       │  trusted); private tmpfs on /tmp, fresh /proc, work dir; waits for the runner and
       │  reports its exit status. When init exits the kernel kills everything left in the
       │  pid namespace.
       └─ runner: rlimits, chdir, clean environment, setgroups([]) + setgid + setuid
          (unprivileged), says "ready", reads ONE job from stdin, runs it, streams one JSON
          line per event to fd 3, exits

The host talks to the fork server over a ``SOCK_SEQPACKET`` socket: ``spawn`` (with the
worker's stdin, stdout, stderr and event pipe attached as file descriptors) and ``kill``
(``killpg`` of the worker's session, done by its parent so the pid cannot have been recycled).
"""

from __future__ import annotations

import ast
import builtins
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

EVENT_FD = 3
SPARE_TMP_DIRS = ("/var/tmp", "/dev/shm", "/run/lock")  # covered read-only; /tmp is private
_CLONE_SYSCALL = {"x86_64": 56, "aarch64": 220}
# Imported once in the fork server. Kept small on purpose: forking copies the page tables, so a
# bigger fork server makes every worker slower to start; other modules import from disk.
PRELOAD = ("bisect", "collections", "functools", "heapq", "itertools", "math", "operator", "string")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
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


# -- fork server ------------------------------------------------------------------------------
def serve(sock: socket.socket, config: dict[str, Any]) -> None:
    """Fork one worker per ``spawn`` message until the host closes the socket."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    base = _isolate_server(config)
    gc.freeze()  # workers' garbage collections then leave the shared pages uncopied
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    live: dict[int, int] = {}  # job id -> worker pid (unreaped, so its pgid is still ours)
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
                    _init({**config, "limits": msg["limits"], "workdir": msg["workdir"]},
                          isolation, fds)  # fmt: skip
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
    base = {"network": False, "filesystem": False, "pid": False}
    if not config["namespaces"] or os.geteuid() != 0:
        return base
    base["network"] = _unshare(CLONE_NEWNET)
    # Mount nothing unless the new mount namespace is private: a shared one would propagate
    # our mounts to the host.
    if _unshare(CLONE_NEWNS) and _mount(None, "/", None, MS_REC | MS_PRIVATE, ""):
        base["filesystem"] = _cover_paths(config)
    return base


def _cover_paths(config: dict[str, Any]) -> bool:
    empty = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY
    for path in [*SPARE_TMP_DIRS, *config["hidden_paths"]]:
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
        for job_id, child in list(live.items()):
            if child == pid:
                del live[job_id]


# -- worker: init and runner ------------------------------------------------------------------
def _detach_stdio(keep_events: bool) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in range(3 if keep_events else 4):
        os.dup2(null, fd)
    os.close(null)


def _init(config: dict[str, Any], isolation: dict[str, bool], fds: list[int]) -> None:
    """The worker's first process: pid 1 of its own pid namespace when available."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(EVENT_FD + 1, 1 << 16)
    workdir = config["workdir"]
    if isolation["filesystem"]:
        size = f"size={int(config['tmpfs_mb'])}m,mode=1777"
        isolation["filesystem"] = _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
    if isolation["filesystem"]:
        if isolation["pid"]:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "")
        workdir = "/tmp/work"
        os.mkdir(workdir, 0o700)
        if os.geteuid() == 0 and config["uid"] is not None:
            os.chown(workdir, config["uid"], config["gid"])
    pid = os.fork()
    if pid == 0:
        try:
            _runner(config, isolation, workdir)
        finally:
            os._exit(71)
    _detach_stdio(keep_events=True)
    _, status = os.waitpid(pid, 0)
    _emit_raw({"event": "exit", "status": status})
    os._exit(0)


def _emit_raw(event: dict[str, Any]) -> None:
    data = (json.dumps(event) + "\n").encode()
    try:
        while data:
            data = data[os.write(EVENT_FD, data) :]
    except OSError:
        pass


def _set_limits(limits: dict[str, Any], dropping: bool) -> dict[str, int]:
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
    applied = {}
    for res, value in wanted.items():
        _, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        soft = value
        if res == resource.RLIMIT_CPU:
            # SIGXCPU at the soft limit, SIGKILL one second later if it is ignored.
            hard_value = value + 1 if hard == resource.RLIM_INFINITY else min(value + 1, hard)
            resource.setrlimit(res, (soft, hard_value))
        else:
            resource.setrlimit(res, (soft, value))
        applied[str(res)] = soft
    return applied


def _runner(config: dict[str, Any], isolation: dict[str, bool], workdir: str) -> None:
    me = os.getpid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-large write raises OSError(EFBIG)
    dropping = os.geteuid() == 0 and config["uid"] is not None
    _set_limits(config["limits"], dropping)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(
        {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
    )
    if dropping:
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(config["uid"])
        if os.getuid() == 0 or os.geteuid() == 0:
            os._exit(72)
    os.umask(0o077)

    def emit(event: dict[str, Any]) -> None:
        if os.getpid() != me:  # a process the submission forked: never report for it
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _emit_raw(event)

    emit({"event": "ready", "isolation": isolation, "privileges_dropped": dropping})
    job = json.loads(sys.stdin.buffer.read())
    _run_job(job, emit)
    emit({"event": "done"})
    os._exit(0)


# -- running a job ----------------------------------------------------------------------------
def _kind(exc: BaseException) -> str | None:
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
        text = f"the code called sys.exit({exc.code!r})"
    else:
        try:
            text = str(exc)
        except Exception:
            text = "<unprintable exception>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure(exc: BaseException, limit: int) -> dict[str, Any]:
    return {
        "passed": False,
        "error_type": type(exc).__name__,
        "message": _describe(exc, limit),
        "kind": _kind(exc),
    }


def _compile_test(test: str) -> tuple[Any, Any, Any]:
    """``(code, left, right)``: ``left``/``right`` are set for a plain ``assert a == b``."""
    tree = ast.parse(test, "<test>", "exec")
    body = tree.body
    if (
        len(body) == 1
        and isinstance(body[0], ast.Assert)
        and body[0].msg is None
        and isinstance(body[0].test, ast.Compare)
        and len(body[0].test.ops) == 1
        and isinstance(body[0].test.ops[0], ast.Eq)
    ):
        cmp = body[0].test
        left = compile(ast.Expression(cmp.left), "<test>", "eval")
        right = compile(ast.Expression(cmp.comparators[0]), "<test>", "eval")
        return None, left, right
    return compile(tree, "<test>", "exec"), None, None


def _run_test(test: str, namespace: dict[str, Any], limit: int) -> dict[str, Any]:
    try:
        code, left, right = _compile_test(test)
    except (SyntaxError, ValueError) as exc:
        return {**_failure(exc, limit), "kind": "bad_test"}
    try:
        if code is not None:
            exec(code, namespace)
            return {"passed": True}
        got = eval(left, namespace)
        expected = eval(right, namespace)
        if bool(got == expected):
            return {"passed": True}
        message = f"expected {_repr.repr(expected)}, got {_repr.repr(got)}"
        return {"passed": False, "error_type": "AssertionError", "message": message[:limit]}
    except AssertionError as exc:
        message = _describe(exc, limit) or f"assertion failed: {test.strip()}"[:limit]
        return {"passed": False, "error_type": "AssertionError", "message": message}
    except BaseException as exc:
        return _failure(exc, limit)


def _run_job(job: dict[str, Any], emit: Any) -> None:
    limit = int(job.get("max_message", 300))
    # Not "__main__": a submission's own `if __name__ == "__main__":` demo must not run.
    namespace: dict[str, Any] = {"__name__": "solution", "__builtins__": builtins}
    try:
        compiled = compile(job["code"], "<solution>", "exec")
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, SyntaxError):
            where = f" (line {exc.lineno})" if exc.lineno else ""
            message = f"{exc.msg}{where}"
        else:
            message = str(exc)
        emit({"event": "code", "passed": False, "error_type": type(exc).__name__,
              "message": message[:limit], "kind": "syntax_error"})  # fmt: skip
        return
    except BaseException as exc:
        emit({"event": "code", **_failure(exc, limit)})
        return
    try:
        exec(compiled, namespace)
    except BaseException as exc:
        emit({"event": "code", **_failure(exc, limit)})
        return
    emit({"event": "code", "passed": True})
    for index, test in enumerate(job["tests"]):
        result = _run_test(test, namespace, limit)
        emit({"event": "test", "index": index, **result})
        if result.get("kind") == "exited":
            return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), json.loads(sys.argv[2]))
