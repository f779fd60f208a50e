"""Monte-Carlo step values and progress under a prover policy (PAV, Math-Shepherd, VSRM).

The value of a prefix is the fraction of rollouts of a *prover* policy μ, branched from the
env state after that prefix, that succeed:

.. math:: \\hat V^\\mu(s_h) = \\frac{1}{N}\\sum_{n=1}^{N} \\mathbb{1}[\\text{rollout } n
          \\text{ from } s_h \\text{ succeeds}]

and the progress of step ``h`` is :math:`A^\\mu(s_h, a_h) = \\hat V^\\mu(s_{h+1}) -
\\hat V^\\mu(s_h)` ("Rewarding Progress: Scaling Automated Process Verifiers for LLM
Reasoning", Setlur et al., 2024 -- PAV; partly unverified). From the same values,
Math-Shepherd labels step ``h`` *hard* = ``1[V(s_{h+1}) > 0]`` (some rollout reaches the gold
answer) and *soft* = ``V(s_{h+1})`` ("Math-Shepherd", Wang et al., 2024), and VSRM gives
``acc_{j+1} − acc_j`` with a discounted look-ahead over flat steps
(:func:`prm_gym.credit.vsrm_step_rewards`; VSRM, 2025).

Branching uses the env's ``get_state``/``set_state`` snapshots (:class:`prm_gym.core.TextEnv`);
rollouts step ``env.unwrapped`` so outer wrappers (time limits, reward wrappers) never see
them. A rollout succeeds when its final ``info["outcome"]`` (else its last reward) is at least
``success_threshold``; one that has not ended after ``max_rollout_steps`` fails.

The prover is any callable ``prover(observation, env) -> action``: an LLM policy ignores
``env``; a scripted prover may read public env attributes (the task, ``transcript``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.credit import progress_from_values, vsrm_step_rewards

__all__ = ["MCProgress", "StepLabels", "label_steps", "rollout_value"]

Prover = Callable[[Any, Any], Any]


def _success(reward: Any, info: dict[str, Any], threshold: float) -> bool:
    return float(info.get("outcome", reward)) >= threshold


def rollout_value(
    env: gym.Env[Any, Any],
    observation: Any,
    prover: Prover,
    n_rollouts: int = 8,
    *,
    max_rollout_steps: int = 64,
    success_threshold: float = 1.0,
) -> float:
    """V̂(s): fraction of ``n_rollouts`` prover rollouts from ``env``'s current state that succeed.

    ``observation`` is the observation the env showed in that state. The env is restored to
    the state on return.
    """
    base = env.unwrapped
    state = base.get_state()  # type: ignore[attr-defined]
    wins = 0
    try:
        for _ in range(n_rollouts):
            base.set_state(state)  # type: ignore[attr-defined]
            obs = observation
            for _ in range(max_rollout_steps):
                obs, reward, terminated, truncated, info = base.step(prover(obs, base))
                if terminated or truncated:
                    wins += _success(reward, info, success_threshold)
                    break
    finally:
        base.set_state(state)  # type: ignore[attr-defined]
    return wins / n_rollouts if n_rollouts else 0.0


@dataclass(frozen=True)
class StepLabels:
    """Per-step Monte-Carlo labels of one trajectory (``T`` steps).

    Attributes:
        values: ``V̂(s_0) .. V̂(s_T)``, shape ``(T + 1,)``; after a final step, the outcome.
        progress: PAV progress ``V̂(s_{h+1}) − V̂(s_h)``, shape ``(T,)``.
        hard: Math-Shepherd hard labels ``1[V̂(s_{h+1}) > 0]``, shape ``(T,)``.
        soft: Math-Shepherd soft labels ``V̂(s_{h+1})``, shape ``(T,)``.
        vsrm: VSRM step rewards, shape ``(T,)``.
    """

    values: np.ndarray
    progress: np.ndarray
    hard: np.ndarray
    soft: np.ndarray
    vsrm: np.ndarray


def label_steps(
    env: gym.Env[Any, Any],
    actions: Sequence[Any],
    prover: Prover,
    n_rollouts: int = 8,
    *,
    reset_kwargs: dict[str, Any] | None = None,
    max_rollout_steps: int = 64,
    success_threshold: float = 1.0,
    vsrm_lookahead: int = 4,
    vsrm_discount: float = 0.7,
) -> StepLabels:
    """Reset ``env`` (with ``reset_kwargs``), play ``actions`` and label every step by rollouts.

    For PRM training data: ``soft``/``hard`` are Math-Shepherd targets, ``progress`` PAV's.
    Actions after the episode ends are ignored (the labels cover the steps actually taken).
    """
    obs, _ = env.reset(**(reset_kwargs or {}))
    base = env.unwrapped

    def value(observation: Any) -> float:
        return rollout_value(
            env,
            observation,
            prover,
            n_rollouts,
            max_rollout_steps=max_rollout_steps,
            success_threshold=success_threshold,
        )

    values = [value(obs)]
    for action in actions:
        obs, reward, terminated, truncated, info = base.step(action)
        if terminated or truncated:
            values.append(float(_success(reward, info, success_threshold)))
            break
        values.append(value(obs))
    v = np.asarray(values, dtype=np.float64)
    return StepLabels(
        values=v,
        progress=progress_from_values(v),
        hard=(v[1:] > 0).astype(np.float64),
        soft=v[1:].copy(),
        vsrm=vsrm_step_rewards(v, vsrm_lookahead, vsrm_discount),
    )


class MCProgress:
    """A scorer of steps by prover rollouts: PAV progress, or the Math-Shepherd labels.

    For each :class:`~prm_gym.core.scorer.StepContext` a fresh env from ``env_factory`` is
    reset on ``context.task`` (``reset(options={"task": task})``), the earlier steps are
    replayed, and the step is scored by

    * ``"progress"``: ``V̂(s_{h+1}) − V̂(s_h)`` (PAV, 2024);
    * ``"soft"``: ``V̂(s_{h+1})`` (Math-Shepherd soft label);
    * ``"hard"``: ``1[V̂(s_{h+1}) > 0]`` (Math-Shepherd hard label).

    VSRM needs the steps after the scored one, so it is available from :func:`label_steps`
    only. Values of prefixes are cached per (task id, steps) for the scorer's lifetime, so an
    episode's step ``h + 1`` reuses the ``V̂(s_{h+1})`` computed for step ``h``.

    Args:
        env_factory: Builds an env of the family the contexts come from (``get_state`` and
            ``set_state`` on ``env.unwrapped``).
        prover: ``prover(observation, env) -> action``.
        n_rollouts: Rollouts per prefix (N).
        mode: ``"progress"``, ``"soft"`` or ``"hard"``.
        max_rollout_steps: A rollout still running after this many steps fails.
        success_threshold: Outcome a rollout needs to count as a success.
    """

    def __init__(
        self,
        env_factory: Callable[[], gym.Env[Any, Any]],
        prover: Prover,
        n_rollouts: int = 8,
        *,
        mode: Literal["progress", "soft", "hard"] = "progress",
        max_rollout_steps: int = 64,
        success_threshold: float = 1.0,
    ) -> None:
        if mode not in ("progress", "soft", "hard"):
            raise ValueError(f"mode must be 'progress', 'soft' or 'hard', got {mode!r}")
        self.env_factory = env_factory
        self.prover = prover
        self.n_rollouts = n_rollouts
        self.mode = mode
        self.max_rollout_steps = max_rollout_steps
        self.success_threshold = success_threshold
        self._env: gym.Env[Any, Any] | None = None
        self._values: dict[tuple[Any, tuple[str, ...]], float] = {}

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """One score per context (see the class docs), float32."""
        out = np.zeros(len(contexts), dtype=np.float32)
        for i, ctx in enumerate(contexts):
            if ctx.task is None:
                raise ValueError(
                    "MCProgress needs StepContext.task to branch rollouts from the task"
                )
            after = self._value(ctx.task, (*ctx.previous_steps, ctx.action))
            if self.mode == "progress":
                out[i] = after - self._value(ctx.task, tuple(ctx.previous_steps))
            elif self.mode == "soft":
                out[i] = after
            else:
                out[i] = float(after > 0)
        return out

    def _value(self, task: Any, steps: tuple[str, ...]) -> float:
        key = (getattr(task, "id", id(task)), steps)
        if key not in self._values:
            if self._env is None:
                self._env = self.env_factory()
            env = self._env
            obs, _ = env.reset(options={"task": task})
            base = env.unwrapped
            value: float | None = None
            for step in steps:
                obs, reward, terminated, truncated, info = base.step(step)
                if terminated or truncated:
                    value = float(_success(reward, info, self.success_threshold))
                    break
            if value is None:
                value = rollout_value(
                    env,
                    obs,
                    self.prover,
                    self.n_rollouts,
                    max_rollout_steps=self.max_rollout_steps,
                    success_threshold=self.success_threshold,
                )
            self._values[key] = value
        return self._values[key]
