"""The host side: a fork server, a pool of reusable workers, and ``run_tests``."""

from __future__ import annotations

import ast
import collections
import contextlib
import fcntl
import functools
import itertools
import json
import math
import os
import select
import selectors
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prm_gym.sandbox.config import SandboxConfig, SandboxLimits
from prm_gym.sandbox.results import ExecutionResult, build_result

__all__ = ["PoolStats", "Sandbox", "SandboxError"]

_WORKER_SOURCE = (Path(__file__).parent / "_worker.py").read_text(encoding="utf-8")
_EVENTS_CAP = 1 << 20  # bytes of worker events kept; more is a flood
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_EVENTS_POLL = 0.05  # seconds between reads of the event pipe while a job runs
_SETTLE_WAIT = 0.5  # seconds to wait for a finishing worker before starting a new one
_SWEEP_INTERVAL = 0.5  # seconds between checks for finishing workers past their deadline
_CACHED_TEST_CHARS = 2000  # longer tests are parsed on each call, not kept
# Results after which a worker is reused (if its init also reports it clean): the job process
# ran the code to its end by itself. Anything else retires the worker.
_NORMAL_ENDS = frozenset({"ok", "syntax_error", "runtime_error"})


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start a worker); never raised for bad code."""


_UID_LOCK_DIRS = ("/run/prm_gym_sandbox_uids", "/tmp/prm_gym_sandbox_uids")
_uid_lock = threading.Lock()
# Where the next search for a free uid pair starts: it moves on with every lease, so a pair
# is handed out again only after the whole pool went round (never to the next worker while
# the retired one's processes may still be dying). Offset by pid so processes start apart.
_uid_cursor = [os.getpid()]


@dataclass
class _UidLease:
    """A uid pair held by one worker: an exclusive ``flock`` on its lock file, which other
    workers of this and every other process respect, dropped by :meth:`release` (or when the
    process dies)."""

    uid: int
    judge_uid: int
    fd: int

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _uid_lock_dir() -> str:
    for path in _UID_LOCK_DIRS:
        with contextlib.suppress(OSError):
            os.makedirs(path, mode=0o700, exist_ok=True)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        # Only a root-owned real directory nobody else can write: else anyone could hold
        # (or fake) the locks.
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o022:
            return path
    raise SandboxError(f"no private directory for the sandbox uid locks in {_UID_LOCK_DIRS}")


def _lease_uids(config: SandboxConfig) -> _UidLease | None:
    """A uid pair (code, judge) used by no other live worker on this machine, from
    :attr:`SandboxConfig.uid_pool`; ``None`` where every worker uses ``uid``/``judge_uid``."""
    if config.uid_pool is None or config.uid is None or os.geteuid() != 0:
        return None
    start, stop = config.uid_pool
    pairs = (stop - start) // 2
    directory = _uid_lock_dir()
    with _uid_lock:
        for _ in range(pairs):
            base = start + 2 * (_uid_cursor[0] % pairs)
            _uid_cursor[0] += 1
            fd = os.open(
                os.path.join(directory, str(base)),
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            judge = base + 1 if config.judge_uid is not None else base
            return _UidLease(base, judge, fd)
    raise SandboxError(f"every uid pair of SandboxConfig.uid_pool {config.uid_pool} is in use")


@dataclass
class _Worker:
    """One started worker: its init process waits for jobs on ``jobs`` and reports on
    ``control``; the job's stdout, stderr and events arrive on three more pipes, and a byte on
    ``done`` when the job process has written its last event."""

    worker_id: int
    jobs: int
    control: int
    stdout: int
    stderr: int
    events: int
    done: int
    workdir: str | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    runs: int = 0  # jobs this worker has run
    # Set while init has not yet reported the end of the last job (which said it was done):
    # the time by which it must, else the worker is retired.
    finishing: float | None = None
    control_data: bytearray = field(default_factory=bytearray)
    uids: _UidLease | None = None  # this worker's own uid pair, released with it

    def fds(self) -> tuple[int, ...]:
        return (self.jobs, self.control, self.stdout, self.stderr, self.events, self.done)

    def close(self) -> None:
        for fd in self.fds():
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.uids is not None:
            self.uids.release()
            self.uids = None

    def remove_workdir(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def is_idle(self) -> bool:
        """Still waiting for a job: nothing (not even EOF) to read from its init."""
        poller = select.poll()
        poller.register(self.control, select.POLLIN)
        return not poller.poll(0)

    def read_end(self, timeout: float) -> dict[str, Any] | None:
        """Init's report of the current job's end, waiting up to ``timeout`` seconds;
        ``{}`` if init is gone, ``None`` if it has not reported yet."""
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.control, select.POLLIN)
        while True:
            end = _end_event(self.control_data)
            if end is not None:
                self.control_data.clear()
                return end
            remaining = max(0.0, deadline - time.monotonic())
            if not poller.poll(math.ceil(remaining * 1000)):
                return None
            chunk = os.read(self.control, 1 << 16)
            if not chunk:
                return {}
            self.control_data += chunk

    def settle(self, timeout: float) -> bool | None:
        """For a finishing worker: True once init reported a clean end (the pipes are then
        emptied of anything written after the job's last event), False if it must be
        retired, None if it has not reported within ``timeout``."""
        end = self.read_end(timeout)
        if end is None:
            return None
        if not _clean(end):
            return False
        for fd in (self.stdout, self.stderr, self.events, self.done):
            _discard(fd)
        self.finishing = None
        return self.is_idle()  # else init died after its report


def _clean(end: dict[str, Any]) -> bool:
    """Init's report says: the job process exited with status 0 and nothing of it is left."""
    return end.get("clean") is True and end.get("status") == 0


@dataclass(frozen=True)
class PoolStats:
    """Counters of a :class:`Sandbox` since it was created.

    Attributes:
        workers_started: Workers started (pre-started for the pool, or on demand).
        workers_retired: Workers killed: after an abnormal end (timeout, crash, limit,
            process left running, output flood), found dead while waiting, or surplus.
        executions: Calls to ``run_tests`` that ran.
        reused: Executions run by a worker that had already finished an earlier job.
    """

    workers_started: int = 0
    workers_retired: int = 0
    executions: int = 0
    reused: int = 0


class _ForkServer:
    """A root interpreter that forks workers on request (``_worker.serve``)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        server_config = {
            "namespaces": config.namespaces,
            "uid": config.uid,
            "judge_uid": config.judge_uid if config.judge_uid is not None else config.uid,
            "gid": config.gid,
            "tmpfs_mb": config.tmpfs_mb,
            "hidden_paths": list(config.hidden_paths),
            "hide_host": config.hide_host_files,
            "seccomp": config.syscall_filter,
        }
        argv = [config.interpreter(), "-I", "-c", _WORKER_SOURCE, str(child.fileno())]
        try:
            self.proc = subprocess.Popen(
                [*argv, json.dumps(server_config)],
                pass_fds=(child.fileno(),),
                env=env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            child.close()
        self.sock = parent
        self.lock = threading.Lock()
        self.ids = itertools.count()
        self.private_tmp = False  # learnt from the first worker's ready event

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(message).encode()
        with self.lock:
            socket.send_fds(self.sock, [data], fds or [])

    def spawn(self) -> _Worker:
        jobs, control, stdout, stderr, events, done = (os.pipe() for _ in range(6))
        # The worker's fds 0-5: job pipe, stdout, stderr, event pipe, control pipe, done pipe.
        child_ends = [jobs[0], stdout[1], stderr[1], events[1], control[1], done[1]]
        worker = _Worker(
            next(self.ids), jobs[1], control[0], stdout[0], stderr[0], events[0], done[0]
        )
        try:
            worker.uids = _lease_uids(self.config)
        except BaseException:
            worker.close()
            for fd in child_ends:
                os.close(fd)
            raise
        uid = worker.uids.uid if worker.uids is not None else self.config.uid
        for fd in (worker.jobs, worker.stdout, worker.stderr, worker.events, worker.done):
            os.set_blocking(fd, False)
        with contextlib.suppress(OSError):  # else 64 KiB: a big job waits for the next read
            fcntl.fcntl(worker.events, _F_SETPIPE_SZ, _EVENTS_CAP)
        workdir = "/nonexistent"
        if not self.private_tmp:
            # Only where a private tmpfs cannot be mounted; removed with the worker.
            worker.workdir = workdir = tempfile.mkdtemp(prefix="prm_gym_sandbox_")
            if os.geteuid() == 0 and uid is not None:
                os.chown(workdir, uid, self.config.gid)
        message: dict[str, Any] = {"op": "spawn", "id": worker.worker_id, "workdir": workdir}
        if worker.uids is not None:
            message["uids"] = {"uid": worker.uids.uid, "judge_uid": worker.uids.judge_uid}
        try:
            self._send(message, child_ends)
        except OSError as exc:
            worker.close()
            worker.remove_workdir()
            raise SandboxError(f"the sandbox fork server is gone ({exc})") from None
        finally:
            for fd in child_ends:
                os.close(fd)
        line = _read_line(worker.control, time.monotonic() + self.config.spawn_timeout)
        try:
            ready = json.loads(line) if line else {}
        except json.JSONDecodeError:
            ready = {}
        if ready.get("event") != "ready":
            self.kill(worker.worker_id)
            worker.close()
            worker.remove_workdir()
            raise SandboxError(
                "a sandbox worker did not start (is the interpreter readable by the sandbox "
                f"uid {uid}? pass SandboxConfig(python=...) to choose one)"
            )
        worker.ready = ready
        if ready.get("isolation", {}).get("filesystem"):
            self.private_tmp = True  # later workers need no host temp dir
            worker.remove_workdir()
        elif worker.workdir is None:
            # A private tmpfs was expected but not mounted: retry with a host temp dir.
            self.kill(worker.worker_id)
            worker.close()
            self.private_tmp = False
            return self.spawn()
        return worker

    def kill(self, worker_id: int) -> None:
        # If the fork server is gone, it killed its workers on the way out.
        with contextlib.suppress(OSError):
            self._send({"op": "kill", "id": worker_id})

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()  # the fork server kills every live worker and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # still our unreaped child: the pid cannot have been reused
            self.proc.wait()


def _read_line(fd: int, deadline: float) -> bytes:
    """Read from ``fd`` up to the first newline, EOF or ``deadline``."""
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(fd, 4096)  # nothing follows the ready line until a job is sent
            if not chunk:
                break
            buf += chunk
    return buf


class _Capture:
    """Output of one stream: stored up to ``cap`` bytes, counted beyond."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class Sandbox:
    """Runs untrusted Python with unit tests in isolated, resource-limited processes.

    A fork server (one root interpreter with common modules imported) forks workers: each is
    an init process in its own namespaces that serves jobs one at a time, forking for each a
    fresh, unprivileged, rlimited judge process (runs the tests) and solution process (runs
    the code, answers the judge's calls with plain data only). After a normal end (the job
    processes exited by themselves, no process left, files and IPC objects wiped) the worker
    goes back to the pool and serves the next call; after anything else (timeout, crash, a
    limit hit, a process left running, an output flood, a broken protocol) it is killed
    together with everything it started and a new one replaces it in the background.
    ``pool_size`` workers are kept; a call that finds none ready starts one. ``pool_size=0``
    starts a worker per call (cold); results are identical either way.

    Args:
        pool_size: Workers kept (0: start one per call and kill it after).
        limits: Default :class:`SandboxLimits`; ``run_tests`` keywords override them per call.
        config: :class:`SandboxConfig` (uid/gid, namespaces, interpreter, hidden paths).

    Example:
        >>> from prm_gym.sandbox import Sandbox
        >>> with Sandbox(pool_size=1) as box:
        ...     result = box.run_tests("def add(a, b): return a + b", ["assert add(1, 2) == 3"])
        ...     again = box.run_tests("def add(a, b): return a - b", ["assert add(1, 2) == 3"])
        >>> result.status, result.passed, again.passed, box.stats.executions
        ('ok', True, False, 2)
    """

    def __init__(
        self,
        pool_size: int = 2,
        limits: SandboxLimits | None = None,
        config: SandboxConfig | None = None,
    ) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.limits = limits or SandboxLimits()
        self.config = config or SandboxConfig()
        self._lock = threading.Condition()
        self._ready: list[_Worker] = []  # a stack: the last worker used is the next one
        # A one-element box, shared with the finalizer that cleans up an unclosed Sandbox.
        self._server_box: list[_ForkServer | None] = [None]
        self._closed = False
        self._refill_error: Exception | None = None
        self._workers = 0  # live workers: ready, running a job, or being started
        self._counts = collections.Counter[str]()
        self._finalizer = weakref.finalize(self, _shutdown, self._ready, self._server_box)
        # Two starters keep both halves of a start (fork server, worker) busy on two cores.
        self._threads = [
            threading.Thread(target=self._refill, name=f"sandbox-pool-{i}", daemon=True)
            for i in range(min(pool_size, 2))
        ]
        for thread in self._threads:
            thread.start()

    # -- public API -----------------------------------------------------------------------
    def run_tests(
        self,
        code: str,
        tests: list[str],
        *,
        helpers: str = "",
        setup: str = "",
        entry_point: str | None = None,
        timeout: float | None = None,
        memory_mb: int | None = None,
        **limits: Any,
    ) -> ExecutionResult:
        """Run ``code`` in a fresh sandboxed solution process and each ``tests[i]`` (a
        statement, usually an ``assert``) in a separate sandboxed judge process, and report
        per-test results.

        The tests never run in the code's process: each name a test uses that the code
        defines is bound in the judge to a proxy (a function: each call sends its arguments
        to the solution process and decodes the answer as plain data) or to the decoded value
        (a plain module-level constant). The judge compares exact builtin values with its own
        ``==``, so output, exit codes, patched builtins or permissive objects of the code
        cannot make a test pass; a result that is not plain data (None, bool, int, float,
        str, bytes, and lists, tuples, dicts, sets and frozensets of them) fails the test.

        Args:
            code: The untrusted code (defines the functions under test).
            tests: Test statements, run in order in the judge.
            helpers: Trusted code the judge runs first (e.g. HumanEval's prompt, whose helper
                functions such as ``poly`` its tests call). Names it defines stay the judge's,
                except ``entry_point``.
            setup: Trusted code the judge runs after binding the code's names, before the
                tests (e.g. HumanEval's ``candidate = entry_point``).
            entry_point: A name always taken from the code (never from ``helpers``).
            timeout: Wall-clock limit for the whole call, in seconds.
            memory_mb: Address-space limit of each process.
            **limits: Other :class:`SandboxLimits` fields for this call.

        Never raises for anything the code does; raises :class:`SandboxError` only when no
        worker can be started, and ``TypeError`` for arguments of the wrong type.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        if isinstance(tests, str) or not all(isinstance(t, str) for t in tests):
            raise TypeError("tests must be a list of str (one statement per test)")
        for name, text in (("helpers", helpers), ("setup", setup)):
            if not isinstance(text, str):
                raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        if entry_point is not None and not (
            isinstance(entry_point, str) and entry_point.isidentifier()
        ):
            raise TypeError(f"entry_point must be an identifier, got {entry_point!r}")
        call_limits = self.limits.updated(timeout=timeout, memory_mb=memory_mb, **limits)
        job = _encode_job(code, tests, call_limits, helpers, setup, entry_point or "")
        worker, warm = self._take()
        return self._execute(worker, job, list(tests), call_limits, warm)

    @property
    def stats(self) -> PoolStats:
        """Counters of started, retired and reused workers (see :class:`PoolStats`)."""
        with self._lock:
            counts = dict(self._counts)
        return PoolStats(**counts)

    def close(self) -> None:
        """Kill the workers and the fork server (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            workers = list(self._ready)
            self._ready.clear()
            server, self._server_box[0] = self._server_box[0], None
        for worker in workers:
            worker.close()  # init reads EOF and exits
        if server is not None:
            server.close()  # kills any worker still alive
        for worker in workers:
            worker.remove_workdir()
        self._finalizer.detach()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers --------------------------------------------------------------------------
    def _fork_server(self) -> _ForkServer:
        with self._lock:
            if self._closed:
                raise SandboxError("the sandbox is closed")
            server = self._server_box[0]
            if server is None or not server.alive():
                if server is not None:
                    server.close()
                server = self._server_box[0] = _ForkServer(self.config)
            return server

    def _spawn(self) -> _Worker:
        """Start a worker that the caller has already counted in ``_workers``."""
        try:
            try:
                worker = self._fork_server().spawn()
            except SandboxError:
                if self._closed:
                    raise
                worker = self._fork_server().spawn()  # one retry with a fresh fork server
        except BaseException:
            with self._lock:
                self._workers -= 1
                self._lock.notify_all()
            raise
        with self._lock:
            self._counts["workers_started"] += 1
        return worker

    def _take(self) -> tuple[_Worker, bool]:
        """A ready worker (the most recently used first), else a new one."""
        while True:
            worker, state = self._pick()
            if worker is None:
                break
            if state is None:
                # Every ready worker is still finishing its last job: wait a little for the
                # most recent one rather than start a new worker.
                assert worker.finishing is not None
                state = worker.settle(min(_SETTLE_WAIT, worker.finishing - time.monotonic()))
                if state is None and time.monotonic() < worker.finishing:
                    with self._lock:
                        self._ready.insert(0, worker)  # retried (or retired) by a later call
                    break
            if state:
                return worker, True
            self._retire(worker)  # died while waiting, or its last job did not end cleanly
        with self._lock:
            self._workers += 1
        return self._spawn(), False

    def _pick(self) -> tuple[_Worker | None, bool | None]:
        """Remove a worker from the pool: ``(worker, True)`` ready for a job, ``(worker,
        False)`` to retire, ``(worker, None)`` still finishing (only when all are)."""
        with self._lock:
            now = time.monotonic()
            finishing = None
            for i in range(len(self._ready) - 1, -1, -1):
                worker = self._ready[i]
                if worker.finishing is None:
                    del self._ready[i]
                    return worker, worker.is_idle()
                state = worker.settle(0)
                if state is not None or now > worker.finishing:
                    del self._ready[i]
                    return worker, bool(state)
                if finishing is None:
                    finishing = i
            if finishing is not None:
                return self._ready.pop(finishing), None
        return None, None

    def _release(self, worker: _Worker, reusable: bool, finishing: float | None) -> None:
        """Back to the pool after a normal end (if ``finishing``, init has yet to confirm it
        was clean); killed otherwise, or when surplus."""
        with self._lock:
            self._counts["executions"] += 1
            if worker.runs:
                self._counts["reused"] += 1
            worker.runs += 1
            if reusable and not self._closed and self._workers <= self.pool_size:
                worker.finishing = finishing
                self._ready.append(worker)
                return
        self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._workers -= 1
            self._counts["workers_retired"] += 1
            self._lock.notify_all()  # a refill thread starts a replacement
        server = self._server_box[0]
        if server is not None:
            server.kill(worker.worker_id)  # the worker and everything it started
        worker.close()
        worker.remove_workdir()

    def _refill(self) -> None:
        """Keep ``pool_size`` workers, and retire finishing workers whose last job outlived
        its deadline after saying it was done (checked every ``_SWEEP_INTERVAL`` s)."""
        failures = 0
        while True:
            with self._lock:
                if self._closed:
                    return
                expired = self._pop_expired()
                start = not expired and self._workers < self.pool_size
                if start:
                    self._workers += 1
                elif not expired:
                    self._lock.wait(_SWEEP_INTERVAL)
                    continue
            for worker in expired:
                self._retire(worker)
            if not start:
                continue
            try:
                worker = self._spawn()
            except Exception as exc:  # keep serving cold; retry slowly
                self._refill_error = exc
                failures += 1
                time.sleep(min(5.0, 0.1 * 2**failures))
                continue
            failures = 0
            with self._lock:
                if not self._closed:
                    self._ready.append(worker)
                    continue
            self._retire(worker)
            return

    def _pop_expired(self) -> list[_Worker]:
        """Finishing workers past their deadline whose init has not reported a clean end
        (called with the lock held)."""
        now = time.monotonic()
        expired = []
        for worker in list(self._ready):
            if worker.finishing is not None and now > worker.finishing and not worker.settle(0):
                self._ready.remove(worker)
                expired.append(worker)
        return expired

    # -- one execution --------------------------------------------------------------------
    def _execute(
        self, worker: _Worker, job: bytes, tests: list[str], limits: SandboxLimits, warm: bool
    ) -> ExecutionResult:
        start = time.monotonic()
        deadline = start + limits.timeout
        out = _Capture(limits.max_output_bytes)
        err = _Capture(limits.max_output_bytes)
        events = _Capture(_EVENTS_CAP)
        captures = {worker.stdout: out, worker.stderr: err, worker.events: events}
        end: dict[str, Any] | None = None
        done = timed_out = False
        flooded: str | None = None  # "output" (stdout + stderr) or "results" (the events)
        pending = _write_some(worker.jobs, memoryview(job))
        poller = select.poll()
        # Events are not polled (a job writes one per test: waking for each costs more than
        # the test): they wait in their pipe, sized for a whole job's worth, and are read at
        # each wake-up, at least every _EVENTS_POLL s, so a flood still cannot stall the job.
        for fd in (worker.control, worker.done, worker.stdout, worker.stderr):
            poller.register(fd, select.POLLIN)
        if pending:
            poller.register(worker.jobs, select.POLLOUT)
        reading = 4
        while reading:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for fd, _ in poller.poll(math.ceil(min(remaining, _EVENTS_POLL) * 1000)):
                if fd == worker.jobs:
                    pending = _write_some(fd, pending)
                    if not pending:
                        poller.unregister(fd)
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    poller.unregister(fd)
                    reading -= 1
                elif fd == worker.control:
                    worker.control_data += chunk
                elif fd == worker.done:
                    done = True
                else:
                    captures[fd].add(chunk)
            end = worker.read_end(0) if worker.control_data else None
            if end is not None or done:
                # The job process wrote its last event and flushed its output before saying
                # done; init reports only after it (and all it started) exited.
                break
            _drain(worker.events, events)
            flooded = _flood(out.total + err.total, events.total, limits)
            if flooded:
                break
        for fd, capture in captures.items():
            _drain(fd, capture)
        flooded = flooded or _flood(out.total + err.total, events.total, limits)
        parsed = [worker.ready, *_parse_events(bytes(events.data))]
        status = end.get("status") if end is not None else None
        if isinstance(status, int) and status >= 0:
            parsed.append({"event": "exit", "status": status})
        result = build_result(
            parsed,
            tests,
            limits=limits,
            config=self.config,
            timed_out=timed_out,
            flooded=flooded,
            results_cap=_EVENTS_CAP,
            stdout=out.text(),
            stderr=err.text(),
            output_truncated=out.total > len(out.data) or err.total > len(err.data),
            duration=time.monotonic() - start,
            warm=warm,
        )
        # Reused only after a normal end: the code ran to its end by itself, and init
        # confirms (now, or before the worker's next job) that the job left nothing behind.
        normal = not (timed_out or flooded) and result.status in _NORMAL_ENDS
        if end is not None:
            _discard(worker.done)  # the job process is gone: nothing more can come
            self._release(worker, normal and _clean(end), None)
        else:
            self._release(worker, normal and done, deadline)
        return result


def _flood(output: int, events: int, limits: SandboxLimits) -> str | None:
    """Which cap a job went past: ``"output"`` (stdout + stderr over ``output_flood_bytes``),
    ``"results"`` (its test results over ``_EVENTS_CAP`` bytes), else ``None``."""
    if output > limits.output_flood_bytes:
        return "output"
    if events > _EVENTS_CAP:
        return "results"
    return None


def _split_assert(test: str) -> tuple[str, str, str]:
    """For a test that is a plain ``assert left == right``: the source of both sides (the
    judge evaluates them apart to report "expected X, got Y"), and, when ``left`` is a call
    ``name(...)`` whose arguments and ``right`` are all literals, the call as
    ``"name\0(args,)\0{kwargs}"`` (the judge may then send a run of such calls to the
    solution at once: their arguments do not depend on earlier results). Else empty strings.

    Parsed here, once per distinct (short) test, rather than in every fresh job process: the
    same tests run again and again, and ``ast`` is slow to start in a new process."""
    return _split_cached(test) if len(test) <= _CACHED_TEST_CHARS else _split(test)


@functools.lru_cache(maxsize=4096)
def _split_cached(test: str) -> tuple[str, str, str]:
    return _split(test)


def _split(test: str) -> tuple[str, str, str]:
    try:
        body = ast.parse(test, "<test>", "exec").body
    except Exception:  # the worker's compile reports it
        return "", "", ""
    if (
        len(body) == 1
        and isinstance(body[0], ast.Assert)
        and body[0].msg is None
        and isinstance(body[0].test, ast.Compare)
        and len(body[0].test.ops) == 1
        and isinstance(body[0].test.ops[0], ast.Eq)
    ):
        compare = body[0].test
        left = ast.get_source_segment(test, compare.left)
        right = ast.get_source_segment(test, compare.comparators[0])
        if left and right:
            return left, right, _literal_call(test, compare.left, compare.comparators[0])
    return "", "", ""


def _literal_call(test: str, left: ast.expr, right: ast.expr) -> str:
    if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name)):
        return ""
    values = [*left.args, *(k.value for k in left.keywords), right]
    if any(isinstance(a, ast.Starred) for a in left.args) or any(
        k.arg is None for k in left.keywords
    ):
        return ""
    try:
        for node in values:
            ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ""
    args = [ast.get_source_segment(test, a) for a in left.args]
    kwargs = [(k.arg, ast.get_source_segment(test, k.value)) for k in left.keywords]
    if any(a is None for a in args) or any(v is None for _, v in kwargs):
        return ""
    args_source = "(" + "".join(f"({a}), " for a in args) + ")"
    kwargs_source = "{" + ", ".join(f"{k!r}: ({v})" for k, v in kwargs) + "}"
    return f"{left.func.id}\0{args_source}\0{kwargs_source}"


def _encode_job(
    code: str, tests: list[str], limits: SandboxLimits, helpers: str, setup: str, entry: str
) -> bytes:
    """The framing ``_worker._read_job`` reads: cheap to parse in a fresh process. A 4-byte
    length, then length-prefixed fields: the limits as ASCII integers, the code, the trusted
    helpers, the trusted setup, the entry point, and per test its source, the sides of a
    plain ``assert a == b`` and its literal call (:func:`_split_assert`)."""
    numbers = [
        limits.memory_mb,
        limits.cpu_limit,
        limits.max_processes,
        limits.max_file_mb,
        limits.max_open_files,
        limits.max_message,
    ]
    fields = [" ".join(str(int(n)) for n in numbers), code, helpers, setup, entry]
    for test in tests:
        fields += [test, *_split_assert(test)]
    payload = b"".join(
        len(data).to_bytes(4, "big") + data
        for data in (text.encode("utf-8", "surrogatepass") for text in fields)
    )
    return len(payload).to_bytes(4, "big") + payload


def _write_some(fd: int, data: memoryview) -> memoryview:
    """Write what the pipe takes now; the rest, or nothing if the reader is gone."""
    try:
        return data[os.write(fd, data[: 1 << 16]) :]
    except BlockingIOError:
        return data
    except OSError:
        return data[:0]


def _end_event(control: bytearray) -> dict[str, Any] | None:
    for line in bytes(control).splitlines():
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(event, dict) and event.get("event") == "end":
            return event
    return None


def _discard(fd: int) -> None:
    """Empty a pipe that no process can write to any more."""
    try:
        while os.read(fd, 1 << 16):
            pass
    except BlockingIOError:
        return


def _drain(fd: int, capture: _Capture) -> None:
    try:
        while capture.total <= capture.cap * 4:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            capture.add(chunk)
    except BlockingIOError:
        return


def _parse_events(data: bytes) -> list[dict[str, Any]]:
    events = []
    for line in data.splitlines():
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _shutdown(ready: list[_Worker], server_box: list[_ForkServer | None]) -> None:
    """Finalizer for a Sandbox that was never closed: release its workers and fork server."""
    workers = list(ready)
    ready.clear()
    for worker in workers:
        worker.close()
    server = server_box[0]
    if server is not None:
        server.close()
    for worker in workers:
        worker.remove_workdir()
