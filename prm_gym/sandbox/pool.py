"""The host side: a fork server, a pool of warm one-shot workers, and ``run_tests``."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import selectors
import shutil
import socket
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

__all__ = ["Sandbox", "SandboxError"]

_WORKER_SOURCE = (Path(__file__).parent / "_worker.py").read_text(encoding="utf-8")
_EVENTS_CAP = 1 << 20  # bytes of worker events kept; more is a flood


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start a worker); never raised for bad code."""


@dataclass
class _Worker:
    """One pre-started runner, waiting for its single job."""

    job_id: int
    limits: SandboxLimits
    stdin: int
    stdout: int
    stderr: int
    events: int
    workdir: str | None = None
    ready: dict[str, Any] = field(default_factory=dict)

    def fds(self) -> tuple[int, ...]:
        return (self.stdin, self.stdout, self.stderr, self.events)

    def close(self) -> None:
        for fd in self.fds():
            with contextlib.suppress(OSError):
                os.close(fd)

    def remove_workdir(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def is_idle(self) -> bool:
        """Still waiting: nothing (not even EOF) to read on its event pipe."""
        sel = selectors.DefaultSelector()
        try:
            sel.register(self.events, selectors.EVENT_READ)
            return not sel.select(0)
        finally:
            sel.close()


class _ForkServer:
    """A root interpreter that forks workers on request (``_worker.serve``)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        server_config = {
            "namespaces": config.namespaces,
            "uid": config.uid,
            "gid": config.gid,
            "tmpfs_mb": config.tmpfs_mb,
            "hidden_paths": list(config.hidden_paths),
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

    def spawn(self, limits: SandboxLimits) -> _Worker:
        pipes = [os.pipe() for _ in range(4)]  # stdin, stdout, stderr, events
        child_ends = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
        worker = _Worker(next(self.ids), limits, pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0])
        workdir = "/nonexistent"
        if not self.private_tmp:
            # Only where a private tmpfs cannot be mounted; removed after the job.
            worker.workdir = workdir = tempfile.mkdtemp(prefix="prm_gym_sandbox_")
            if os.geteuid() == 0 and self.config.uid is not None:
                os.chown(workdir, self.config.uid, self.config.gid)
        message = {
            "op": "spawn",
            "id": worker.job_id,
            "limits": limits.to_worker(),
            "workdir": workdir,
        }
        try:
            self._send(message, child_ends)
        except OSError as exc:
            worker.close()
            raise SandboxError(f"the sandbox fork server is gone ({exc})") from None
        finally:
            for fd in child_ends:
                os.close(fd)
        line = _read_line(worker.events, time.monotonic() + self.config.spawn_timeout)
        try:
            ready = json.loads(line) if line else {}
        except json.JSONDecodeError:
            ready = {}
        if ready.get("event") != "ready":
            self.kill(worker.job_id)
            worker.close()
            worker.remove_workdir()
            raise SandboxError(
                "a sandbox worker did not start (is the interpreter readable by the sandbox "
                f"uid {self.config.uid}? pass SandboxConfig(python=...) to choose one)"
            )
        worker.ready = ready
        if ready.get("isolation", {}).get("filesystem"):
            self.private_tmp = True  # later workers need no host temp dir
            worker.remove_workdir()
        elif worker.workdir is None:
            # A private tmpfs was expected but not mounted: retry with a host temp dir.
            self.kill(worker.job_id)
            worker.close()
            self.private_tmp = False
            return self.spawn(limits)
        return worker

    def kill(self, job_id: int) -> None:
        # If the fork server is gone, it killed its workers on the way out.
        with contextlib.suppress(OSError):
            self._send({"op": "kill", "id": job_id})

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
            chunk = os.read(fd, 4096)  # nothing follows the ready line until the job is sent
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

    A fork server (one root interpreter with common modules imported) forks one-shot workers;
    ``pool_size`` of them are kept started and waiting, so starting one is off the critical
    path. Every worker runs exactly one job and is then killed together with everything it
    started; a worker that died while waiting is replaced transparently. ``pool_size=0`` starts
    each worker on demand (cold); results are identical either way.

    Args:
        pool_size: Workers kept ready (0: start one per call).
        limits: Default :class:`SandboxLimits`; ``run_tests`` keywords override them per call
            (a call with other limits than the pool's uses a worker started for it).
        config: :class:`SandboxConfig` (uid/gid, namespaces, interpreter, hidden paths).

    Example:
        >>> from prm_gym.sandbox import Sandbox
        >>> with Sandbox(pool_size=1) as box:
        ...     result = box.run_tests("def add(a, b): return a + b", ["assert add(1, 2) == 3"])
        >>> result.status, result.passed
        ('ok', True)
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
        self._ready: collections.deque[_Worker] = collections.deque()
        # A one-element box, shared with the finalizer that cleans up an unclosed Sandbox.
        self._server_box: list[_ForkServer | None] = [None]
        self._closed = False
        self._refill_error: Exception | None = None
        self._starting = 0  # workers being started by refill threads
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
        timeout: float | None = None,
        memory_mb: int | None = None,
        **limits: Any,
    ) -> ExecutionResult:
        """Run ``code``, then each ``tests[i]`` (a statement, usually an ``assert``), in one
        fresh sandboxed interpreter, and report per-test results.

        Keyword arguments override fields of :class:`SandboxLimits` for this call.
        Never raises for anything the code does; raises :class:`SandboxError` only when no
        worker can be started, and ``TypeError`` for arguments of the wrong type.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        if isinstance(tests, str) or not all(isinstance(t, str) for t in tests):
            raise TypeError("tests must be a list of str (one statement per test)")
        call_limits = self.limits.updated(timeout=timeout, memory_mb=memory_mb, **limits)
        worker, warm = self._take(call_limits)
        job = json.dumps(
            {"code": code, "tests": list(tests), "max_message": call_limits.max_message}
        ).encode()
        return self._execute(worker, job, list(tests), call_limits, warm)

    def close(self) -> None:
        """Kill ready workers and the fork server (idempotent)."""
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
            worker.close()
        if server is not None:
            server.close()
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

    def _spawn(self, limits: SandboxLimits) -> _Worker:
        try:
            return self._fork_server().spawn(limits)
        except SandboxError:
            if self._closed:
                raise
            return self._fork_server().spawn(limits)  # one retry with a fresh fork server

    def _take(self, limits: SandboxLimits) -> tuple[_Worker, bool]:
        if limits == self.limits:
            while True:
                with self._lock:
                    worker = self._ready.popleft() if self._ready else None
                    self._lock.notify_all()
                if worker is None:
                    break
                if worker.is_idle():
                    return worker, True
                self._discard(worker)  # died while waiting: replace it transparently
        return self._spawn(limits), False

    def _discard(self, worker: _Worker) -> None:
        server = self._server_box[0]
        if server is not None:
            server.kill(worker.job_id)
        worker.close()
        worker.remove_workdir()

    def _refill(self) -> None:
        failures = 0
        while True:
            with self._lock:
                while not self._closed and len(self._ready) + self._starting >= self.pool_size:
                    self._lock.wait()
                if self._closed:
                    return
                self._starting += 1
            try:
                worker = self._spawn(self.limits)
            except Exception as exc:  # keep serving cold; retry slowly
                with self._lock:
                    self._starting -= 1
                self._refill_error = exc
                failures += 1
                time.sleep(min(5.0, 0.1 * 2**failures))
                continue
            failures = 0
            with self._lock:
                self._starting -= 1
                if self._closed:
                    self._discard(worker)
                    return
                self._ready.append(worker)

    # -- one execution --------------------------------------------------------------------
    def _execute(
        self, worker: _Worker, job: bytes, tests: list[str], limits: SandboxLimits, warm: bool
    ) -> ExecutionResult:
        start = time.monotonic()
        deadline = start + limits.timeout
        out = _Capture(limits.max_output_bytes)
        err = _Capture(limits.max_output_bytes)
        events = _Capture(_EVENTS_CAP)
        timed_out = flooded = finished = False
        pending = memoryview(job)
        os.set_blocking(worker.stdin, False)
        sel = selectors.DefaultSelector()
        sel.register(worker.stdin, selectors.EVENT_WRITE)
        for fd in (worker.stdout, worker.stderr, worker.events):
            sel.register(fd, selectors.EVENT_READ)
        stdin_open = True
        try:
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                for key, _ in sel.select(remaining):
                    fd = key.fd
                    if fd == worker.stdin:
                        try:
                            pending = pending[os.write(fd, pending[: 1 << 16]) :]
                        except (BrokenPipeError, BlockingIOError) as exc:
                            if isinstance(exc, BlockingIOError):
                                continue
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(fd)
                            os.close(fd)
                            stdin_open = False
                        continue
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        sel.unregister(fd)
                        continue
                    target = out if fd == worker.stdout else err if fd == worker.stderr else events
                    target.add(chunk)
                    if target is events and events.data.endswith(b'{"event": "done"}\n'):
                        finished = True
                if finished:
                    # The runner flushed its output before "done": take what is in the pipes
                    # and stop, without waiting for the worker's processes to exit.
                    _drain(worker.stdout, out)
                    _drain(worker.stderr, err)
                    break
                if out.total + err.total > limits.output_flood_bytes:
                    flooded = True
                    break
                if events.total > _EVENTS_CAP:
                    flooded = True
                    break
        finally:
            sel.close()
            server = self._server_box[0]
            if server is not None:
                server.kill(worker.job_id)  # the worker and all it started, whatever happened
            if not stdin_open:
                worker.stdin = -1
            worker.close()
            worker.remove_workdir()
        parsed = [worker.ready, *_parse_events(bytes(events.data))]
        return build_result(
            parsed,
            tests,
            limits=limits,
            config=self.config,
            timed_out=timed_out,
            flooded=flooded,
            stdout=out.text(),
            stderr=err.text(),
            output_truncated=out.total > len(out.data) or err.total > len(err.data),
            duration=time.monotonic() - start,
            warm=warm,
        )


def _drain(fd: int, capture: _Capture) -> None:
    os.set_blocking(fd, False)
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


def _shutdown(ready: collections.deque[_Worker], server_box: list[_ForkServer | None]) -> None:
    """Finalizer for a Sandbox that was never closed: release its workers and fork server."""
    for worker in list(ready):
        worker.close()
        worker.remove_workdir()
    ready.clear()
    server = server_box[0]
    if server is not None:
        server.close()
