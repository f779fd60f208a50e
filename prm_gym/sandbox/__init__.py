"""Isolated execution of untrusted Python (Code-v0 submissions, LLM-written reward code).

``run_tests(code, tests)`` runs ``code`` in one fresh, unprivileged, resource-limited
interpreter process (the solution process) and each test statement in another (the judge),
and returns an :class:`ExecutionResult` with per-test results, capped stdout/stderr and a
``status`` (``"ok"``, ``"timeout"``, ``"memory"``, ``"syntax_error"``, ``"output_limit"``, ...
see :data:`STATUSES`). :class:`Sandbox` is the same with a pool of warm workers you own
(``close()`` it).

Unforgeable verdicts
--------------------
The tests never run in the code's process. The judge (its own uid, never dumpable, no pipe
the code holds) runs the trusted ``helpers`` (e.g. HumanEval's prompt), binds each name the
tests use that the code defines (a function: a proxy; a plain constant: its value), runs the
trusted ``setup`` and then the tests. A proxy call sends the arguments to the solution
process and decodes the answer with a strict tagged encoding of plain data (None, bool, int,
float, str, bytes, list, tuple, dict, set, frozenset; at most 2**20 values, depth 100, 8 MiB):
a subclass of a builtin type arrives as its base value, anything else (an object with a
permissive ``__eq__``, a generator, a function) fails the test, and the judge compares exact
builtin values with its own ``==``. Exceptions the code raises arrive as the builtin type of
the same name with its message (a test may expect them); limits, exits and protocol breaks
are ``BaseException`` s the tests cannot catch. What the code writes to any descriptor, how it
ends its process, what it patches in its interpreter (builtins, ``json``, the harness) and
what it finds in its memory or ``/proc`` cannot produce a pass: the judge holds the tests and
only reads plain data. A run of leading tests of the form ``assert f(literals) == literal``
is sent as one batch (the same calls in the same order, fewer round trips).

How it runs code
----------------
A fork server (``python -I`` with a minimal environment) unshares an empty network namespace and
a private mount namespace, and there builds a **new root** from an allow-list and
``pivot_root`` s into it (the old root is detached, so no path, ``..`` or ``/proc/*/root``
leads back): read-only bind mounts of the interpreter's own directories (its standard library,
``lib-dynload`` and ``site-packages``, its ``bin``; a venv inside a project checkout shows
these, not the checkout), the system's programs and libraries (``/usr/bin``, ``/usr/lib``,
``/usr/share``, ``/usr/local/{bin,lib}`` and the ``/bin``, ``/lib`` links), the loader's and
time zone files of ``/etc``, ``/dev/null``, ``zero``, ``full``, ``random`` and ``urandom``, and
empty ``/tmp``, ``/proc`` and ``/dev/shm`` directories; the root itself is read-only. There is
no ``/home``, ``/root``, ``/work``, ``/opt``, ``/srv``, ``/var``, ``/run``, ``/mnt``,
``/sys``, no project checkout and no task file. :attr:`SandboxConfig.hidden_paths` (by default
this package's folder, which holds reference solutions and tests) are covered by empty
read-only mounts too, for when one lies inside an allowed directory (a non-editable install in
``site-packages``). For each worker it clones an init
process into new pid, mount, IPC and UTS namespaces: init (pid 1 there, trusted, not dumpable)
mounts a private size-limited tmpfs on ``/tmp`` and a fresh ``/proc``, makes an empty work dir,
clears the environment, and then serves jobs one at a time, each in a **fresh job process**
forked from it ahead of the job (the judge, which forks the solution process): each drops every
group and switches to its worker's own unprivileged uid (one pair per live worker from
:attr:`SandboxConfig.uid_pool`: code ``n``, judge ``n + 1``; root ignores ``RLIMIT_NPROC``),
then sets ``no_new_privs`` and installs a **seccomp filter** (classic BPF, built in-process:
no libseccomp) under which ``unshare``, ``setns``, ``mount``, ``umount2``, ``pivot_root``,
``chroot``, the new mount API, ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``,
``pidfd_getfd``, ``keyctl``, ``add_key``, ``request_key``, ``bpf``, ``perf_event_open``,
``userfaultfd``, ``io_uring_*``, module and kexec calls, ``name_to_handle_at``,
``open_by_handle_at`` and a few admin calls fail with ``EPERM``, as does ``clone`` with any
``CLONE_NEW*`` flag and any call of another ABI (``int 0x80``, x32); ``clone3`` fails with
``ENOSYS`` so that the C library falls back to ``clone``, whose flags the filter can see
(threads, ``fork``, ``subprocess`` work as usual). The judge reads its job, and each sets
``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NPROC``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE`` and
``RLIMIT_CORE = 0`` (from this call's limits), runs the code and streams one JSON event per
test over a pipe (the judge's: the code's process has no copy); stdout and stderr (of both)
are read in chunks, kept up to a cap, and the worker is killed if they keep flooding
(``output_flood_bytes``, 4 MiB by default) or the test results pass 1 MiB (status
``output_limit``; the error names the cap that was hit). When the job process exits, init reaps
it and returns the worker to the state of a fresh one: no process of the job left (it checks, as
their reaper), ``/tmp`` emptied with a new work dir, a new IPC namespace. A worker is **reused**
only after a normal end (the code ran to its end by itself: status ``ok``, ``syntax_error`` or
``runtime_error``) that init reports clean. After anything else (timeout, crash, a limit hit,
``sys.exit``, a process left running, an output flood) the worker is killed by its parent (the
fork server, so no recycled pid is ever signalled), the end of the namespace's pid 1 makes the
kernel kill everything left in it, and a new worker replaces it in the background. ``pool_size``
workers are kept (``Sandbox.stats`` counts starts, retirements and reuses).

Guarantees
----------
Verified on a root Linux host by ``tests/test_sandbox.py``, ``tests/test_sandbox_pool.py``,
``tests/test_sandbox_seccomp.py``, ``tests/test_sandbox_filesystem.py`` and
``tests/test_code_integrity.py`` (the attacks on the verdict).

* The code cannot see the host's environment variables, processes, network (connecting
  to ``127.0.0.1`` fails: the namespace has no usable interface) or files other than the
  interpreter's, the system's programs and libraries and its own (``tests/
  test_sandbox_filesystem.py``: the project checkout, ``/etc/shadow``, a file in another
  folder and CodeEnv's task file all raise ``FileNotFoundError``), cannot signal or trace
  host processes, cannot create namespaces, mount, ``chroot``, trace or use keyrings
  (``EPERM``, ``tests/test_sandbox_seccomp.py``), cannot write or delete outside its private
  tmpfs (files it writes vanish with its job), and cannot outlive its job: what it leaves
  running is killed as soon as its job process exits (a job that says it is done and keeps
  running is killed at most ``0.5 s`` after its ``timeout``).
* Nothing one job does reaches the next job on the same worker: each runs in a fresh
  process forked from the same clean init (modules, builtins, globals, environment, cwd,
  umask, rlimits), with an empty work dir and ``/tmp``, a new IPC namespace and, with a pid
  namespace, the same pid.
* Runaway code ends within the wall-clock ``timeout`` (plus a few ms), memory within
  ``memory_mb`` (``MemoryError``), forks within ``max_processes``, files within
  ``max_file_mb`` (and ``tmpfs_mb`` in total), output within ``output_flood_bytes``, test
  results within 1 MiB (the error names the cap that was hit).
* Results are a deterministic function of (code, tests, limits): identical from a fresh, a
  pre-started or a reused worker (only ``duration`` and ``warm`` differ).

Limits and fallbacks
--------------------
* Linux only. Namespaces and the uid switch need root (or ``CAP_SYS_ADMIN`` and
  ``CAP_SETUID``). Where ``unshare`` fails (e.g. an unprivileged user without user
  namespaces, or a container that forbids it) the worker falls back and records it:
  ``network_isolated``, ``filesystem_isolated``, ``host_files_hidden`` and ``pid_isolated``
  are ``False`` in the result; the code then works in a private temp dir the host removes with
  the worker, can read every world-readable host file, and can reach the network and
  world-writable directories (the work dir is emptied between jobs; other places it wrote to
  are not). Without root there is no uid switch (``privileges_dropped=False``) and
  ``RLIMIT_NPROC`` is set above the user's current count. Where ``pivot_root`` fails (e.g. a
  root that is not a mount point) only the hidden paths and the spare temp dirs (``/var/tmp``,
  ``/dev/shm``, ``/run/lock``) are covered (``host_files_hidden=False``).
* The seccomp filter needs x86_64 or aarch64 (their syscall numbers are built in) and a kernel
  with ``SECCOMP_MODE_FILTER``; it works without root. Elsewhere, or with
  ``SandboxConfig(syscall_filter=False)``, ``syscalls_filtered`` is ``False`` and the code can
  ``unshare`` a user namespace and ``mount``/``chroot`` inside it (still as its unprivileged
  uid, in the sandbox's namespaces). It is a deny-list of dangerous calls, not an allow-list:
  other kernel interfaces stay reachable.
* An interpreter whose ``site-packages`` lies under ``/tmp`` (or ``/proc``, ``/dev``) is
  covered by the worker's own mounts: only its standard library (from the base prefix) is
  importable. The mount table (``/proc/self/mountinfo``) names the host paths that are bound.
* ``RLIMIT_NPROC`` counts every process of a uid on the machine, so each live worker gets
  its own uid pair from :attr:`SandboxConfig.uid_pool` (default 1,000,000 to 1,065,535),
  reserved by a lock file that every sandbox in every process on the machine respects: each
  worker has its own ``max_processes`` budget (threads count), whatever runs next to it
  (8 concurrent workers each starting 4 threads under the default ``max_processes=32``: 0 of
  80 jobs failed, against 30 of 80 with one shared uid; 16 workers starting 1 thread: 0 of
  320, against 28 of 320). With ``uid_pool=None`` every worker uses
  ``SandboxConfig.uid``/``judge_uid`` and they all share one budget. Another program running
  processes as a uid of the pool would share that budget (pick a free range). The lock files
  (one empty file per pair ever used) stay in ``/run/prm_gym_sandbox_uids`` (or ``/tmp``).
* The workers of one fork server share its (empty) network namespace: two jobs running at the
  same time could talk over an abstract Unix socket; neither can reach the host's network.
* Per-worker pid namespaces use a raw ``clone`` (x86_64 and aarch64); where it fails workers
  are plain forks without a pid namespace (recorded in the result; inside the new root each
  unshares its own mount namespace for a private ``/tmp``, elsewhere there is none), and a
  process the code detaches with ``setsid`` can outlive the job until its CPU limit.
* Memory is bounded by address space, not by a cgroup. ``/proc`` is the worker's own (its
  processes only); ``/sys`` is absent (libraries that read it fall back to their defaults).
* What remains possible against the verdict: the code sees each call's arguments, so it can
  special-case the inputs it is called with (memorise answers across turns); it can read what
  the new root holds, so a dataset file with the tests must not lie in the interpreter's or
  the system's directories (``CodeEnv`` also covers the JSONL file it loaded, which matters
  only without the new root; add others to :attr:`SandboxConfig.hidden_paths`); it can fail
  on purpose. Tests whose checks need more than plain data (a returned object's methods, a
  mutated argument, a generator consumed lazily, a class instance) fail by design. With
  ``judge_uid=None`` (or without root) the code's process shares the judge's uid: it can kill
  the judge (the run fails) but still not read or write it (never dumpable).
* The tests, ``helpers`` and ``setup`` are trusted for the verdict (they run in the judge) but
  still sandboxed (a dataset's tests cannot reach the host).
* Module-level plain constants the tests read are those after the code ran (later changes by
  calls are not seen); standard-library modules the tests name are imported by the judge.
* The interpreter must be readable by the unprivileged uid: :func:`default_python` picks this
  interpreter or, if its standard library sits in a private directory (pyenv under
  ``/root``), the system ``python3``.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from prm_gym.sandbox.config import (
    SandboxConfig,
    SandboxLimits,
    default_hidden_paths,
    default_python,
)
from prm_gym.sandbox.pool import PoolStats, Sandbox, SandboxError
from prm_gym.sandbox.results import STATUSES, ExecutionResult, TestResult

__all__ = [
    "STATUSES",
    "ExecutionResult",
    "PoolStats",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxLimits",
    "TestResult",
    "default_hidden_paths",
    "default_python",
    "run_tests",
]

_default: Sandbox | None = None
_default_lock = threading.Lock()


def _shared_sandbox() -> Sandbox:
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Sandbox(pool_size=2)
            atexit.register(_default.close)
        return _default


def run_tests(
    code: str,
    tests: list[str],
    *,
    timeout: float | None = None,
    memory_mb: int | None = None,
    sandbox: Sandbox | None = None,
    **limits: Any,
) -> ExecutionResult:
    """Run ``code`` and then each test statement in a fresh sandboxed interpreter.

    Uses ``sandbox`` or a process-wide :class:`Sandbox` (two warm workers, default limits,
    closed at exit). Keyword arguments override :class:`SandboxLimits` fields for this call.

    Example:
        >>> from prm_gym.sandbox import run_tests
        >>> r = run_tests("def sq(x): return x * x", ["assert sq(3) == 9", "assert sq(2) == 5"])
        >>> r.status, [t.passed for t in r.tests], r.tests[1].message
        ('ok', [True, False], 'expected 5, got 4')
    """
    box = sandbox if sandbox is not None else _shared_sandbox()
    return box.run_tests(code, tests, timeout=timeout, memory_mb=memory_mb, **limits)
