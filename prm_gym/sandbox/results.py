"""What one sandboxed execution returns."""

from __future__ import annotations

import os
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

from prm_gym.sandbox.config import SandboxConfig, SandboxLimits

__all__ = ["STATUSES", "ExecutionResult", "TestResult", "build_result"]

#: Every value of :attr:`ExecutionResult.status`.
STATUSES = (
    "ok",  # the code ran and every test was run (tests may still have failed)
    "syntax_error",  # the code does not compile
    "runtime_error",  # the code raised while being defined, before any test ran
    "timeout",  # wall-clock or CPU time limit
    "memory",  # MemoryError under the address-space limit
    "file_limit",  # a write past the file-size limit or a full private tmpfs
    "process_limit",  # fork/thread creation failed at the process limit
    "open_files_limit",  # too many open files
    "output_limit",  # stdout/stderr flood, or test results over 1 MiB (the worker was killed)
    "exited",  # the code ended the process (sys.exit, os._exit)
    "killed",  # the worker died from a signal (crash, kill)
    "protocol_error",  # the code's process sent data that is not a valid answer (forged)
)
_LIMIT_KINDS = ("memory", "file_limit", "process_limit", "open_files_limit", "exited")


@dataclass(frozen=True)
class TestResult:
    """One unit test: ``passed``, and for a failure the exception type and message."""

    index: int
    test: str
    passed: bool
    error_type: str | None = None
    message: str | None = None

    def describe(self) -> str:
        """``"AssertionError: expected 3, got 4"``, or ``"passed"``."""
        if self.passed:
            return "passed"
        if self.error_type is None:
            return self.message or "failed"
        return f"{self.error_type}: {self.message}" if self.message else self.error_type


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of running code and its tests in the sandbox.

    Everything but ``duration`` and ``warm`` is a deterministic function of the code, the
    tests and the limits, so results compare equal whether a warm or a cold worker ran them.

    Attributes:
        status: One of :data:`STATUSES`.
        error: A human-readable cause when ``status != "ok"``, else ``None``.
        tests: One :class:`TestResult` per test, in order (tests that never ran fail with
            ``message`` saying why).
        stdout: Captured standard output (at most ``max_output_bytes``, decoded as UTF-8).
        stderr: Captured standard error (same cap).
        output_truncated: Whether stdout or stderr was cut.
        network_isolated: The code ran in an empty network namespace.
        filesystem_isolated: A private ``/tmp`` was mounted and the hidden paths covered.
        pid_isolated: The code ran in its own pid namespace (it sees no host process, and
            everything it started was killed when it ended).
        host_files_hidden: The code ran in a new root that holds only the interpreter,
            system programs and libraries, a few devices and its own ``/tmp``: no other host
            file (the project checkout, ``/home``, ``/root``, a task file) exists there.
        syscalls_filtered: The code ran under the seccomp filter that denies namespace,
            mount, tracing, keyring, bpf, perf, module and file-handle calls (``EPERM``).
        privileges_dropped: The code ran under the configured unprivileged uid.
        duration: Wall-clock seconds of the execution (not compared).
        warm: Whether a worker that was ready before the call ran it (pre-started, or reused
            after an earlier job; not compared).
    """

    status: str
    error: str | None
    tests: tuple[TestResult, ...]
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    network_isolated: bool = False
    filesystem_isolated: bool = False
    pid_isolated: bool = False
    host_files_hidden: bool = False
    syscalls_filtered: bool = False
    privileges_dropped: bool = False
    duration: float = field(default=0.0, compare=False)
    warm: bool = field(default=False, compare=False)

    @property
    def num_passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def passed(self) -> bool:
        """True when the code ran cleanly and every test passed."""
        return self.status == "ok" and all(t.passed for t in self.tests)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self, max_chars: int = 2000) -> str:
        """A short test report: the verdict, the cause of a failed run, each failed test."""
        lines = [f"Tests: {self.num_passed}/{len(self.tests)} passed."]
        if self.error:
            lines.append(f"Execution failed ({self.status}): {self.error}")
        for t in self.tests:
            if not t.passed:
                lines.append(f"FAILED test {t.index + 1}: {_short(t.test, 160)}\n  {t.describe()}")
        if self.stderr.strip() and not self.passed:
            lines.append("stderr (last lines):\n" + _tail(self.stderr, 400))
        text = "\n".join(lines)
        return text if len(text) <= max_chars else text[: max_chars - 14] + "\n…[truncated]"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(text: str, limit: int) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _size(size: int) -> str:
    """``1 MiB``, ``4 MiB``, ``64 KiB``, ``1000 bytes``."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _from_exit(status: int | None, limits: SandboxLimits) -> tuple[str, str]:
    """Status and error for a runner that ended without finishing the job."""
    if status is None:
        return "killed", "the worker was killed before it reported (no exit status)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout", f"CPU time limit exceeded ({limits.cpu_limit} s)"
        if sig == signal.SIGKILL:
            return "killed", (
                "killed by SIGKILL (the CPU time limit's hard stop, or out of memory)"
            )
        return "killed", f"the process crashed with {_signal_name(sig)}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return "exited", f"the code ended the process (exit status {code}) before the tests finished"


def _solution_ended(event: dict[str, Any], limits: SandboxLimits) -> tuple[str, str]:
    """Status and error when the code's process ended, or broke the protocol, mid-job."""
    status = event.get("status")
    if isinstance(status, int) and status >= 0:
        return _from_exit(status, limits)
    reason = str(event.get("reason") or "the code's process stopped answering")
    return "protocol_error", f"{reason}; its remaining answers were discarded"


def _limit_error(kind: str, message: str, limits: SandboxLimits, config: SandboxConfig) -> str:
    if kind == "memory":
        return f"memory limit exceeded ({limits.memory_mb} MB): MemoryError"
    if kind == "file_limit":
        return (
            f"file size limit exceeded ({limits.max_file_mb} MB per file, "
            f"{config.tmpfs_mb} MB of /tmp): {message}"
        )
    if kind == "process_limit":
        return f"process limit reached ({limits.max_processes} processes): {message}"
    if kind == "open_files_limit":
        return f"open files limit reached ({limits.max_open_files}): {message}"
    return message  # "exited": the message already says how


def build_result(
    events: list[dict[str, Any]],
    tests: list[str],
    *,
    limits: SandboxLimits,
    config: SandboxConfig,
    timed_out: bool,
    flooded: bool | str | None,
    results_cap: int = 1 << 20,
    stdout: str,
    stderr: str,
    output_truncated: bool,
    duration: float,
    warm: bool,
) -> ExecutionResult:
    """Turn the worker's event stream and the host's observations into a result."""
    ready: dict[str, Any] = next((e for e in events if e.get("event") == "ready"), {})
    code = next((e for e in events if e.get("event") == "code"), None)
    done = any(e.get("event") == "done" for e in events)
    exit_status = next((e.get("status") for e in events if e.get("event") == "exit"), None)
    solution_end = next((e for e in events if e.get("event") == "solution_end"), None)
    by_index = {
        e["index"]: e
        for e in events
        if e.get("event") == "test" and isinstance(e.get("index"), int)
    }
    status, error = "ok", None
    if flooded == "results":
        status = "output_limit"
        error = (
            f"result size limit exceeded: the test results took more than {results_cap} "
            f"bytes ({_size(results_cap)}): many tests with long failure messages (see "
            "max_message); the process was killed"
        )
    elif flooded:
        status = "output_limit"
        error = (
            f"output limit exceeded: more than {limits.output_flood_bytes} bytes "
            f"({_size(limits.output_flood_bytes)}) written to stdout/stderr (the process was "
            "killed)"
        )
    elif timed_out:
        status = "timeout"
        error = f"time limit exceeded: still running after {limits.timeout:g} s (wall clock)"
    elif code is not None and not code.get("passed"):
        kind = code.get("kind")
        message = str(code.get("message") or "")
        etype = code.get("error_type") or "Error"
        if kind == "syntax_error":
            status, error = "syntax_error", f"syntax error: {message}"
        elif kind in _LIMIT_KINDS:
            status, error = str(kind), _limit_error(str(kind), message, limits, config)
        else:
            status = "runtime_error"
            error = f"the code raised {etype}: {message} (before any test ran)"
    else:
        limit_event = next(
            (by_index[i] for i in sorted(by_index) if by_index[i].get("kind") in _LIMIT_KINDS),
            None,
        )
        if limit_event is not None:
            kind = str(limit_event["kind"])
            status = kind
            error = _limit_error(kind, str(limit_event.get("message") or ""), limits, config)
        elif solution_end is not None:
            status, error = _solution_ended(solution_end, limits)
        elif not done:
            status, error = _from_exit(exit_status, limits)
    reason = f"not run ({status})"
    results = []
    for i, test in enumerate(tests):
        event = by_index.get(i)
        if event is None:
            results.append(TestResult(i, test, False, None, reason))
        else:
            results.append(
                TestResult(
                    i,
                    test,
                    bool(event.get("passed")),
                    event.get("error_type"),
                    event.get("message"),
                )
            )
    isolation = ready.get("isolation") or {}
    return ExecutionResult(
        status=status,
        error=error,
        tests=tuple(results),
        stdout=stdout,
        stderr=stderr,
        output_truncated=output_truncated,
        network_isolated=bool(isolation.get("network")),
        filesystem_isolated=bool(isolation.get("filesystem")),
        pid_isolated=bool(isolation.get("pid")),
        host_files_hidden=bool(isolation.get("host_hidden")),
        syscalls_filtered=bool(isolation.get("seccomp")),
        privileges_dropped=bool(ready.get("privileges_dropped")),
        duration=duration,
        warm=warm,
    )
