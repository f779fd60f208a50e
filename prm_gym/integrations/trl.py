"""TRL adapter: an env's tasks as a ``datasets.Dataset`` and its rewards as GRPO reward functions.

TRL's ``GRPOTrainer`` (Shao et al., "DeepSeekMath: Pushing the Limits of Mathematical Reasoning
in Open Language Models", 2024 -- GRPO) samples completions for a dataset's ``prompt`` column and
scores each with reward functions ``f(prompts, completions, **columns) -> list[float]``, where
every other dataset column arrives as a keyword list. :func:`tasks_dataset` writes the columns
that let :class:`EnvOutcomeReward` and :class:`EnvProcessReward` rebuild each completion's task
(``task_id`` plus ``task_seed`` for procedural sources or ``task_index`` for datasets) and play
the completion as a single-turn episode of the env.

``datasets`` is imported by :func:`tasks_dataset`; ``trl`` is never imported here (the reward
functions are plain callables).

Example:
    >>> from prm_gym.integrations.trl import EnvOutcomeReward
    >>> import gymnasium as gym
    >>> import prm_gym
    >>> env = gym.make("prm/Math-v0", single_turn=True)
    >>> _ = env.reset(options={"task_seed": 3})
    >>> solution = "\\n".join(env.unwrapped.task.metadata["gold_steps"])
    >>> reward = EnvOutcomeReward("prm/Math-v0", single_turn=True)
    >>> reward(["..."], [solution], task_id=[env.unwrapped.task.id], task_seed=[3])
    [1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from prm_gym.core.scorer import Scorer
from prm_gym.wrappers.process import ProcessReward

__all__ = ["EnvOutcomeReward", "EnvProcessReward", "completion_text", "tasks_dataset"]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or chat messages (their assistant contents)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        parts = [
            str(m.get("content", ""))
            for m in completion
            if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"
        ]
        return "".join(parts)
    return str(completion)


def _reset_options(columns: Mapping[str, Sequence[Any]], row: int) -> dict[str, Any]:
    for key in ("task_seed", "task_index"):
        values = columns.get(key)
        if values is not None and values[row] is not None and int(values[row]) >= 0:
            return {key: int(values[row])}
    ids = columns.get("task_id")
    if ids is None:
        raise ValueError(
            "the reward function needs the dataset's task_seed, task_index or task_id column to "
            "find each completion's task; build the dataset with prm_gym.integrations.trl."
            "tasks_dataset (and keep its columns: GRPOConfig(remove_unused_columns=False) where "
            "needed)"
        )
    return {"task_id": str(ids[row])}


class _EnvReward:
    """Plays each completion as one episode of a (wrapped) env built once and reused."""

    __name__ = "env_reward"

    def __init__(
        self,
        env_id: str,
        wrap: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]] | None = None,
        **env_kwargs: Any,
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = env_kwargs
        self.wrap = wrap
        self._env: gym.Env[Any, Any] | None = None

    @property
    def env(self) -> gym.Env[Any, Any]:
        if self._env is None:
            env = gym.make(self.env_id, **self.env_kwargs)
            self._env = self.wrap(env) if self.wrap is not None else env
        return self._env

    def _value(self, reward: float, info: dict[str, Any]) -> float:
        raise NotImplementedError

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float]:
        """One reward per completion: play it as a single-step episode of its task."""
        out = []
        for row, completion in enumerate(completions):
            self.env.reset(options=_reset_options(columns, row))
            _, reward, _, _, info = self.env.step(completion_text(completion))
            out.append(self._value(float(reward), info))
        return out


class EnvOutcomeReward(_EnvReward):
    """TRL reward function: the env's outcome (``info["outcome"]``) for each completion.

    The completion is the single action of an episode on its task, so the env must take a whole
    solution in one step, e.g. ``EnvOutcomeReward("prm/Math-v0", single_turn=True)``.

    Args:
        env_id: Registered env id.
        wrap: Optional wrapper factory applied to the made env.
        **env_kwargs: Passed to ``gym.make``.
    """

    __name__ = "outcome"

    def _value(self, reward: float, info: dict[str, Any]) -> float:
        return float(info.get("outcome", 0.0) or 0.0)


class EnvProcessReward(_EnvReward):
    """TRL reward function: a scorer's step scores of each completion, aggregated.

    The env splits the completion into steps (``info["steps"]``, single-turn mode);
    :class:`~prm_gym.wrappers.ProcessReward` scores each in context and combines them with
    ``aggregate`` (``"min"`` is the min-form view of Cheng et al., "Stop Summation: Min-Form
    Credit Assignment Is All Process Reward Model Needs for Reasoning", 2025). The returned value
    is the ``process`` component of the episode's step.

    Args:
        env_id: Registered env id (single-turn mode, e.g. ``single_turn=True`` for Math-v0).
        scorer: Any :class:`~prm_gym.core.scorer.Scorer` (e.g. ``RuleVerifier()``).
        aggregate: ``"mean"``, ``"min"`` or ``"sum"`` over the completion's steps.
        **env_kwargs: Passed to ``gym.make``.
    """

    __name__ = "process"

    def __init__(
        self,
        env_id: str,
        scorer: Scorer,
        aggregate: Literal["mean", "min", "sum"] = "mean",
        **env_kwargs: Any,
    ) -> None:
        def wrap(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
            return ProcessReward(env, scorer, coef=1.0, name="process", aggregate=aggregate)

        super().__init__(env_id, wrap, **env_kwargs)

    def _value(self, reward: float, info: dict[str, Any]) -> float:
        return float(info.get("reward_components", {}).get("process", 0.0))


def tasks_dataset(
    env_id: str = "prm/Math-v0",
    n: int = 64,
    seed: int = 0,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    **env_kwargs: Any,
) -> Any:
    """``n`` of an env's tasks as a ``datasets.Dataset`` for TRL's ``GRPOTrainer``.

    Columns: ``prompt`` (chat messages ``[{"role": "user", "content": obs}]``, with a system
    message first when given, or the plain observation text with ``chat=False``), ``task_id``,
    ``answer`` (the gold as text), ``task_seed`` (procedural sources; ``-1`` otherwise) and
    ``task_index`` (dataset sources; ``-1`` otherwise). The prompt is the env's reset
    observation, so pass the same ``env_kwargs`` (e.g. ``single_turn=True``) as to the reward
    functions. Same arguments, same dataset.

    Args:
        env_id: Registered text env id.
        n: Number of rows.
        seed: Seeds the task draw.
        chat: Conversational (messages) or plain-text prompts.
        system_prompt: Optional system message (chat only).
        **env_kwargs: Passed to ``gym.make``.
    """
    try:
        from datasets import Dataset
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("tasks_dataset needs datasets: pip install 'prm-gym[trl]'") from exc
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    env = gym.make(env_id, **env_kwargs)
    source = getattr(env.unwrapped, "task_source", None)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("prompt", "task_id", "answer")}
    rows.update(task_seed=[], task_index=[])
    for k in range(n):
        if source is not None and hasattr(source, "__len__"):
            index = int(rng.integers(0, len(source)))
            options, task_seed, task_index = {"task_index": index}, -1, index
        else:
            task_seed = int(rng.integers(0, 2**31 - 1))
            options, task_index = {"task_seed": task_seed}, -1
        obs, info = env.reset(seed=seed + k, options=options)
        task = getattr(env.unwrapped, "task", None)
        text = str(obs)
        if chat:
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            messages.append({"role": "user", "content": text})
            rows["prompt"].append(messages)
        else:
            rows["prompt"].append(text)
        rows["task_id"].append(str(info.get("task_id", getattr(task, "id", ""))))
        rows["answer"].append("" if task is None else str(task.answer))
        rows["task_seed"].append(task_seed)
        rows["task_index"].append(task_index)
    env.close()
    return Dataset.from_dict(rows)
