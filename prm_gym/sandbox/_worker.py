"""The process side of the sandbox: a fork server and the reusable workers it forks.

This file is not imported by the host. Its source is run as
``python -I -c <source> <socket fd>`` in a fresh interpreter started with a minimal environment,
so it uses the standard library only and never imports ``prm_gym``.

Processes::

    fork server (root, never runs untrusted code): unshares an empty network namespace and a
    │  private mount namespace (spare temp dirs and hidden paths covered read-only), pre-imports
    │  a few modules, then forks one worker per request
    └─ init: raw clone() into new pid, mount, IPC and UTS namespaces (pid 1 there, root,
       │  trusted, not dumpable, subreaper); private tmpfs on /tmp, fresh /proc, work dir,
       │  clean environment; says "ready" on fd 4. Serves jobs one at a time, each in a fresh
       │  job process. When init exits the kernel kills everything left in the pid namespace.
       └─ job process: forked by init ahead of its job; drops to the unprivileged uid
          (setgroups([]) + setgid + setuid), reads ONE job from fd 0, sets its rlimits, runs
          it, streams one JSON line per event to fd 3, writes a byte to its fd 4 (the done
          pipe), exits

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
WORKDIR = "/tmp/work"
END = '{"event": "end", "status": %d, "clean": %s}\n'
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SPARE_TMP_DIRS = ("/var/tmp", "/dev/shm", "/run/lock")  # covered read-only; /tmp is private
_CLONE_SYSCALL = {"x86_64": 56, "aarch64": 220}
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
    base = _isolate_server(config)
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
                    _init({**config, "workdir": msg["workdir"]}, isolation, fds)
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
    length, then length-prefixed fields: the limits as ASCII integers, the code, and for each
    test its source and the two sides of a plain ``assert a == b`` (else empty)."""
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
        "tests": [fields[i : i + 3] for i in range(2, len(fields), 3)],
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


def _job_process(config: dict[str, Any], workdir: str, dropping: bool) -> None:
    """A fresh fork of init, started before its job arrives: drops to the unprivileged uid,
    then reads one job, sets its limits and runs it. Everything the job changes (modules,
    builtins, globals, limits) dies with this process."""
    me = os.getpid()
    os.dup2(DONE_FD, CONTROL_FD)  # closes our copy of init's control pipe
    os.close(DONE_FD)
    os.chdir(workdir)
    if dropping:
        # Hard limits stay as inherited until the job's are set: an unprivileged process
        # may lower them, never raise them.
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(config["uid"])
        if os.getuid() == 0 or os.geteuid() == 0:
            os._exit(72)
    job = _read_job(0)
    if job is None:
        os._exit(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the code reads EOF from stdin
    os.close(null)
    _set_limits(job["limits"], dropping)

    def emit(event: dict[str, Any] | str) -> None:
        if os.getpid() != me:  # a process the submission forked: never report for it
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _emit_raw(EVENT_FD, event)

    _run_job(job, emit)
    emit('{"event": "done"}\n')
    with contextlib.suppress(OSError):
        # The host need not wait for init's report to return the result; it reads the
        # report before this worker's next job.
        os.write(CONTROL_FD, b"d")
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


def _run_test(
    test: str, left: str, right: str, namespace: dict[str, Any], limit: int
) -> dict[str, Any]:
    try:
        code, left_code, right_code = _compile_test(test, left, right)
    except (SyntaxError, ValueError) as exc:
        return {**_failure(exc, limit), "kind": "bad_test"}
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
    emit('{"event": "code", "passed": true}\n')
    for index, (test, left, right) in enumerate(job["tests"]):
        result = _run_test(test, left, right, namespace, limit)
        if result is _PASSED:  # the common case, without the json module
            emit(f'{{"event": "test", "index": {index}, "passed": true}}\n')
        else:
            emit({"event": "test", "index": index, **result})
        if result.get("kind") == "exited":
            return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), json.loads(sys.argv[2]))
