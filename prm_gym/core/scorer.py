"""The scorer and potential protocols shared by rewards and wrappers (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

__all__ = ["Potential", "ProgressMeasure", "Scorer", "StepContext", "potential_batch"]


@dataclass(frozen=True)
class StepContext:
    """Everything a step scorer may look at.

    Attributes:
        prompt: The task prompt the agent was shown at reset.
        previous_steps: The agent's earlier actions this episode, oldest first.
        action: The action being scored.
        response: The env's response to it (the next observation).
        info: The env's ``info`` for this step (``action_valid``, ``task_id``, ...).
        task: The :class:`~prm_gym.core.task.Task` when the caller knows it (rule verifiers use
            its known values; learned scorers must not read its gold).
    """

    prompt: str
    previous_steps: tuple[str, ...]
    action: str
    response: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    task: Any = None


@runtime_checkable
class Scorer(Protocol):
    """Rates steps in batches: one float32 per context, in order."""

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray: ...


@runtime_checkable
class ProgressMeasure(Protocol):
    """Verified progress of an episode prefix, for the progress form of process reward (§5a).

    ``progress(contexts)[i]`` is Φ ∈ [0, 1] of the prefix that ends with ``contexts[i].action``
    (inclusive): how much of the task that prefix has verifiably achieved (the share of gold
    intermediate values established by correct steps, the share of gold tool calls made, the
    share of tests the submitted code passes, ...). :class:`~prm_gym.wrappers.ProgressReward`
    pays only the rise of the running maximum of Φ, so each unit of progress is paid once and
    repeating, padding, stalling or resubmitting earns nothing.
    """

    def progress(self, contexts: Sequence[StepContext]) -> np.ndarray: ...


@runtime_checkable
class Potential(Protocol):
    """A potential over states, Φ(obs, info) → float, for :class:`PotentialShaping`."""

    def __call__(self, observation: Any, info: Mapping[str, Any], /) -> float: ...


def potential_batch(potential: Potential, observations: Any, space: gym.Space[Any]) -> np.ndarray:
    """Φ of each row of a batch of observations, as a float64 ``(n,)`` array.

    Uses the potential's own ``batch`` method where it has one (``StagedPotential``,
    ``LearnedProgressPotential``: one NumPy or forward pass), else calls it on each row, the
    rows split by ``gymnasium.vector.utils.iterate(space, observations)`` (``space`` describes
    one row or the batch; for a ``Dict`` of arrays either works).
    """
    batch = getattr(potential, "batch", None)
    if batch is not None:
        return np.asarray(batch(observations), dtype=np.float64).reshape(-1)
    rows = gym.vector.utils.iterate(space, observations)
    return np.array([float(potential(row, {})) for row in rows], dtype=np.float64)
