"""Limits for one execution and settings for the processes that run it."""

from __future__ import annotations

import math
import os
import shutil
import stat
import sys
import sysconfig
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["SandboxConfig", "SandboxLimits", "default_hidden_paths", "default_python"]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one execution.

    Attributes:
        timeout: Wall-clock seconds from handing over the job to killing the worker.
        memory_mb: Address-space limit (``RLIMIT_AS``) of the runner, in MiB.
        cpu_seconds: CPU-time limit (``RLIMIT_CPU``); ``None`` means ``ceil(timeout) + 1``.
        max_processes: ``RLIMIT_NPROC`` of the unprivileged uid, threads included (it counts
            every process of that uid on the machine; each worker has its own uids from
            :attr:`SandboxConfig.uid_pool`, so its own budget).
        max_file_mb: Largest file the code may write (``RLIMIT_FSIZE``), in MiB.
        max_open_files: ``RLIMIT_NOFILE``.
        max_output_bytes: Bytes of stdout and of stderr kept in the result (each).
        output_flood_bytes: Total stdout + stderr bytes after which the worker is killed.
        max_message: Characters kept of an error message.
    """

    timeout: float = 10.0
    memory_mb: int = 512
    cpu_seconds: float | None = None
    max_processes: int = 32
    max_file_mb: int = 16
    max_open_files: int = 64
    max_output_bytes: int = 64 * 1024
    output_flood_bytes: int = 4 * 1024 * 1024
    max_message: int = 300

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        for name in ("memory_mb", "max_processes", "max_file_mb", "max_open_files"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_open_files < 8:
            raise ValueError("max_open_files must be >= 8 (the interpreter needs a few)")

    @property
    def cpu_limit(self) -> int:
        """The ``RLIMIT_CPU`` soft limit in whole seconds."""
        seconds = self.cpu_seconds if self.cpu_seconds is not None else self.timeout + 1
        return max(1, math.ceil(seconds))

    def updated(self, **overrides: Any) -> SandboxLimits:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        names = {f.name for f in fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown sandbox limit(s) {sorted(unknown)}; known: {sorted(names)}")
        changes = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **changes) if changes else self


def _world_traversable(path: Path) -> bool:
    """Whether a uid that is neither owner nor group can reach ``path`` (o+x on each dir)."""
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return True


def default_python() -> str:
    """The interpreter the sandbox runs: this one, unless an unprivileged uid cannot read its
    standard library (e.g. pyenv under ``/root``); then the first ``python3`` on a standard
    ``PATH`` that it can read; else this one anyway (only pre-imported modules will import)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if os.geteuid() != 0 or _world_traversable(stdlib):
        return sys.executable
    for candidate in ("python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        found = shutil.which(candidate, path="/usr/local/bin:/usr/bin:/bin")
        if found and _world_traversable(Path(found).parent):
            lib = Path(found).resolve().parent.parent / "lib"
            if _world_traversable(lib):
                return found
    return sys.executable


def default_hidden_paths() -> tuple[str, ...]:
    """Paths covered by an empty read-only mount inside the sandbox: this package's folder,
    which holds the shipped problems with their reference solutions and tests."""
    return (str(Path(__file__).resolve().parent.parent),)


@dataclass(frozen=True)
class SandboxConfig:
    """How sandbox processes are started.

    Attributes:
        uid: Unprivileged uid the runner switches to when the host runs as root (default
            65534, ``nobody``) if ``uid_pool`` is ``None`` (else each worker's pair from the
            pool is used); ``None`` keeps the host's uid (no privilege drop).
        judge_uid: Unprivileged uid of the judge process, which runs the tests against the
            code's answers (default 65533; it must differ from ``uid`` so the code's process
            cannot signal it). ``None`` uses ``uid`` (the judge is then still never dumpable:
            the code can end it, which fails the run, but not read or change it).
        gid: Their gid (default 65534, ``nogroup``); supplementary groups are dropped.
        uid_pool: Half-open range ``(start, stop)`` of uids handed out in pairs, one pair
            (code uid, judge uid) per live worker, so each worker has its own
            ``RLIMIT_NPROC`` budget (the limit counts every process of a uid on the
            machine). A pair is reserved by a lock file (under ``/run`` or ``/tmp``) that
            every sandbox of every process on the machine respects, and is handed out again
            only after the rest of the pool. Default ``(1_000_000, 1_065_536)`` (32,768
            pairs, outside the usual ranges of real users and subordinate uids). ``None``
            gives every worker ``uid``/``judge_uid`` (one shared budget). Used only when the
            host is root and ``uid`` is not ``None``; with ``judge_uid=None`` the judge
            shares its worker's code uid.
        namespaces: Unshare network, mount, pid, IPC and UTS namespaces when permitted.
        hide_host_files: With a mount namespace, run the code in a new read-only root that
            holds only the interpreter's directories (its standard library and
            ``site-packages``, never the rest of a checkout its venv may sit in), system
            programs and libraries (``/usr/bin``, ``/usr/lib``, ``/usr/share``, ...), a few
            devices and its private ``/tmp``. ``False``: the host's whole tree minus
            ``hidden_paths``.
        syscall_filter: Install a seccomp filter in every job process (x86_64 and aarch64)
            that makes namespace, mount, ``chroot``, tracing, keyring, ``bpf``, perf, module,
            kexec and file-handle calls fail with ``EPERM``.
        tmpfs_mb: Size of each worker's private tmpfs on ``/tmp`` (its work dir is
            ``/tmp/work``).
        hidden_paths: Directories (or files) made empty inside the sandbox (also inside the
            new root, e.g. this package installed in ``site-packages``).
        python: Interpreter to run; ``None`` picks :func:`default_python`.
        spawn_timeout: Seconds to wait for a new worker to report ready.
    """

    uid: int | None = 65534
    judge_uid: int | None = 65533
    gid: int = 65534
    uid_pool: tuple[int, int] | None = (1_000_000, 1_065_536)
    namespaces: bool = True
    hide_host_files: bool = True
    syscall_filter: bool = True
    tmpfs_mb: int = 32
    hidden_paths: tuple[str, ...] = field(default_factory=default_hidden_paths)
    python: str | None = None
    spawn_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.judge_uid is not None and self.judge_uid == self.uid:
            raise ValueError("judge_uid must differ from uid (or be None to share it)")
        if self.uid_pool is not None:
            start, stop = self.uid_pool
            if not (start > 0 and start + 2 <= stop <= 2**32 - 1):
                raise ValueError(
                    f"uid_pool must be (start, stop) with start > 0 and at least two uids, "
                    f"got {self.uid_pool}"
                )

    def interpreter(self) -> str:
        return self.python or default_python()
