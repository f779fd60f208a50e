"""The base class every ``prm/*`` text environment reuses.

Subclasses implement :meth:`TextEnv._act` (and optionally ``_begin``, ``_extra_state``,
``_restore_extra_state``, ``_release``); the base class owns seeding, task selection, action
validation, truncation, the transcript, snapshots and the shared ``info`` keys of DESIGN §3.
After :meth:`TextEnv.close` (idempotent), ``step`` and ``reset`` raise ``RuntimeError``.
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, SupportsFloat

import gymnasium as gym

from prm_gym.core.task import RecordParser, Task, TaskSource, as_task_source
from prm_gym.core.transcript import Transcript, Turn
from prm_gym.spaces import Text

__all__ = [
    "ActResult",
    "TextEnv",
    "abbreviate_action",
    "episode_limit",
    "validate_text_action",
]

_ALLOWED_CONTROL = {"\n", "\t", "\r"}


def validate_text_action(action: str, max_length: int) -> str | None:
    """Why ``action`` cannot be executed as text, or ``None`` when it can.

    Rejected: empty or whitespace-only text, text over ``max_length`` characters, text that is not
    valid Unicode (lone surrogates), binary-looking text (control characters other than newline
    and tab, or U+FFFD replacement characters from a failed decode), and text with no letter or
    digit in any script.
    """
    if not action.strip():
        return "empty action: write a step of text"
    if len(action) > max_length:
        return f"action too long: {len(action)} characters (limit {max_length})"
    try:
        action.encode("utf-8")
    except UnicodeEncodeError:
        return "action is not valid Unicode text (it contains lone surrogate code points)"
    for ch in action:
        if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROL):
            return f"action looks binary: it contains the control character U+{ord(ch):04X}"
    if not any(ch.isalnum() for ch in action):
        return "action has no letters or digits"
    return None


def episode_limit(max_turns: int | None, max_steps: int | None, default: int) -> int:
    """The action limit of an env whose own name for it is ``max_turns``.

    SQL-v0 and Code-v0 call their limit ``max_turns`` (as their issues did); the other envs call
    it ``max_steps``. Both are accepted, so ``gym.make(id, max_steps=n)`` works for every env.
    Giving both with different values is an error.
    """
    if max_turns is not None and max_steps is not None and max_turns != max_steps:
        raise ValueError(
            f"max_turns={max_turns} and max_steps={max_steps} name the same limit; give one"
        )
    limit = max_turns if max_turns is not None else max_steps
    limit = default if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"max_turns must be a positive integer, got {limit!r}")
    return limit


def abbreviate_action(action: str, max_length: int) -> str:
    """The action as transcripts record it: over-long actions keep their first 200 characters."""
    return action if len(action) <= max_length else action[:200] + "…"


@dataclass
class ActResult:
    """What a subclass's ``_act`` returns for one valid-looking action."""

    observation: str
    terminated: bool = False
    outcome: float | None = None
    action_valid: bool = True
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class TextEnv(gym.Env[str, str]):
    """A multi-turn text environment: observations and actions are ``str``.

    Native reward is the task outcome, given on the final step (0 on every other step); dense
    rewards come from wrappers. Invalid actions never raise: they cost the step, set
    ``info["action_valid"] = False`` and ``info["error"]``, and the episode continues until
    ``max_steps``. A non-``str`` action raises ``TypeError``.

    ``reset(options=...)`` accepts ``{"task": Task}``, ``{"task_id": str}`` or
    ``{"task_index": int}`` (dataset sources), or ``{"task_seed": int}`` (procedural sources).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"]}  # noqa: RUF012
    #: Single-attempt envs end the episode on an invalid action instead of letting it retry.
    terminate_on_invalid: bool = False

    def __init__(
        self,
        tasks: Any,
        *,
        default_tasks: Callable[[], TaskSource],
        parse_record: RecordParser,
        max_steps: int,
        max_action_length: int = 8192,
        max_observation_length: int = 16384,
        render_mode: str | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.task_source = as_task_source(tasks, default_tasks, parse_record)
        self.max_steps = max_steps
        self.max_action_length = max_action_length
        self.render_mode = render_mode
        self.action_space = Text(max_action_length)
        self.observation_space = Text(max_observation_length)
        self.task: Task | None = None
        self.transcript = Transcript(prompt="")
        self.num_steps = 0
        self._done = True
        self._closed = False

    # -- hooks for subclasses -------------------------------------------------------------
    def _begin(self, task: Task) -> str:
        """Prepare the episode for ``task`` and return the first observation."""
        return task.prompt

    def _act(self, action: str) -> ActResult:
        raise NotImplementedError

    def _extra_state(self) -> Any:
        """Subclass state to include in :meth:`get_state` (must be picklable)."""
        return None

    def _restore_extra_state(self, state: Any) -> None:
        return None

    def _release(self) -> None:
        """Free processes, connections and temp dirs (called once by :meth:`close`)."""
        return None

    # -- gymnasium API --------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        self._check_open("reset")
        super().reset(seed=seed)
        self.task = self._choose_task(options or {})
        self.num_steps = 0
        self._done = False
        observation = self._clip(self._begin(self.task))
        self.transcript = Transcript(prompt=observation)
        return observation, {"task_id": self.task.id}

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(
                f"{type(self).__name__}.step() takes a str action, got {type(action).__name__}; "
                "decode token ids to text before stepping (e.g. tokenizer.decode(ids))"
            )
        self._check_open("step")
        if self.task is None or self._done:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        self.num_steps += 1
        error = validate_text_action(action, self.max_action_length)
        if error is None:
            try:
                result = self._act(action)
            except Exception as exc:
                result = ActResult(
                    observation=f"Error: {type(exc).__name__}: {exc}",
                    action_valid=False,
                    error=f"the action could not be executed ({type(exc).__name__}: {exc})",
                )
        else:
            result = ActResult(
                observation=f"Invalid action: {error}",
                terminated=self.terminate_on_invalid,
                outcome=0.0,
                action_valid=False,
                error=error,
            )
        terminated = result.terminated
        truncated = not terminated and self.num_steps >= self.max_steps
        info: dict[str, Any] = {"task_id": self.task.id, "action_valid": result.action_valid}
        if result.error is not None:
            info["error"] = result.error
        info.update(result.info)
        reward = 0.0
        if terminated or truncated:
            outcome = float(result.outcome) if terminated and result.outcome is not None else 0.0
            info["outcome"] = outcome
            reward = outcome
            self._done = True
        observation = self._clip(result.observation)
        stored = abbreviate_action(action, self.max_action_length)
        self.transcript.turns.append(Turn(stored, observation, result.action_valid, result.error))
        if self.render_mode == "human":
            print(self.render_text())
        return observation, reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.render_text()
        if self.render_mode == "human":
            print(self.render_text())
        return None

    def render_text(self) -> str:
        return self.transcript.render()

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise RuntimeError(
                f"{type(self).__name__}.{method}() after close(): the env has released its "
                "resources (connections, sandboxes); make a new env with gym.make"
            )

    def close(self) -> None:
        """Release the env's resources. Idempotent; ``step``/``reset`` afterwards raise."""
        if not self._closed:
            self._closed = True
            self._release()
        super().close()

    # -- snapshots ------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A picklable snapshot of the episode, for branching rollouts from this step."""
        return {
            "task": self.task,
            "num_steps": self.num_steps,
            "done": self._done,
            "transcript": copy.deepcopy(self.transcript),
            "rng": copy.deepcopy(self.np_random.bit_generator.state),
            "extra": copy.deepcopy(self._extra_state()),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` (of this env or another of the same id)."""
        self.task = state["task"]
        self.num_steps = state["num_steps"]
        self._done = state["done"]
        self.transcript = copy.deepcopy(state["transcript"])
        self.np_random.bit_generator.state = copy.deepcopy(state["rng"])
        self._restore_extra_state(copy.deepcopy(state["extra"]))

    # -- helpers --------------------------------------------------------------------------
    def _choose_task(self, options: dict[str, Any]) -> Task:
        source = self.task_source
        if "task" in options:
            task = options["task"]
            if not isinstance(task, Task):
                raise TypeError("options['task'] must be a prm_gym.core.Task")
            return task
        if "task_id" in options:
            if not hasattr(source, "find"):
                raise ValueError("options['task_id'] needs a dataset task source")
            return source.find(options["task_id"])
        if "task_index" in options:
            if not hasattr(source, "get") or not hasattr(source, "__len__"):
                raise ValueError("options['task_index'] needs a dataset task source")
            return source.get(int(options["task_index"]))
        if "task_seed" in options:
            if hasattr(source, "__len__") or not hasattr(source, "get"):
                raise ValueError("options['task_seed'] needs a procedural task source")
            return source.get(int(options["task_seed"]))
        return source.sample(self.np_random)

    def _clip(self, text: str) -> str:
        limit = self.observation_space.max_length  # type: ignore[attr-defined]
        if len(text) <= limit:
            return text
        marker = "\n…[truncated]"
        return text[: limit - len(marker)] + marker
