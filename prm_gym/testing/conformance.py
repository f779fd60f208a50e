"""The env conformance harness: one call checks that an env keeps the library's env contract.

:func:`check_env_conformance` runs, on any registered id (``prm/*`` or your own):

* **Hostile actions.** Actions drawn with Hypothesis (fixed seed, so runs are reproducible) from
  the env family's grammar (Math steps, ``\\boxed{}`` and ``Answer:``; SQL ``<sql>`` and
  ``<solution>``; ToolUse ``<tool_call>{json}</tool_call>`` and ``<answer>``; Code fenced
  Python; WebShop ``search[...]`` and ``click[...]``) filled with hostile content (huge numbers,
  runaway queries and programs, nested tags, deep JSON), plus generic junk (strings up to and
  over the env's ``max_length``, NUL, lone surrogates, control characters, non-``str`` values);
  for continuous envs NaN, inf, huge, complex, wrong-shape and wrong-dtype arrays. The env runs
  in a child process (``python -c``): every step is timed, and a step that does not return
  within ``step_time_limit`` is killed and reported with its action, so a hang cannot hang the
  caller (``long=True`` prints the max step time). Each step must not raise (except
  ``TypeError`` for a non-``str`` action of a text env and ``ValueError``/``TypeError`` for a
  malformed array), must return an observation inside
  ``observation_space`` (text: valid UTF-8), a finite reward equal to
  ``sum(info["reward_components"].values())`` when that key is present and, for text envs,
  the shared ``info`` keys of DESIGN §3 (invalid actions flagged ``action_valid=False`` with an
  ``error``; reward 0 before the final step and the outcome on it).
* **Determinism.** Two envs reset with the same seed play identical episodes (observations,
  rewards, flags and the scalar ``info`` values), in this process and in a fresh interpreter.
* **Snapshots** (envs with ``get_state``/``set_state``): an episode continued after
  ``set_state`` (on the same env, and on a fresh env, after a pickle round trip) is identical to
  the original continuation.
* **Vector envs.** ``gym.make_vec(id, num_envs=2)`` in ``"sync"`` and ``"async"`` mode plays the
  same steps as two single envs seeded ``seed`` and ``seed + 1``.
* **Lifecycle.** ``close()`` twice is fine; ``step``/``reset`` after ``close()`` raise
  ``RuntimeError``; make/reset/close cycles (50, or as many as fit in 10 s once 20 are done;
  1,000 with ``long=True``; every fifth cycle also steps, which starts what the env starts
  lazily) leave no open file descriptors, threads, child processes of this process, or
  resident memory (beyond ``rss_limit_mb``) behind.

Example::

    from prm_gym.testing import check_env_conformance

    report = check_env_conformance("prm/Math-v0")
    print(report)          # one row per check: PASS / FAIL / SKIP and the details
    assert report.ok, report

The checks need the ``hypothesis`` package (in the ``dev`` extra) and a POSIX system (the child
process is driven over pipes with ``select``). Resource checks read ``/proc`` and so run on
Linux only (elsewhere they are reported as skipped).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["CHECKS", "CheckResult", "ConformanceReport", "check_env_conformance"]

#: Every check, in report order.
CHECKS: tuple[str, ...] = (
    "step_time",
    "exceptions",
    "observation_space",
    "reward",
    "info",
    "invalid_actions",
    "determinism",
    "determinism_across_processes",
    "state_round_trip",
    "vector_sync",
    "vector_async",
    "close_twice",
    "use_after_close",
    "no_fd_growth",
    "no_thread_growth",
    "no_child_growth",
    "no_memory_growth",
)

_FUZZ_CHECKS = ("step_time", "exceptions", "observation_space", "reward", "info", "invalid_actions")
_RESOURCE_CHECKS = ("no_fd_growth", "no_thread_growth", "no_child_growth", "no_memory_growth")

#: Seconds a killed step is given on top of ``step_time_limit`` before the child is killed.
_GRACE_S = 1.0
#: Short runs stop the make/close cycles after this many seconds, once ``_MIN_CYCLES`` are done.
_SHORT_CYCLES_BUDGET_S = 10.0
_MIN_CYCLES = 20
#: Details kept per failing check (the count of the rest is reported).
_MAX_DETAILS = 10


# ---------------------------------------------------------------------------- report


@dataclass
class CheckResult:
    """One check: ``status`` is ``"pass"``, ``"fail"`` or ``"skip"`` (not applicable)."""

    name: str
    status: str
    details: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class ConformanceReport:
    """What :func:`check_env_conformance` found: one :class:`CheckResult` per check."""

    env_id: str
    seed: int
    long: bool
    steps: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    max_step_time: float = 0.0
    max_step_action: str = ""
    max_reset_time: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped checks do not count)."""
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check {name!r} in this report; checks: {[c.name for c in self.checks]}")

    def __str__(self) -> str:
        mode = "long" if self.long else "short"
        verdict = "OK" if self.ok else f"FAIL ({len(self.failures)} checks)"
        lines = [
            f"Conformance of {self.env_id} (seed {self.seed}, {mode} mode, {self.steps} hostile "
            f"actions, {self.seconds:.1f} s): {verdict}",
        ]
        width = max([len(c.name) for c in self.checks] + [5])
        lines.append(f"  {'check'.ljust(width)}  status  time    details")
        for c in self.checks:
            details = c.details.replace("\n", "\n" + " " * (width + 20))
            lines.append(
                f"  {c.name.ljust(width)}  {c.status.upper():6}  {c.seconds:5.1f}s  {details}"
            )
        lines.append(
            f"  max step time {self.max_step_time:.3f} s ({self.max_step_action}); "
            f"max reset time {self.max_reset_time:.3f} s"
        )
        return "\n".join(lines)


def _short(value: Any, limit: int = 70) -> str:
    """A one-line description of an action, short enough for a report row."""
    if isinstance(value, np.ndarray):
        flat = np.array2string(value.ravel()[:6], precision=3, threshold=6)
        return f"array(shape={value.shape}, dtype={value.dtype}, {flat})"
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"len {len(value)}" if isinstance(value, (str, bytes, list, tuple)) else "long"
    return f"{text[: limit - 20]}…{text[-8:]} ({size})"


class _Collector:
    """Failures of one check: the first few details and a count."""

    def __init__(self) -> None:
        self.count = 0
        self.details: list[str] = []

    def add(self, detail: str) -> None:
        self.count += 1
        if len(self.details) < _MAX_DETAILS:
            self.details.append(detail)

    def result(self, name: str, passed: str, seconds: float = 0.0) -> CheckResult:
        if not self.count:
            return CheckResult(name, "pass", passed, seconds)
        more = (
            f"\n(+{self.count - len(self.details)} more)" if self.count > len(self.details) else ""
        )
        return CheckResult(name, "fail", "\n".join(self.details) + more, seconds)


# ---------------------------------------------------------------------------- env helpers


def _family(env: gym.Env) -> str:
    """The env family (``math``, ``sql``, ``code``, ``tools``, ``webshop``), ``text`` for
    another env with ``str`` actions, ``box`` for a continuous one, else ``other``."""
    from gymnasium import spaces

    from prm_gym.spaces import Text

    module = type(env.unwrapped).__module__
    for family in ("math", "sql", "code", "tools", "webshop"):
        if f".envs.{family}." in f"{module}.":
            return family
    if isinstance(env.action_space, (Text, spaces.Text)):
        return "text"
    if isinstance(env.action_space, spaces.Box):
        return "box"
    return "other"


def _max_length(env: gym.Env) -> int:
    return int(getattr(env.action_space, "max_length", 1024))


def _scalar(value: Any) -> Any:
    """A canonical comparable form of a scalar info value, or ``None`` for non-scalars."""
    if isinstance(value, (bool, np.bool_)):
        return ("b", bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return ("n", repr(float(value)))
    if isinstance(value, str):
        return ("s", value)
    return None


def _scalar_info(info: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in info.items():
        s = _scalar(value)
        if s is not None:
            out[str(key)] = s
    return out


def _obs_key(obs: Any) -> Any:
    """A hashable, exactly comparable form of an observation."""
    if isinstance(obs, str):
        return ("s", obs)
    if isinstance(obs, dict):
        return ("d", tuple((k, _obs_key(obs[k])) for k in sorted(obs)))
    if isinstance(obs, (tuple, list)):
        return ("t", tuple(_obs_key(o) for o in obs))
    if isinstance(obs, np.ndarray):
        return ("a", str(obs.dtype), obs.shape, obs.tobytes())
    return ("r", repr(obs))


def _step_key(step: tuple[Any, Any, Any, Any, dict[str, Any]]) -> Any:
    obs, reward, terminated, truncated, info = step
    return (
        _obs_key(obs),
        repr(float(reward)),
        bool(terminated),
        bool(truncated),
        tuple(sorted(_scalar_info(info).items())),
    )


def _make(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    return gym.make(env_id, **env_kwargs)


# ---------------------------------------------------------------------------- scripted policy

#: Per family: ordinary intermediate actions, then final ones (answers, submissions, purchases).
_SCRIPTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "math": (
        ("Step 1: 2 + 3 = 5", "Let x = 4, so 2x = 8.", "Step 2: 12 / 4 = 3", "First, add 7 and 5."),
        ("Answer: 5", "\\boxed{12}"),
    ),
    "sql": (
        (
            "<sql>SELECT name FROM sqlite_master WHERE type = 'table'</sql>",
            "<sql>SELECT 1</sql>",
            "<sql>SELECT * FROM sqlite_master LIMIT 2</sql>",
        ),
        ("<solution>SELECT 1</solution>",),
    ),
    "code": (
        ("I would loop over the list.",),
        ("```python\ndef f(x):\n    return x\n```",),
    ),
    "tools": (
        ('<tool_call>{"name": "calculator", "parameters": {"expression": "2 + 2"}}</tool_call>',),
        ("<answer>4</answer>",),
    ),
    "webshop": (
        ("search[red shoes]", "click[back to search]", "click[next >]", "click[description]"),
        ("click[buy now]",),
    ),
}


def _gold_action(family: str, env: gym.Env) -> str | None:
    """An action built from the gold answer (reaches the env's success path), if known."""
    task = getattr(env.unwrapped, "task", None)
    answer = getattr(task, "answer", None)
    if not isinstance(answer, str) or not answer:
        return None
    if family == "math":
        return f"\\boxed{{{answer}}}"
    if family == "sql":
        return f"<solution>{answer}</solution>"
    if family == "code":
        return f"```python\n{answer}\n```"
    if family == "tools":
        return f"<answer>{answer}</answer>"
    return None


def _scripted_action(
    family: str, env: gym.Env, info: dict[str, Any], rng: np.random.Generator
) -> Any:
    """A deterministic (given ``rng``) mix of the env's candidate actions, family actions, the
    gold answer and space samples, so seeded episodes visit success, failure and invalid paths."""
    if family == "box":
        space = env.action_space
        low = np.where(np.isfinite(space.low), space.low, -1.0)  # type: ignore[attr-defined]
        high = np.where(np.isfinite(space.high), space.high, 1.0)  # type: ignore[attr-defined]
        return rng.uniform(low, high).astype(space.dtype)
    if family == "other":
        env.action_space.seed(int(rng.integers(2**31)))
        return env.action_space.sample()
    roll = float(rng.random())
    candidates = info.get("candidate_actions")
    if isinstance(candidates, list) and candidates and roll < 0.5:
        return str(candidates[int(rng.integers(len(candidates)))])
    gold = _gold_action(family, env)
    if gold is not None and roll > 0.92:
        return gold
    steps, finals = _SCRIPTED.get(family, ((), ()))
    options = finals if roll > 0.85 else steps
    if options and roll > 0.5:
        return options[int(rng.integers(len(options)))]
    env.action_space.seed(int(rng.integers(2**31)))
    return env.action_space.sample()


def _play(env: gym.Env, family: str, seed: int, episodes: int, max_steps: int) -> list[Any]:
    """Play ``episodes`` scripted episodes (the first reset with ``seed``, the rest unseeded, so
    the env's own RNG stream is covered) and return their comparable records."""
    rng = np.random.default_rng(seed)
    record: list[Any] = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        record.append(("reset", _obs_key(obs), tuple(sorted(_scalar_info(info).items()))))
        for _ in range(max_steps):
            step = env.step(_scripted_action(family, env, info, rng))
            record.append(_step_key(step))
            info = step[4]
            if step[2] or step[3]:
                break
    return record


def _digest(record: list[Any]) -> str:
    return hashlib.sha256(repr(record).encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------------------- hostile actions

_NASTY_CHARS = (
    "\x00", "\ud800", "\udfff", "\ufffd", "\ufeff", "\u202e", "\u200b", "\x1b[31m", "\x7f",
    "\r\n", "\t", "\u0301", "\U0001f600", "\uffff", "\U0010ffff", "\\", "'", '"', "`", "$",
    "{", "}", "[", "]", "<", ">", "%", "\u00a0", "\u2028",
)  # fmt: skip

_HUGE_NUMBERS = (
    "9" * 5000, "1e308", "1e309", "-1e309", "1e-400", "-0", "NaN", "inf", "-inf",
    "10^{10^{10}}", "9^{9^{9^{9}}}", "2^{2^{2^{2^{2^{2}}}}}", "10**10**10", "9**9**9**9",
    "2**2**2**2**2**2", "(10**100)**(10**100)", "1/0", "0/0", "0^0", "10!!!!!!", "1000000!",
    "\\frac{1}{0}", "\\sqrt{-1}", "0x" + "f" * 200, "１２３", "½", "Ⅻ", "1_000_000",
    "(" * 300 + "1" + ")" * 300, "1" + "+1" * 3000, "-" * 1000 + "1", "1e" + "9" * 30,
    "123456789" * 200, "3.14159" + "2" * 5000,
)  # fmt: skip

_SQL_QUERIES = (
    "SELECT 1",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM pragma_table_info('t')",
    "DROP TABLE IF EXISTS t",
    "DELETE FROM sqlite_master",
    "PRAGMA writable_schema = 1",
    "ATTACH DATABASE '/tmp/prm_gym_conformance.db' AS x",
    "VACUUM INTO '/tmp/prm_gym_conformance.db'",
    "SELECT load_extension('/nonexistent')",
    "SELECT 1; DROP TABLE t",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "SELECT randomblob(1000000000)",
    "SELECT zeroblob(2000000000)",
    "SELECT length(trim(printf('%.*c', 60000, 'a'), printf('%.*c', 60000, 'b') || 'a'))",
    "SELECT instr(printf('%.*c', 1000000, 'a'), printf('%.*c', 100000, 'a') || 'b')",
    "SELECT replace(printf('%.*c', 100000, 'a'), 'a', printf('%.*c', 100000, 'b'))",
    "SELECT count(*) FROM sqlite_master a, sqlite_master b, sqlite_master c, sqlite_master d, "
    "sqlite_master e, sqlite_master f, sqlite_master g, sqlite_master h",
    "SELECT printf('%.*c', 2147483647, 'x')",
    "SELECT abs(-9223372036854775808)",
    "SELECT 1e999, -1e999, 0.0/0",
    "SELECT char(0), char(55296)",
    "CREATE TABLE z(a); INSERT INTO z VALUES (1)",
    "BEGIN; DELETE FROM t; COMMIT",
    "SELECT",
    "SELECT * FROM",
    "'; --",
)

_CODE_PROGRAMS = (
    "def f(x):\n    return x",
    "while True:\n    pass",
    "import time\ntime.sleep(100)",
    "def f(n):\n    return f(n + 1)\nf(0)",
    "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)",
    "x = 'a' * 10**10",
    "x = [0] * 10**9",
    "print('x' * 10**7)",
    "raise SystemExit(3)",
    "import os\nos._exit(0)",
    "import os\nos.kill(os.getppid(), 9)",
    "import os, signal\nos.killpg(0, signal.SIGKILL)",
    "import threading\n[threading.Thread(target=lambda: None).start() for _ in range(200)]",
    "import os\nfor _ in range(100):\n    os.fork()",
    "import ctypes\nctypes.string_at(0)",
    "print(open('/etc/passwd').read())",
    "import socket\nsocket.create_connection(('example.com', 80), timeout=1)",
    "import subprocess\nsubprocess.run(['sleep', '100'])",
    "def (:",
    "1/0",
    "import builtins\nbuiltins.print = None",
    "__import__('sys').stdout.close()",
    "import sys\nsys.stdout.write('\\x00\\udcff' * 1000)",
    "exec('x=1;' * 100000)",
    "eval('(' * 10000 + ')' * 10000)",
)

_CALC_EXPRESSIONS = (
    "2 + 2", "round(1, -10**18)", "round(1, -10**7)", "9**9**9", "10**10**10", "2**2**2**2**2",
    "(10**100)**(10**100)", "1/0", "sqrt(-1)", "max()", "min(" + "1," * 5000 + "1)",
    "(" * 200 + "1" + ")" * 200, "__import__('os')", "().__class__", "1e308 * 10", "abs(-0)",
    "10**4300 + 1", "int('9' * 5000)", "round(1.5, 10**18)", "99999999999**99999999",
)  # fmt: skip

_TOOLS = (
    "calculator", "convert_units", "convert_currency", "add_days", "days_between",
    "search_knowledge", "get_weather", "find_flights", "create_event", "list_events",
    "delete_event", "no_such_tool", "", "__init__",
)  # fmt: skip

_WEB_ELEMENTS = (
    "buy now", "back to search", "next >", "< prev", "description", "features", "reviews",
    "B0000", "b000000000", "", " ", "]", "[", "search", "click[buy now]", "BUY NOW",
)  # fmt: skip


def _hypothesis() -> Any:
    try:
        import hypothesis
        from hypothesis import strategies
    except ImportError as err:  # pragma: no cover - dev extra missing
        raise ImportError(
            "check_env_conformance needs hypothesis: pip install 'prm-gym[dev]' "
            "(or pip install hypothesis)"
        ) from err
    return hypothesis, strategies


def _pick(values: Sequence[Any]) -> Any:
    """``sampled_from(values)`` with a short repr (Hypothesis warns about huge reprs)."""
    _, st = _hypothesis()
    return st.integers(0, len(values) - 1).map(values.__getitem__)


def _text_strategy(family: str, limit: int) -> Any:
    """Hostile text for one family, always including generic junk."""
    _, st = _hypothesis()
    chars = st.characters(codec=None, exclude_categories=())  # includes lone surrogates
    nasty = _pick(_NASTY_CHARS)
    junk = st.lists(st.one_of(chars, nasty), max_size=60).map("".join)
    number = st.one_of(
        _pick(_HUGE_NUMBERS),
        st.integers().map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.fractions().map(str),
    )
    filler = st.one_of(junk, number)

    def huge(units: Any) -> Any:
        # The length is drawn from a few sizes at the boundary and from the whole range.
        sizes = st.one_of(
            st.sampled_from([limit - 1, limit, limit + 1, 4 * limit]), st.integers(1, limit)
        )
        return st.builds(lambda u, n: (u * (n // max(len(u), 1) + 1))[:n], units, sizes)

    def nested(open_: str, close: str) -> Any:
        depth = st.one_of(st.integers(1, 50), st.just(max(limit // max(len(open_), 1), 1)))
        return st.builds(
            lambda n, mid, closed: (open_ * n + mid + (close * n if closed else ""))[: 4 * limit],
            depth,
            filler,
            st.booleans(),
        )

    def deep_json(n: int) -> str:
        return ('{"a": ' * n + "1" + "}" * n) if n % 2 else ("[" * n + "]" * n)

    json_value = st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            junk,
            _pick(_HUGE_NUMBERS),
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(junk, inner, max_size=4)
        ),
        max_leaves=12,
    )
    tags = st.sampled_from(
        ["\\boxed{", "<sql>", "<solution>", "<tool_call>", "<answer>", "```python\n", "search[",
         "click[", "</sql>", "</tool_call>", "</answer>", "```", "]", "}"]
    )  # fmt: skip
    generic = st.one_of(
        junk,
        huge(st.one_of(nasty, junk.filter(bool), st.just("a"))),
        st.builds(lambda n: deep_json(n), st.integers(1, max(limit // 2, 1))),
        st.lists(tags, min_size=1, max_size=30).map("".join),
        st.builds(lambda t, f: t + f, tags, filler),
        st.text(st.sampled_from(" \t\r\n"), max_size=50),
    )
    if family == "math":
        grammar = st.one_of(
            number.map(lambda n: f"\\boxed{{{n}}}"),
            number.map(lambda n: f"Answer: {n}"),
            st.tuples(number, number).map(lambda ab: f"Step 1: {ab[0]} + {ab[1]} = {ab[0]}"),
            st.lists(filler, min_size=1, max_size=8).map(
                lambda xs: "\n".join(f"Step {i + 1}: {x}" for i, x in enumerate(xs))
            ),
            nested("\\boxed{", "}"),
            nested("\\frac{", "}{1}"),
            huge(st.sampled_from(["\\boxed{", "Answer: ", "\\frac{1}{", "Step 1: 1 = 1\n"])),
        )
    elif family == "sql":
        query = st.one_of(_pick(_SQL_QUERIES), filler, number.map(lambda n: f"SELECT {n}"))
        grammar = st.one_of(
            query.map(lambda q: f"<sql>{q}</sql>"),
            query.map(lambda q: f"<solution>{q}</solution>"),
            query.map(lambda q: f"<sql>{q}"),
            st.tuples(query, query).map(
                lambda qs: f"<sql>{qs[0]}</sql><solution>{qs[1]}</solution>"
            ),
            nested("<sql>", "</sql>"),
            huge(st.sampled_from(["<sql>", "<solution>", "<sql>SELECT 1</sql>"])),
        )
    elif family == "tools":
        expression = st.one_of(_pick(_CALC_EXPRESSIONS), number, junk)
        params = st.one_of(
            expression.map(lambda e: {"expression": e}),
            st.dictionaries(junk, json_value, max_size=4),
        )
        call = st.builds(
            lambda name, p: json.dumps({"name": name, "parameters": p}, ensure_ascii=False),
            _pick(_TOOLS),
            params,
        )
        grammar = st.one_of(
            call.map(lambda c: f"<tool_call>{c}</tool_call>"),
            st.lists(call, min_size=2, max_size=20).map(
                lambda cs: "".join(f"<tool_call>{c}</tool_call>" for c in cs)
            ),
            json_value.map(lambda v: f"<tool_call>{json.dumps(v)}</tool_call>"),
            st.builds(lambda n: f"<tool_call>{deep_json(n)}</tool_call>", st.integers(1, limit)),
            filler.map(lambda a: f"<answer>{a}</answer>"),
            st.tuples(call, filler).map(
                lambda cf: f"<tool_call>{cf[0]}</tool_call><answer>{cf[1]}"
            ),
            nested("<tool_call>{", "}</tool_call>"),
            huge(st.sampled_from(["<tool_call>{", "<tool_call>", "<answer>"])),
        )
    elif family == "code":
        program = st.one_of(_pick(_CODE_PROGRAMS), junk)
        grammar = st.one_of(
            program.map(lambda p: f"```python\n{p}\n```"),
            program.map(lambda p: f"```python\n{p}"),
            program.map(lambda p: f"```\n{p}\n```"),
            program.map(lambda p: f"```js\n{p}\n```"),
            st.lists(program, min_size=2, max_size=5).map(
                lambda ps: "\n".join(f"```python\n{p}\n```" for p in ps)
            ),
            nested("```python\n", "\n```"),
            huge(st.sampled_from(["```python\n", "```", "x = 1\n"])),
        )
    elif family == "webshop":
        element = st.one_of(_pick(_WEB_ELEMENTS), filler)
        grammar = st.one_of(
            filler.map(lambda q: f"search[{q}]"),
            element.map(lambda e: f"click[{e}]"),
            element.map(lambda e: f"click[{e}"),
            st.tuples(element, filler).map(lambda ef: f"click[{ef[0]}] search[{ef[1]}]"),
            nested("search[", "]"),
            nested("click[", "]"),
            huge(st.sampled_from(["search[", "click[", "a ", "search[a] "])),
        )
    else:
        return generic
    return st.one_of(grammar, grammar, generic)


def _array_strategy(space: gym.spaces.Box) -> Any:
    """Hostile arrays for a ``Box`` action space, each tagged with whether it must step."""
    from hypothesis.extra import numpy as hnp

    _, st = _hypothesis()
    shape = tuple(space.shape)
    low = np.where(np.isfinite(space.low), space.low, -1e6).astype(np.float64)
    high = np.where(np.isfinite(space.high), space.high, 1e6).astype(np.float64)
    inside = hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)).map(
        lambda u: (low + u * (high - low)).astype(space.dtype)
    )
    finite = st.floats(allow_nan=False, allow_infinity=False)
    any_float = st.floats(allow_nan=True, allow_infinity=True)
    wrong_shapes = st.sampled_from(
        [(), (0,), (1,), (*shape[:-1], max(shape[-1] - 1, 0)) if shape else (2,),
         (*shape[:-1], shape[-1] + 1) if shape else (2,), (*shape, 1), (1, *shape), (2, *shape)]
    )  # fmt: skip
    return st.one_of(
        inside,
        hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16]), shape, elements=finite),
        hnp.arrays(np.float64, shape, elements=any_float),
        hnp.arrays(st.sampled_from([np.int8, np.int64, np.uint8, np.bool_]), shape),
        hnp.arrays(np.complex128, shape, elements=st.complex_numbers(allow_nan=True)),
        hnp.arrays(np.float64, wrong_shapes, elements=finite),
        st.lists(any_float, min_size=0, max_size=8),
        st.sampled_from(
            [
                None,
                "1 2 3 4",
                b"\x00" * 4,
                {"a": 1},
                np.array(["a"] * max(shape[0] if shape else 1, 1)),
                np.array([object()] * max(shape[0] if shape else 1, 1)),
                float("nan"),
                10**400,
            ]
        ),
    )


def _action_key(action: Any) -> Any:
    if isinstance(action, np.ndarray):
        if action.dtype.kind == "O":
            return ("o", action.shape, tuple(type(x).__name__ for x in action.ravel()))
        return ("a", str(action.dtype), action.shape, action.tobytes())
    return (type(action).__name__, repr(action))


def _explicit_actions(
    family: str, limit: int, space: gym.Space[Any]
) -> tuple[list[Any], list[Any]]:
    """Hostile actions every run includes: generic ones (run first) and the family's known
    worst cases (run last, so that a hang there does not cut the Hypothesis draws short)."""
    if family == "box":
        shape = tuple(space.shape or (1,))
        nan = np.full(shape, np.nan)
        return [
            np.zeros(shape, space.dtype),
            nan,
            np.full(shape, np.inf),
            np.full(shape, 1e308),
            np.full(shape, 1 + 1j),
            np.zeros((*shape[:-1], shape[-1] + 1)),
            np.zeros((1, *shape)),
            None,
            "0 0 0 0",
        ], []
    if family == "other":
        return [], []
    explicit: list[Any] = [
        "", " \n\t", "\x00", "a\x00b", "\ud800", "ok \udfff", "\ufffd", "a" * limit,
        "a" * (limit + 1), "\x00" * (limit + 1), None, 7, 1.5, b"bytes", ["a"], {"a": 1},
        np.str_("np.str_ is a str"),
    ]  # fmt: skip
    worst: list[Any] = []
    if family == "math":
        worst += ["\\boxed{10^{10^{10}}}", "\\boxed{9^{9^{9^{9}}}}", "Answer: " + "9" * 5000]
    elif family == "sql":
        worst += [f"<sql>{q}</sql>" for q in _SQL_QUERIES[10:18]]
    elif family == "tools":
        call = '{"name": "calculator", "parameters": {"expression": "%s"}}'
        worst += [
            f"<tool_call>{call % e}</tool_call>"
            for e in ("round(1, -10**18)", "9**9**9", "10**10**10")
        ]
    elif family == "code":
        worst += ["```python\nwhile True:\n    pass\n```"]
    elif family == "webshop":
        worst += ["search[" + "a " * (limit // 2) + "]", "click[buy now]"]
    return explicit, worst


def _draw_actions(family: str, env: gym.Env, n: int, seed: int) -> list[Any]:
    """``n`` hostile actions: the explicit list, then Hypothesis draws (fixed ``seed``)."""
    hypothesis, _st = _hypothesis()
    space = env.action_space
    limit = _max_length(env)
    if family == "box":
        strategy = _array_strategy(space)  # type: ignore[arg-type]
    elif family == "other":
        space.seed(seed)
        return [space.sample() for _ in range(n)]
    else:
        strategy = _text_strategy(family, limit)
    first, last = _explicit_actions(family, limit, space)
    seen: set[Any] = set()

    def unique(items: Iterable[Any]) -> list[Any]:
        out = []
        for action in items:
            key = _action_key(action)
            if key not in seen:
                seen.add(key)
                out.append(action)
        return out

    actions, tail = unique(first), unique(last)

    drawn: list[Any] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=max(int((n - len(actions) - len(tail)) * 1.25), 1),
        database=None,
        deadline=None,
        derandomize=False,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(strategy)
    def collect(action: Any) -> None:
        drawn.append(action)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    room = max(n - len(actions) - len(tail), 0)
    return actions + unique(drawn)[:room] + tail


# ---------------------------------------------------------------------------- step contract


def _expect(family: str, space: gym.Space[Any], action: Any) -> tuple[str, tuple[type, ...]]:
    """What a step on ``action`` may do: ``("step", ())`` must return; ``("raise", types)`` must
    raise one of ``types``; ``("either", types)`` may return or raise one of ``types``."""
    if family in ("box",):
        try:
            arr = np.asarray(action)
        except Exception:
            return "either", (ValueError, TypeError)
        if (
            arr.shape == space.shape
            and arr.dtype.kind in "biuf"
            and bool(np.all(np.isfinite(arr.astype(np.float64))))
        ):
            return "step", ()
        return "either", (ValueError, TypeError)
    if family == "other":
        return "step", ()
    if isinstance(action, str):
        return "step", ()
    return "raise", (TypeError,)


def _must_be_invalid(action: Any, limit: int) -> str | None:
    """Why the text contract (README) requires ``action_valid=False`` for ``action``, if it does."""
    if not isinstance(action, str):
        return None
    if not action.strip():
        return "empty action"
    if len(action) > limit:
        return "over-long action"
    if "\x00" in action:
        return "binary-looking action (NUL)"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in action):
        return "invalid Unicode (lone surrogate)"
    return None


def _inspect_step(family: str, env: gym.Env, action: Any, result: Any) -> dict[str, list[str]]:
    """Contract problems of one returned step, by check name."""
    problems: dict[str, list[str]] = {}

    def bad(check: str, text: str) -> None:
        problems.setdefault(check, []).append(text)

    if not (isinstance(result, tuple) and len(result) == 5):
        bad("exceptions", f"step returned {type(result).__name__}, not a 5-tuple")
        return problems
    obs, reward, terminated, truncated, info = result
    if not env.observation_space.contains(obs):
        bad(
            "observation_space", f"observation {_short(obs, 50)} is outside {env.observation_space}"
        )
    elif isinstance(obs, str):
        try:
            obs.encode("utf-8")
        except UnicodeEncodeError:
            bad("observation_space", "observation is not valid UTF-8 (lone surrogate)")
    try:
        r = float(reward)
    except (TypeError, ValueError):
        bad("reward", f"reward {reward!r} is not a number")
        r = math.nan
    if not math.isfinite(r) and not math.isnan(r):
        bad("reward", f"reward {r} is not finite")
    elif math.isnan(r):
        bad("reward", "reward is NaN")
    if not isinstance(info, dict):
        bad("info", f"info is {type(info).__name__}, not dict")
        return problems
    components = info.get("reward_components")
    if isinstance(components, dict) and components and math.isfinite(r):
        total = sum(float(v) for v in components.values())
        if not math.isclose(total, r, rel_tol=1e-9, abs_tol=1e-9):
            bad("reward", f"reward {r} != sum(reward_components) {total}")
    if not isinstance(terminated, (bool, np.bool_)) or not isinstance(truncated, (bool, np.bool_)):
        bad("info", "terminated/truncated are not bools")
    if family in ("box", "other"):
        obs_space = env.observation_space
        goal_env = isinstance(obs_space, gym.spaces.Dict) and "desired_goal" in obs_space.spaces
        if goal_env and "is_success" not in info:
            bad("info", "goal-conditioned env without info['is_success']")
        return problems
    # Text envs: DESIGN §3 / README "Text envs share one contract".
    if "task_id" not in info:
        bad("info", "info has no 'task_id'")
    valid = info.get("action_valid")
    if not isinstance(valid, (bool, np.bool_)):
        bad("info", f"info['action_valid'] is {valid!r}, not a bool")
    elif not valid and not isinstance(info.get("error"), str):
        bad("info", "action_valid=False without a str info['error']")
    done = bool(terminated) or bool(truncated)
    if done:
        if "outcome" not in info:
            bad("info", "final step without info['outcome']")
        elif math.isfinite(r) and not components and float(info["outcome"]) != r:
            bad("reward", f"final reward {r} != info['outcome'] {info['outcome']}")
        if truncated and not terminated and r < 0:
            bad("reward", f"truncation gave a negative reward {r}")
    elif math.isfinite(r) and r != 0.0 and not components:
        bad("reward", f"native reward {r} before the final step (must be 0)")
    why = _must_be_invalid(action, _max_length(env))
    if why is not None and valid is True:
        bad("invalid_actions", f"{why} {_short(action, 40)} was accepted (action_valid=True)")
    return problems


# ---------------------------------------------------------------------------- child process


def _send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    payload = struct.pack("!Q", len(data)) + data
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int) -> Any:
    (size,) = struct.unpack("!Q", _read_exact(fd, 8))
    return pickle.loads(_read_exact(fd, size))


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class _Child:
    """An env in a fresh interpreter (``python -c``), driven over pipes with per-call timeouts."""

    def __init__(self) -> None:
        env = dict(os.environ)
        # The child sees the caller's import path (so envs registered from user modules load)
        # and a different hash seed (so set-order dependence shows as non-determinism).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["PYTHONHASHSEED"] = "random"
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from prm_gym.testing.conformance import _child_main; _child_main()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,  # its own process group: killing it takes its children too
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()

    def call(self, message: Any, timeout: float) -> Any:
        try:
            _send(self._in, message)
        except (BrokenPipeError, OSError) as err:
            raise _Died(self._death()) from err
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            raise _Timeout(f"no answer within {timeout:.1f} s")
        try:
            return _receive(self._out)
        except (EOFError, OSError, pickle.UnpicklingError) as err:
            raise _Died(self._death()) from err

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        return f"child process died (exit code {code}); stderr: {' | '.join(tail) or '-'}"

    def close(self, timeout: float = 10.0) -> None:
        """Ask the child to close its env and exit; kill its process group if it does not."""
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.call(("quit",), timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()


def _register_in_child(env_id: str, entry: Any) -> None:
    if env_id in gym.registry or entry is None:
        return
    entry_point, kwargs = entry
    gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)


def _child_main() -> None:
    """The child's loop: one request in, one answer out, until ``("quit",)`` or EOF."""
    warnings.simplefilter("ignore")
    # Keep the protocol pipe private: anything the env prints goes to stderr.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    in_fd = 0
    import prm_gym  # noqa: F401  (registers the prm/* ids)

    env: gym.Env | None = None
    family = "other"
    while True:
        try:
            request = _receive(in_fd)
        except EOFError:
            break
        kind = request[0]
        answer: dict[str, Any] = {}
        try:
            if kind == "quit":
                if env is not None:
                    env.close()
                _send(out_fd, {"ok": True})
                break
            if kind == "make":
                _, env_id, env_kwargs, entry = request
                _register_in_child(env_id, entry)
                env = _make(env_id, env_kwargs)
                family = _family(env)
            elif kind == "digest":
                _, seed, episodes, max_steps = request
                assert env is not None
                answer["digest"] = _digest(_play(env, family, seed, episodes, max_steps))
            elif kind == "reset":
                assert env is not None
                start = time.perf_counter()
                env.reset(seed=request[1])
                answer["reset_seconds"] = time.perf_counter() - start
            elif kind == "step":
                assert env is not None
                action = request[1]
                start = time.perf_counter()
                try:
                    result = env.step(action)
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    answer["seconds"] = time.perf_counter() - start
                    answer["exception"] = (type(exc).__name__, str(exc)[:300])
                    expect, allowed = _expect(family, env.action_space, action)
                    answer["allowed"] = expect != "step" and isinstance(exc, allowed)
                else:
                    answer["seconds"] = time.perf_counter() - start
                    expect, _ = _expect(family, env.action_space, action)
                    answer["returned_but_should_raise"] = expect == "raise"
                    answer["problems"] = _inspect_step(family, env, action, result)
                    answer["done"] = bool(result[2]) or bool(result[3])
            answer["ok"] = True
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        _send(out_fd, answer)


# ---------------------------------------------------------------------------- checks


def _entry(env_id: str) -> Any:
    """The registration of ``env_id`` in a form a child process can re-register, if picklable."""
    spec = gym.spec(env_id)
    entry = (spec.entry_point, dict(spec.kwargs))
    try:
        pickle.dumps(entry)
    except Exception:
        return None
    return entry


def _with_slowest(result: CheckResult, slowest: list[tuple[float, str]]) -> CheckResult:
    if slowest:
        result.details += "\nslowest returned: " + ", ".join(f"{t:.3f} s {a}" for t, a in slowest)
    return result


def _timed_reset(child: _Child, seed: int, timeout: float, report: ConformanceReport) -> str | None:
    """Reset the child's env; a description of the problem if it was slow or failed."""
    try:
        answer = child.call(("reset", seed), timeout)
    except (_Timeout, _Died) as err:
        return f"reset(seed={seed}) in the child: {err}"
    if not answer["ok"]:
        return f"reset(seed={seed}) in the child failed: {answer['error']}"
    seconds = float(answer["reset_seconds"])
    report.max_reset_time = max(report.max_reset_time, seconds)
    if seconds > timeout - _GRACE_S:
        return f"reset(seed={seed}) took {seconds:.2f} s"
    return None


def _fuzz(
    env_id: str,
    family: str,
    actions: Sequence[Any],
    *,
    seed: int,
    step_time_limit: float,
    max_hangs: int,
    env_kwargs: dict[str, Any],
    digest_args: tuple[int, int] | None,
    report: ConformanceReport,
    verbose: bool,
) -> tuple[list[CheckResult], str | None]:
    """Run ``actions`` in a child process; return the fuzz checks and the child's digest."""
    collectors = {name: _Collector() for name in _FUZZ_CHECKS}
    digest: str | None = None
    digest_error: str | None = None
    child: _Child | None = None
    episodes = 0
    hangs = 0
    slowest: list[tuple[float, str]] = []
    started = time.perf_counter()
    make_timeout = 60.0 + step_time_limit
    call_timeout = step_time_limit + _GRACE_S
    i = 0
    try:
        while i < len(actions):
            if child is None:
                child = _Child()
                answer = child.call(("make", env_id, env_kwargs, _entry(env_id)), make_timeout)
                if not answer["ok"]:
                    raise RuntimeError(f"make in a child process failed: {answer['error']}")
                if digest_args is not None and digest is None and digest_error is None:
                    try:
                        answer = child.call(("digest", seed, *digest_args), make_timeout)
                        if answer["ok"]:
                            digest = answer["digest"]
                        else:
                            digest_error = answer["error"]
                    except (_Timeout, _Died) as err:
                        digest_error = f"the scripted episodes in the child: {err}"
                        child.kill()
                        child = None
                        continue
                episodes += 1
                reset = _timed_reset(child, seed + episodes, call_timeout, report)
                if reset is not None:
                    raise RuntimeError(reset)
            action = actions[i]
            i += 1
            try:
                answer = child.call(("step", action), call_timeout)
            except _Timeout:
                hangs += 1
                collectors["step_time"].add(
                    f"{_short(action, 240)}: no return within {call_timeout:.1f} s (limit "
                    f"{step_time_limit:.1f} s): child killed"
                )
                report.max_step_time = max(report.max_step_time, call_timeout)
                report.max_step_action = f"{_short(action, 40)}, killed"
                child.kill()
                child = None
                if hangs >= max_hangs:
                    collectors["step_time"].add(
                        f"stopped at hang {hangs} (max_hangs); {len(actions) - i} actions not run"
                    )
                    break
                continue
            except _Died as err:
                collectors["exceptions"].add(f"{_short(action)}: {err}")
                child.kill()
                child = None
                continue
            if not answer["ok"]:
                collectors["exceptions"].add(f"{_short(action)}: harness error {answer['error']}")
                continue
            seconds = float(answer.get("seconds", 0.0))
            if seconds > report.max_step_time:
                report.max_step_time = seconds
                report.max_step_action = _short(action, 40)
            slowest.append((seconds, _short(action, 40)))
            slowest = sorted(slowest, reverse=True)[:3]
            if seconds > step_time_limit:
                collectors["step_time"].add(f"{_short(action, 240)}: step took {seconds:.2f} s")
            if answer.get("done"):
                episodes += 1
                reset = _timed_reset(child, seed + episodes, call_timeout, report)
                if reset is not None:
                    collectors["step_time"].add(reset)
                    child.kill()
                    child = None
            if "exception" in answer:
                name, message = answer["exception"]
                if not answer["allowed"]:
                    collectors["exceptions"].add(f"{_short(action)}: raised {name}: {message}")
                elif not message.strip():
                    collectors["exceptions"].add(f"{_short(action)}: {name} without a message")
                continue
            if answer.get("returned_but_should_raise"):
                collectors["exceptions"].add(
                    f"{_short(action)}: a non-str action returned instead of raising TypeError"
                )
            for check, texts in answer.get("problems", {}).items():
                for text in texts:
                    collectors[check].add(f"{_short(action, 50)}: {text}")
            report.steps += 1
            if verbose and report.steps % 500 == 0:
                print(f"  {env_id}: {report.steps} hostile steps, max {report.max_step_time:.3f} s")
    finally:
        if child is not None:
            child.close()
    seconds = time.perf_counter() - started
    if digest is None and digest_error is None and digest_args is not None:
        digest_error = "the child stopped before playing the scripted episodes"
    summary = f"{report.steps} of {len(actions)} actions returned"
    results = [
        _with_slowest(
            collectors["step_time"].result(
                "step_time", f"every step < {step_time_limit:.1f} s", seconds
            ),
            slowest,
        ),
        collectors["exceptions"].result("exceptions", summary),
        collectors["observation_space"].result("observation_space", "every observation inside"),
        collectors["reward"].result("reward", "finite; components sum; outcome rule"),
        collectors["info"].result("info", "shared info keys present"),
    ]
    if family in ("box", "other"):
        results.append(CheckResult("invalid_actions", "skip", "text envs only"))
    else:
        results.append(collectors["invalid_actions"].result("invalid_actions", "all flagged"))
    return results, digest if digest_error is None else f"error: {digest_error}"


def _check_determinism(
    env_id: str, env_kwargs: dict[str, Any], family: str, seed: int, episodes: int, max_steps: int
) -> tuple[CheckResult, str | None]:
    start = time.perf_counter()
    records = []
    digest = None
    try:
        for _ in range(2):
            env = _make(env_id, env_kwargs)
            try:
                records.append(_play(env, family, seed, episodes, max_steps))
                if len(records) == 2:
                    # The same env again, after its episodes (reset must re-seed everything).
                    records.append(_play(env, family, seed, episodes, max_steps))
            finally:
                env.close()
    except Exception as exc:
        return CheckResult(
            "determinism", "fail", f"scripted episodes raised {type(exc).__name__}: {exc}",
            time.perf_counter() - start,
        ), None  # fmt: skip
    digest = _digest(records[0])
    seconds = time.perf_counter() - start
    for label, other in (("a second env", records[1]), ("the same env replayed", records[2])):
        if other != records[0]:
            where = next(
                (k for k, (a, b) in enumerate(zip(records[0], other, strict=False)) if a != b),
                min(len(other), len(records[0])),
            )
            return CheckResult(
                "determinism",
                "fail",
                f"{label} diverged at record {where} with the same seed: "
                f"{_short(records[0][where] if where < len(records[0]) else None, 120)} vs "
                f"{_short(other[where] if where < len(other) else None, 120)}",
                seconds,
            ), digest
    steps = len(records[0]) - episodes
    return CheckResult(
        "determinism", "pass", f"{episodes} episodes, {steps} steps identical (3 plays)", seconds
    ), digest


def _continue(
    env: gym.Env, family: str, info: dict[str, Any], seed: int, max_steps: int
) -> list[Any]:
    rng = np.random.default_rng(seed + 7)
    record = []
    for _ in range(max_steps):
        step = env.step(_scripted_action(family, env, info, rng))
        record.append(_step_key(step))
        info = step[4]
        if step[2] or step[3]:
            break
    return record


def _check_state_round_trip(
    env_id: str, env_kwargs: dict[str, Any], family: str, seed: int, rounds: int
) -> CheckResult:
    start = time.perf_counter()
    env = _make(env_id, env_kwargs)
    try:
        if not hasattr(env.unwrapped, "get_state") or not hasattr(env.unwrapped, "set_state"):
            return CheckResult("state_round_trip", "skip", "env has no get_state/set_state")
        fresh = _make(env_id, env_kwargs)
        try:
            for r in range(rounds):
                rng = np.random.default_rng(seed + r)
                _obs, info = env.reset(seed=seed + r)
                limit = int(getattr(env.unwrapped, "max_steps", 8) or 8)
                branch_at = r % max(limit - 1, 1)
                ended = False
                for _ in range(branch_at):
                    step = env.step(_scripted_action(family, env, info, rng))
                    info = step[4]
                    if step[2] or step[3]:
                        ended = True
                        break
                if ended:
                    continue
                state = env.unwrapped.get_state()
                try:
                    state = pickle.loads(pickle.dumps(state))
                except Exception as exc:
                    return CheckResult(
                        "state_round_trip", "fail", f"get_state() is not picklable: {exc}",
                        time.perf_counter() - start,
                    )  # fmt: skip
                original = _continue(env, family, info, seed + r, limit)
                env.unwrapped.set_state(state)
                again = _continue(env, family, info, seed + r, limit)
                fresh.reset(seed=seed + 10_000 + r)
                fresh.unwrapped.set_state(  # type: ignore[attr-defined]
                    pickle.loads(pickle.dumps(state))
                )
                elsewhere = _continue(fresh, family, info, seed + r, limit)
                for label, other in (("same env", again), ("fresh env", elsewhere)):
                    if other != original:
                        k = next(
                            (
                                k
                                for k, (a, b) in enumerate(zip(original, other, strict=False))
                                if a != b
                            ),
                            0,
                        )
                        return CheckResult(
                            "state_round_trip",
                            "fail",
                            f"after set_state ({label}, branch at step {branch_at}, seed "
                            f"{seed + r}) step {k} differs: "
                            f"{_short(original[k] if k < len(original) else None, 100)} vs "
                            f"{_short(other[k] if k < len(other) else None, 100)}",
                            time.perf_counter() - start,
                        )
        finally:
            fresh.close()
    except Exception as exc:
        return CheckResult(
            "state_round_trip", "fail", f"raised {type(exc).__name__}: {exc}",
            time.perf_counter() - start,
        )  # fmt: skip
    finally:
        env.close()
    return CheckResult(
        "state_round_trip", "pass",
        f"{rounds} branches continue identically (same env, fresh env, pickled)",
        time.perf_counter() - start,
    )  # fmt: skip


def _vec_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not bool(mask[i]):
            continue
        try:
            out[key] = value[i]
        except (TypeError, IndexError, KeyError):
            continue
    return out


def _check_vector(
    mode: str, env_id: str, env_kwargs: dict[str, Any], family: str, seed: int, max_steps: int
) -> CheckResult:
    name = f"vector_{mode}"
    start = time.perf_counter()
    n = 2
    singles = [_make(env_id, env_kwargs) for _ in range(n)]
    vec: gym.vector.VectorEnv | None = None
    try:
        try:
            vec = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode, **env_kwargs)
        except Exception as exc:
            return CheckResult(
                name, "fail",
                f"gym.make_vec({env_id!r}, num_envs={n}, vectorization_mode={mode!r}) raised "
                f"{type(exc).__name__}: {str(exc)[:200]}",
                time.perf_counter() - start,
            )  # fmt: skip
        obs_v, info_v = vec.reset(seed=seed)
        rngs = [np.random.default_rng(seed + i) for i in range(n)]
        infos = []
        for i, env in enumerate(singles):
            obs, info = env.reset(seed=seed + i)
            infos.append(info)
            got = list(gym.vector.utils.iterate(vec.observation_space, obs_v))[i]
            got_info, want_info = _scalar_info(_vec_info(info_v, i)), _scalar_info(info)
            if _obs_key(got) != _obs_key(obs) or got_info != want_info:
                return CheckResult(
                    name, "fail",
                    f"reset {i} differs from a single env's: {_short((got, got_info), 120)} vs "
                    f"{_short((obs, want_info), 120)}",
                    time.perf_counter() - start,
                )  # fmt: skip
        for t in range(max_steps):
            actions = [
                _scripted_action(family, e, infos[i], rngs[i]) for i, e in enumerate(singles)
            ]
            steps = [e.step(a) for e, a in zip(singles, actions, strict=False)]
            batched = (
                tuple(actions)
                if family not in ("box",)
                else np.stack([np.asarray(a) for a in actions])
            )
            obs_v, rew_v, term_v, trunc_v, info_v = vec.step(batched)
            per_env = list(gym.vector.utils.iterate(vec.observation_space, obs_v))
            for i, step in enumerate(steps):
                single = _step_key(step)
                vector = _step_key(
                    (per_env[i], rew_v[i], term_v[i], trunc_v[i], _vec_info(info_v, i))
                )
                if single != vector:
                    what = ("observation", "reward", "terminated", "truncated", "info")
                    k = next(j for j in range(5) if single[j] != vector[j])
                    return CheckResult(
                        name, "fail",
                        f"step {t}, env {i}: {what[k]} differs from a single env's: "
                        f"{_short(vector[k], 100)} vs {_short(single[k], 100)}",
                        time.perf_counter() - start,
                    )  # fmt: skip
                infos[i] = step[4]
            if any(s[2] or s[3] for s in steps):
                break
    except Exception as exc:
        return CheckResult(
            name, "fail", f"raised {type(exc).__name__}: {str(exc)[:200]}",
            time.perf_counter() - start,
        )  # fmt: skip
    finally:
        for env in singles:
            env.close()
        if vec is not None:
            with contextlib.suppress(Exception):
                vec.close()
    return CheckResult(
        name, "pass", f"{n} sub-envs equal to single envs for seeds {seed}, {seed + 1}",
        time.perf_counter() - start,
    )  # fmt: skip


def _first_step(env: gym.Env, family: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    env.step(_scripted_action(family, env, info, rng))


def _check_close(
    env_id: str, env_kwargs: dict[str, Any], family: str, seed: int
) -> list[CheckResult]:
    start = time.perf_counter()
    env = _make(env_id, env_kwargs)
    try:
        _first_step(env, family, seed)  # starts whatever the env starts lazily
        env.reset(seed=seed)  # a live episode, so "episode over" cannot pass for "closed"
        env.close()
        env.close()
    except Exception as exc:
        with contextlib.suppress(Exception):
            env.close()
        return [
            CheckResult("close_twice", "fail", f"raised {type(exc).__name__}: {exc}"),
            CheckResult("use_after_close", "skip", "close() failed"),
        ]
    results = [CheckResult("close_twice", "pass", "close() twice", time.perf_counter() - start)]

    start = time.perf_counter()
    before = _resources()
    rng = np.random.default_rng(seed)
    problems = []
    for label, call in (
        ("step", lambda: env.step(_scripted_action(family, env, {}, rng))),
        ("reset", lambda: env.reset(seed=seed)),
    ):
        try:
            call()
        except RuntimeError as exc:
            if "close" not in str(exc).lower():
                problems.append(
                    f"{label}() after close() raised RuntimeError({str(exc)[:80]!r}), which does "
                    "not say the env is closed"
                )
        except Exception as exc:
            problems.append(
                f"{label}() after close() raised {type(exc).__name__} ({exc}), not RuntimeError"
            )
        else:
            problems.append(f"{label}() after close() returned (expected RuntimeError)")
    with contextlib.suppress(Exception):
        env.close()
    gc.collect()
    after = _settle(before, wait=1.0)
    leaked = []
    for what in ("fds", "children"):
        b, a = before[what], after[what]
        if b is not None and a is not None and a > b:
            leaked.append(f"{what} {b} -> {a}")
    if leaked:
        problems.append("use after close() left " + ", ".join(leaked) + " after a second close()")
    seconds = time.perf_counter() - start
    if problems:
        results.append(CheckResult("use_after_close", "fail", "\n".join(problems), seconds))
    else:
        results.append(
            CheckResult("use_after_close", "pass", "step/reset raise RuntimeError", seconds)
        )
    return results


def _count_children() -> int | None:
    try:
        import psutil

        return len(psutil.Process().children(recursive=True))
    except ImportError:
        pass
    try:
        pids: set[str] = set()
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                pids.update(f.read().split())
        return len(pids)
    except OSError:
        return None


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _resources() -> dict[str, int | None]:
    try:
        fds: int | None = len(os.listdir("/proc/self/fd"))
        tasks: int | None = len(os.listdir("/proc/self/task"))
    except OSError:
        fds = tasks = None
    return {
        "fds": fds,
        "threads": threading.active_count(),
        "tasks": tasks,
        "children": _count_children(),
        "rss": _rss_bytes(),
    }


def _settle(before: dict[str, int | None], wait: float = 3.0) -> dict[str, int | None]:
    """Resources now, after giving exiting threads and processes up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        now = _resources()
        grown = any(
            before[k] is not None and now[k] is not None and now[k] > before[k]  # type: ignore[operator]
            for k in ("fds", "threads", "tasks", "children")
        )
        if not grown or time.monotonic() > deadline:
            return now
        time.sleep(0.05)
        gc.collect()


def _check_cycles(
    env_id: str,
    env_kwargs: dict[str, Any],
    family: str,
    seed: int,
    cycles: int,
    rss_limit_mb: float,
    verbose: bool,
    budget_s: float | None = None,
) -> list[CheckResult]:
    if not os.path.isdir("/proc/self/fd"):
        return [CheckResult(n, "skip", "needs Linux /proc") for n in _RESOURCE_CHECKS]
    start = time.perf_counter()

    def cycle(i: int) -> None:
        env = _make(env_id, env_kwargs)
        try:
            if i % 5 == 0:
                _first_step(env, family, seed + i)  # starts what the env starts lazily
            else:
                env.reset(seed=seed + i)
        finally:
            env.close()

    try:
        warmup = max(3, cycles // 10)
        for i in range(warmup):
            cycle(i)
        gc.collect()
        before = _settle(_resources(), wait=1.0)
        done = 0
        deadline = None if budget_s is None else time.monotonic() + budget_s
        for i in range(cycles):
            if deadline is not None and done >= _MIN_CYCLES and time.monotonic() > deadline:
                break
            cycle(warmup + i)
            done += 1
            if verbose and (i + 1) % 200 == 0:
                print(f"  {env_id}: {i + 1}/{cycles} make/reset/step/close cycles")
        gc.collect()
        after = _settle(before, wait=2.0)
    except Exception as exc:
        fail = f"a make/reset/step/close cycle raised {type(exc).__name__}: {exc}"
        return [CheckResult(n, "fail", fail, time.perf_counter() - start) for n in _RESOURCE_CHECKS]
    seconds = time.perf_counter() - start
    label = f"{done} make/reset/close cycles"
    if done < cycles:
        label += f" (of {cycles}: the {budget_s:.0f} s budget ran out)"
    results = []

    def growth(name: str, keys: Iterable[str], unit: str = "") -> None:
        rows = []
        grown = False
        for key in keys:
            b, a = before[key], after[key]
            if b is None or a is None:
                results.append(CheckResult(name, "skip", f"cannot read {key} here", seconds))
                return
            rows.append(f"{key} {b} -> {a}{unit}")
            grown = grown or a > b
        status = "fail" if grown else "pass"
        results.append(CheckResult(name, status, f"{label}: " + ", ".join(rows), seconds))

    growth("no_fd_growth", ["fds"])
    growth("no_thread_growth", ["threads", "tasks"])
    growth("no_child_growth", ["children"])
    b_rss, a_rss = before["rss"], after["rss"]
    if b_rss is None or a_rss is None:
        results.append(CheckResult("no_memory_growth", "skip", "cannot read RSS here", seconds))
    else:
        grown_mb = (a_rss - b_rss) / 2**20
        status = "fail" if grown_mb > rss_limit_mb else "pass"
        results.append(
            CheckResult(
                "no_memory_growth",
                status,
                f"{label}: RSS {b_rss / 2**20:.0f} -> {a_rss / 2**20:.0f} MiB "
                f"({grown_mb:+.1f} MiB, {1024 * grown_mb / max(done, 1):+.1f} KiB/cycle; "
                f"limit {rss_limit_mb:.0f} MiB)",
                seconds,
            )
        )
    return results


# ---------------------------------------------------------------------------- entry point


def check_env_conformance(
    env_id: str,
    *,
    steps: int | None = None,
    long: bool = False,
    seed: int = 0,
    step_time_limit: float = 5.0,
    checks: Iterable[str] | None = None,
    cycles: int | None = None,
    max_hangs: int | None = None,
    rss_limit_mb: float = 64.0,
    verbose: bool | None = None,
    **env_kwargs: Any,
) -> ConformanceReport:
    """Check that the env ``env_id`` keeps the library's env contract (see the module docs).

    Args:
        env_id: A registered Gymnasium id (``prm/*`` or your own).
        steps: Hostile actions to run (default 150, 30 for Code-v0 whose steps run programs;
            ``long=True``: 3,000 and 400).
        long: The long run: more actions, 1,000 make/close cycles, more episodes; prints
            progress and the max step time.
        seed: Seeds the Hypothesis draws, the scripted episodes and the resets.
        step_time_limit: Wall-clock seconds a step (or reset) may take. A step still running
            ``step_time_limit + 1`` s after it started is killed with its child process and
            reported with its action, and the actions go on in a fresh child process.
        max_hangs: Hangs after which the hostile-action phase stops (default 1; long 10). The
            family's known worst cases run last, so the first hang rarely hides others.
        checks: Run only these checks (names from :data:`CHECKS`); default all.
        cycles: make/reset/close cycles of the resource checks, with a step in every fifth
            (default 50, cut short after 10 s once 20 are done; long 1,000, never cut).
        rss_limit_mb: Resident-memory growth allowed over the cycles.
        verbose: Print progress (default: ``long``).
        **env_kwargs: Passed to ``gym.make`` (and ``gym.make_vec``), e.g. ``max_action_length``.

    Returns:
        A :class:`ConformanceReport`; ``report.ok`` is True when no check failed, and
        ``print(report)`` shows one row per check and the max step time.
    """
    selected = tuple(CHECKS if checks is None else checks)
    unknown = sorted(set(selected) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; choose from {list(CHECKS)}")
    verbose = long if verbose is None else verbose
    started = time.perf_counter()
    report = ConformanceReport(env_id=env_id, seed=seed, long=long)
    env = _make(env_id, env_kwargs)
    try:
        family = _family(env)
        if steps is None:
            steps = (400 if long else 30) if family == "code" else (3000 if long else 150)
        actions: list[Any] = []
        if any(c in selected for c in _FUZZ_CHECKS):
            actions = _draw_actions(family, env, steps, seed)
    finally:
        env.close()
    episodes = 8 if long else 3
    max_steps = 200
    results: dict[str, CheckResult] = {}

    parent_digest: str | None = None
    if "determinism" in selected or "determinism_across_processes" in selected:
        result, parent_digest = _check_determinism(
            env_id, env_kwargs, family, seed, episodes, max_steps
        )
        results["determinism"] = result

    child_digest: str | None = None
    wants_child_digest = "determinism_across_processes" in selected
    if any(c in selected for c in _FUZZ_CHECKS) or wants_child_digest:
        t0 = time.perf_counter()
        try:
            fuzz_results, child_digest = _fuzz(
                env_id,
                family,
                actions,
                seed=seed,
                step_time_limit=step_time_limit,
                max_hangs=max_hangs if max_hangs is not None else (10 if long else 1),
                env_kwargs=env_kwargs,
                digest_args=(episodes, max_steps) if wants_child_digest else None,
                report=report,
                verbose=verbose,
            )
        except Exception as exc:
            fail = f"the child process could not run the env: {type(exc).__name__}: {exc}"
            fuzz_results = [
                CheckResult(c, "fail", fail, time.perf_counter() - t0) for c in _FUZZ_CHECKS
            ]
            child_digest = f"error: {fail}"
        for r in fuzz_results:
            results[r.name] = r
    if wants_child_digest:
        if parent_digest is None:
            results["determinism_across_processes"] = CheckResult(
                "determinism_across_processes",
                "fail",
                "no digest in this process (see determinism)",
            )
        elif child_digest is None or child_digest.startswith("error: "):
            results["determinism_across_processes"] = CheckResult(
                "determinism_across_processes", "fail", f"child: {child_digest}"
            )
        elif child_digest != parent_digest:
            results["determinism_across_processes"] = CheckResult(
                "determinism_across_processes",
                "fail",
                f"episodes differ between this process and a fresh interpreter (digest "
                f"{parent_digest[:12]} vs {child_digest[:12]})",
            )
        else:
            results["determinism_across_processes"] = CheckResult(
                "determinism_across_processes", "pass", f"digest {parent_digest[:12]} in both"
            )

    if "state_round_trip" in selected:
        if family in ("box", "other"):
            results["state_round_trip"] = CheckResult("state_round_trip", "skip", "text envs only")
        else:
            results["state_round_trip"] = _check_state_round_trip(
                env_id, env_kwargs, family, seed, 12 if long else 4
            )
    for mode in ("sync", "async"):
        if f"vector_{mode}" in selected:
            results[f"vector_{mode}"] = _check_vector(
                mode, env_id, env_kwargs, family, seed, 50 if long else 12
            )
    # Cycles before use-after-close: an env that leaks on use after close must not skew them.
    if any(c in selected for c in _RESOURCE_CHECKS):
        n_cycles = cycles if cycles is not None else (1000 if long else 50)
        budget = _SHORT_CYCLES_BUDGET_S if cycles is None and not long else None
        for r in _check_cycles(
            env_id, env_kwargs, family, seed, n_cycles, rss_limit_mb, verbose, budget
        ):
            results[r.name] = r

    if "close_twice" in selected or "use_after_close" in selected:
        for r in _check_close(env_id, env_kwargs, family, seed):
            results[r.name] = r
    report.checks = [results[name] for name in CHECKS if name in selected and name in results]
    report.seconds = time.perf_counter() - started
    if verbose:
        print(
            f"{env_id}: max step time {report.max_step_time:.3f} s ({report.max_step_action}) "
            f"over {report.steps} hostile steps; max reset time {report.max_reset_time:.3f} s"
        )
    return report
