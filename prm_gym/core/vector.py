"""Vector-env bookkeeping shared by the vector wrappers, ``rollout``, and the threaded and Ray envs.

Gymnasium's vector envs reset a finished sub-env automatically, in one of three
:class:`~gymnasium.vector.AutoresetMode` s:

* ``NEXT_STEP`` (the default): the step that ends an episode returns its last observation; the
  *next* ``step`` call only resets that sub-env (its action is ignored, its reward is 0, and the
  observation returned is the new episode's first one).
* ``SAME_STEP``: the sub-env is reset within the step that ended it; the returned observation and
  info are the reset's, the step's own ones are under ``infos["final_obs"]`` and
  ``infos["final_info"]``.
* ``DISABLED``: nothing is reset; the caller resets finished sub-envs with
  ``reset(options={"reset_mask": mask})``.

This module is the one implementation of those rules in prm-gym: :func:`step_sub_env` plays one
sub-env's step under a mode (used by :class:`ThreadedVectorEnv` and
:class:`prm_gym.distributed.RayVectorEnv`), :class:`AutoresetTracker` tells a wrapper or a rollout
loop which sub-envs' current step is an autoreset step, and :func:`info_at` / :func:`step_info`
read one sub-env's info out of a vector env's dict-of-arrays infos.

:class:`ThreadedVectorEnv` is a vector env for text envs whose steps block (SQL, code sandboxes,
tool calls, remote judges): it steps every sub-env in a thread pool, so a vector step takes as long
as its slowest sub-env step instead of the sum of them, and returns what
:class:`~gymnasium.vector.SyncVectorEnv` returns for the same seeds and actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.vector.utils import concatenate, iterate

__all__ = [
    "AutoresetTracker",
    "SubStep",
    "ThreadedVectorEnv",
    "autoreset_mode_of",
    "info_at",
    "make_threaded_vec",
    "merge_sub_steps",
    "step_info",
    "step_sub_env",
    "sub_env_seeds",
]


def sub_env_seeds(seed: int | list[int | None] | None, num_envs: int) -> list[int | None]:
    """One reset seed per sub-env, as Gymnasium's ``SyncVectorEnv.reset`` reads ``seed``:
    ``None`` for all, ``seed + i`` for an int, or the list as given (its length must match)."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, int):
        return [seed + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(
            f"If seeds are passed as a list the length must match num_envs={num_envs} "
            f"but got length={len(seeds)}."
        )
    return seeds


def autoreset_mode_of(env: VectorEnv[Any, Any, Any]) -> AutoresetMode:
    """The :class:`~gymnasium.vector.AutoresetMode` a vector env declares (default NEXT_STEP)."""
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return AutoresetMode(mode) if isinstance(mode, str) else mode


def info_at(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """The info of sub-env ``i`` from a vector env's dict-of-arrays info (masks respected)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if isinstance(value, dict):
            sub = info_at(value, i)
            if sub:
                out[key] = sub
        elif mask is None or bool(mask[i]):
            out[key] = value[i]
    return out


def step_info(infos: dict[str, Any], i: int, final: bool) -> dict[str, Any]:
    """The info sub-env ``i``'s step returned.

    In ``SAME_STEP`` autoreset mode a sub-env that finished is reset within the same call, so its
    top-level info is the *reset* info and the step's own info is under ``final_info``; pass
    ``final=True`` for such a sub-env to get the step's info.
    """
    info = info_at(infos, i)
    if final:
        inner = info.get("final_info")
        return dict(inner) if isinstance(inner, dict) else {}
    return info


class AutoresetTracker:
    """Knows which sub-envs' current step is an autoreset step (action ignored, obs = new s₀).

    Only ``NEXT_STEP`` has such steps; under ``SAME_STEP`` :meth:`resetting` is always all
    ``False``. ``DISABLED`` is refused with a :class:`ValueError` (wrappers and ``rollout`` need
    the env to reset its sub-envs).
    """

    def __init__(self, env: VectorEnv[Any, Any, Any]) -> None:
        self.mode = autoreset_mode_of(env)
        if self.mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"autoreset mode {self.mode} is not supported; use NEXT_STEP (the default) or "
                "SAME_STEP"
            )
        self.pending = np.zeros(env.num_envs, dtype=bool)

    def reset(self) -> None:
        """Forget pending autoresets (call on ``reset``)."""
        self.pending[:] = False

    def resetting(self) -> np.ndarray:
        """Mask of sub-envs whose step now is a NEXT_STEP autoreset (call before ``update``)."""
        return self.pending.copy()

    def update(self, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Record a vector step's dones (call after each ``step``)."""
        if self.mode == AutoresetMode.NEXT_STEP:
            self.pending = np.logical_or(terminated, truncated)


@dataclass
class SubStep:
    """One sub-env's share of a vector step, as Gymnasium's autoreset rules make it.

    ``infos`` are the dicts to merge into the vector info, in order (under ``SAME_STEP`` a finished
    sub-env contributes ``{"final_obs", "final_info"}`` and then its reset info).
    """

    obs: Any
    reward: float
    terminated: bool
    truncated: bool
    infos: list[dict[str, Any]]


def step_sub_env(
    mode: AutoresetMode,
    resetting: bool,
    action: Any,
    step: Callable[[Any], tuple[Any, Any, Any, Any, dict[str, Any]]],
    reset: Callable[[], tuple[Any, dict[str, Any]]],
) -> SubStep:
    """Play one sub-env's step of a vector step under autoreset ``mode``.

    Args:
        mode: The vector env's autoreset mode.
        resetting: Whether the sub-env finished on the previous step (``NEXT_STEP``: this step
            only resets it; ``DISABLED``: an error, the caller should have reset it).
        action: The sub-env's action (ignored on a ``NEXT_STEP`` reset step).
        step: ``env.step`` of the sub-env (or a remote equivalent).
        reset: ``env.reset`` with no arguments (the env's RNG carries on).
    """
    if mode == AutoresetMode.NEXT_STEP and resetting:
        obs, info = reset()
        return SubStep(obs, 0.0, False, False, [info])
    if mode == AutoresetMode.DISABLED and resetting:
        raise RuntimeError(
            "a sub-env that finished was stepped with autoreset DISABLED; reset it first with "
            "reset(options={'reset_mask': mask})"
        )
    obs, reward, terminated, truncated, info = step(action)
    out = SubStep(obs, float(reward), bool(terminated), bool(truncated), [info])
    if mode == AutoresetMode.SAME_STEP and (terminated or truncated):
        out.infos = [{"final_obs": obs, "final_info": info}]
        out.obs, reset_info = reset()
        out.infos.append(reset_info)
    return out


def merge_sub_steps(
    env: VectorEnv[Any, Any, Any], results: Sequence[SubStep]
) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Sub-env observations, rewards, terminations, truncations and the vector info of a step."""
    infos: dict[str, Any] = {}
    for i, result in enumerate(results):
        for info in result.infos:
            infos = env._add_info(infos, info, i)
    rewards = np.array([r.reward for r in results], dtype=np.float64)
    terminated = np.array([r.terminated for r in results], dtype=np.bool_)
    truncated = np.array([r.truncated for r in results], dtype=np.bool_)
    return [r.obs for r in results], rewards, terminated, truncated, infos


class ThreadedVectorEnv(SyncVectorEnv):
    """A :class:`~gymnasium.vector.SyncVectorEnv` that steps and resets its sub-envs in threads.

    For envs whose ``step`` blocks on I/O or on a subprocess (SQL queries, code sandboxes, tool
    calls, HTTP judges): all sub-envs step at once, so a vector step takes the time of its slowest
    sub-env, not the sum, and one slow sub-env delays the batch by its own latency only. Pure-Python
    CPU-bound steps gain nothing (the GIL); use ``vectorization_mode="async"`` (processes) or
    :mod:`prm_gym.distributed` for those.

    Results equal :class:`~gymnasium.vector.SyncVectorEnv`'s for the same seeds and actions
    (infos are merged in sub-env order), with the same autoreset modes (see this module's doc).
    Sub-envs must be independent objects (each thread touches only its own env). Use it as a
    context manager or call :meth:`close` to stop the threads.

    Args:
        env_fns: One env factory per sub-env.
        max_workers: Threads in the pool (default: one per sub-env).
        copy, observation_mode, autoreset_mode: As for :class:`~gymnasium.vector.SyncVectorEnv`.

    Example:
        >>> import gymnasium as gym, prm_gym
        >>> envs = make_threaded_vec("prm/Math-v0", 4)
        >>> obs, infos = envs.reset(seed=0)
        >>> len(obs)
        4
        >>> envs.close()
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env[Any, Any]]],
        *,
        max_workers: int | None = None,
        copy: bool = True,
        observation_mode: str | tuple[gym.Space[Any], gym.Space[Any]] = "same",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    ) -> None:
        env_fns = list(env_fns)
        if not env_fns:
            raise ValueError("ThreadedVectorEnv needs at least one env factory")
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        super().__init__(
            env_fns, copy=copy, observation_mode=observation_mode, autoreset_mode=autoreset_mode
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers or len(self.envs), thread_name_prefix="prm-gym-vec"
        )

    def _map(self, fn: Callable[[int], Any]) -> list[Any]:
        return list(self._pool.map(fn, range(self.num_envs)))

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the sub-envs (in parallel); seeds as :meth:`SyncVectorEnv.reset`."""
        seeds = sub_env_seeds(seed, self.num_envs)
        if options is not None and "reset_mask" in options:
            # Masked resets are rare (DISABLED mode); the parent's sequential path validates them.
            return super().reset(seed=seeds, options=options)
        results = self._map(lambda i: self.envs[i].reset(seed=seeds[i], options=options))
        self._terminations = np.zeros((self.num_envs,), dtype=np.bool_)
        self._truncations = np.zeros((self.num_envs,), dtype=np.bool_)
        self._autoreset_envs = np.zeros((self.num_envs,), dtype=np.bool_)
        infos: dict[str, Any] = {}
        for i, (obs, info) in enumerate(results):
            self._env_obs[i] = obs
            infos = self._add_info(infos, info, i)
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        return deepcopy(self._observations) if self.copy else self._observations, infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env at once (autoreset as the env's mode says)."""
        acts = list(cast(Iterator[Any], iterate(self.action_space, actions)))
        mode = AutoresetMode(self.autoreset_mode)

        def one(i: int) -> SubStep:
            env = self.envs[i]
            return step_sub_env(mode, bool(self._autoreset_envs[i]), acts[i], env.step, env.reset)

        results = self._map(one)
        obs, self._rewards, self._terminations, self._truncations, infos = merge_sub_steps(
            self, results
        )
        for i, o in enumerate(obs):
            self._env_obs[i] = o
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        return (
            deepcopy(self._observations) if self.copy else self._observations,
            np.copy(self._rewards),
            np.copy(self._terminations),
            np.copy(self._truncations),
            infos,
        )

    def __enter__(self) -> ThreadedVectorEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close_extras(self, **kwargs: Any) -> None:
        """Close the sub-envs and stop the thread pool."""
        super().close_extras(**kwargs)
        self._pool.shutdown(wait=True)


def make_threaded_vec(
    env_id: str | gym.envs.registration.EnvSpec,
    num_envs: int,
    *,
    max_workers: int | None = None,
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    **kwargs: Any,
) -> ThreadedVectorEnv:
    """``gym.make_vec(env_id, num_envs, vectorization_mode="sync", ...)``, stepped in threads.

    ``kwargs`` go to ``gym.make`` for every sub-env. The vector env's ``spec`` is the env's spec,
    so :func:`prm_gym.agents.rollout` and :mod:`prm_gym.distributed` can rebuild its sub-envs.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")

    def factory() -> gym.Env[Any, Any]:
        return gym.make(env_id, **kwargs)

    envs = ThreadedVectorEnv(
        [factory] * num_envs, max_workers=max_workers, autoreset_mode=autoreset_mode
    )
    first = envs.envs[0].spec
    envs.spec = first
    return envs
