"""Env workers as Ray actors behind a Gymnasium vector env, with replay-based fault tolerance."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from prm_gym.core.vector import SubStep, merge_sub_steps, step_sub_env, sub_env_seeds

__all__ = ["EnvWorkerLost", "RayVectorEnv", "make_ray_vec", "require_ray", "worker_faults"]


def require_ray() -> Any:
    """Import and return ``ray``, or raise an :class:`ImportError` saying how to install it."""
    try:
        import ray
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "prm_gym.distributed needs Ray: pip install 'prm-gym[ray]' (or pip install ray)"
        ) from err
    return ray


def worker_faults(ray: Any) -> tuple[type[BaseException], ...]:
    """The Ray exceptions that mean "the actor is gone" (not an error raised by the env)."""
    unavailable = getattr(ray.exceptions, "ActorUnavailableError", None)  # Ray >= 2.30
    return (ray.exceptions.RayActorError,) + ((unavailable,) if unavailable else ())


class EnvWorkerLost(RuntimeError):
    """An env worker died or hung and its sub-env could not be restored (see :class:`RayVectorEnv`).

    Raised instead of losing an episode silently: ``index`` is the sub-env, ``restarts`` how many
    replacements were tried.
    """

    def __init__(self, message: str, index: int, restarts: int) -> None:
        super().__init__(message)
        self.index = index
        self.restarts = restarts


class _EnvWorker:
    """One sub-env inside a Ray actor (the class is wrapped with ``ray.remote`` at run time)."""

    def __init__(self, env_fn: Callable[[], gym.Env[Any, Any]]) -> None:
        self.env = env_fn()

    def spaces(self) -> tuple[gym.Space[Any], gym.Space[Any], dict[str, Any], Any]:
        return (
            self.env.observation_space,
            self.env.action_space,
            dict(self.env.metadata),
            self.env.spec,
        )

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        return self.env.step(action)

    def pid(self) -> int:
        import os

        return os.getpid()

    def close(self) -> None:
        self.env.close()


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except Exception:
        return False


class RayVectorEnv(VectorEnv[Any, Any, Any]):
    """A Gymnasium vector env whose sub-envs live in Ray actors (one env worker per sub-env).

    Every vector step sends each sub-env's action to its worker at once and waits for all of
    them, so ``num_envs`` sub-envs use up to ``num_envs`` CPUs of the Ray cluster. Seeds, autoreset
    modes and infos follow :class:`~gymnasium.vector.SyncVectorEnv` (``reset(seed=s)`` seeds
    sub-env ``i`` with ``s + i``), so for the same seeds and actions this env returns what
    ``gym.make_vec(..., vectorization_mode="sync")`` returns, and
    :func:`prm_gym.agents.rollout` collects the same trajectories over it.

    **Fault tolerance.** The driver keeps, per sub-env, the calls made to it since its worker was
    created (resets with their seeds and options, and actions). When a worker dies (its process is
    killed, its node is lost) or a call does not answer within ``step_timeout`` seconds (the worker
    is then killed), a new worker is started, the log is replayed into it, and the pending call is
    retried: the episode in progress carries on where it was, and no episode is lost or duplicated.
    This relies on the env being deterministic given its seeds and actions; when the replayed
    observation differs from the one recorded, or ``max_restarts`` replacements of one sub-env in
    a row fail, :class:`EnvWorkerLost` is raised (the episode is reported, never silently dropped).
    Replay time grows with the sub-env's history; errors raised by the env itself are not faults
    and propagate unchanged.

    Args:
        env_fn: Builds one sub-env inside a worker (pickled with cloudpickle: a lambda around
            ``gym.make`` and wrappers is fine), or one such factory per sub-env.
        num_envs: Sub-envs (= env workers).
        step_timeout: Seconds a reset/step may take before its worker counts as hung.
        max_restarts: Replacements tried in a row for one sub-env before giving up.
        autoreset_mode: As for :class:`~gymnasium.vector.SyncVectorEnv`.
        actor_options: Passed to ``.options()`` of each worker (e.g. ``{"num_cpus": 1}`` to
            reserve a CPU per sub-env, ``{"resources": {"sandbox": 1}}``). Default: Ray's actor
            default (a CPU to be placed, none held while running), so many light text envs
            share a node's CPUs.

    ``ray.init`` must have been called (locally, or ``ray.init(address=...)`` for a cluster); if
    not, Ray starts a local instance on first use.
    """

    def __init__(
        self,
        env_fn: Callable[[], gym.Env[Any, Any]] | Sequence[Callable[[], gym.Env[Any, Any]]],
        num_envs: int,
        *,
        step_timeout: float = 60.0,
        max_restarts: int = 3,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        ray = require_ray()
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if step_timeout <= 0:
            raise ValueError(f"step_timeout must be > 0, got {step_timeout}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {max_restarts}")
        self._ray = ray
        self._remote_cls = ray.remote(_EnvWorker)
        self._env_fns = list(env_fn) if isinstance(env_fn, Sequence) else [env_fn] * num_envs
        if len(self._env_fns) != num_envs:
            raise ValueError(f"got {len(self._env_fns)} env factories for {num_envs} sub-envs")
        self._actor_options = dict(actor_options or {})
        self.step_timeout = float(step_timeout)
        self.max_restarts = int(max_restarts)
        self.num_envs = int(num_envs)
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.workers = [self._new_worker(i) for i in range(self.num_envs)]
        self._logs: list[list[tuple[Any, ...]]] = [[] for _ in range(self.num_envs)]
        self._last_obs: list[Any] = [None] * self.num_envs
        self.restarts = 0  # workers replaced so far (all sub-envs)
        probes = [w.spaces.remote() for w in self.workers]
        ready, _ = ray.wait(probes, num_returns=len(probes), timeout=self.step_timeout)
        if len(ready) < len(probes):
            for worker in self.workers:
                ray.kill(worker, no_restart=True)
            raise RuntimeError(
                f"only {len(ready)} of {self.num_envs} env workers started within "
                f"{self.step_timeout:g} s; the Ray cluster ({ray.cluster_resources()}) may lack "
                f"the resources each asks for ({self._actor_options or 'Ray defaults'}), or the "
                "env is slow to build (raise step_timeout)"
            )
        obs_space, act_space, metadata, spec = ray.get(probes[0])
        self.single_observation_space = obs_space
        self.single_action_space = act_space
        self.observation_space = batch_space(obs_space, self.num_envs)
        self.action_space = batch_space(act_space, self.num_envs)
        self.metadata = {**metadata, "autoreset_mode": self.autoreset_mode}
        self.spec = spec
        self.render_mode = None
        self._observations: Any = create_empty_array(obs_space, n=self.num_envs, fn=np.zeros)
        self._autoreset_envs = np.zeros(self.num_envs, dtype=np.bool_)
        self._env_obs: list[Any] = [None] * self.num_envs

    # -- workers ----------------------------------------------------------------------------
    def _new_worker(self, i: int) -> Any:
        return self._remote_cls.options(**self._actor_options).remote(self._env_fns[i])

    def _call(self, i: int, entry: tuple[Any, ...]) -> Any:
        worker = self.workers[i]
        if entry[0] == "reset":
            return worker.reset.remote(entry[1], entry[2])
        return worker.step.remote(entry[1])

    def _run(self, entries: Sequence[tuple[Any, ...] | None]) -> list[Any]:
        """Run one call per sub-env (``None``: no call), replacing workers that fail."""
        ray = self._ray
        calls = {i: e for i, e in enumerate(entries) if e is not None}
        refs = {i: self._call(i, e) for i, e in calls.items()}
        results: list[Any] = [None] * len(entries)
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=self.step_timeout)
        ready_set = set(ready)
        for i, ref in refs.items():
            if ref in ready_set:
                try:
                    results[i] = ray.get(ref)
                    self._logs[i].append(calls[i])
                    self._last_obs[i] = results[i][0]
                    continue
                except worker_faults(ray):
                    pass
            results[i] = self._recover(i, calls[i])
        return results

    def _recover(self, i: int, entry: tuple[Any, ...]) -> Any:
        """Replace sub-env ``i``'s worker, replay its log, and run ``entry`` on the new worker."""
        ray = self._ray
        last_error: BaseException | None = None
        for attempt in range(1, self.max_restarts + 1):
            ray.kill(self.workers[i], no_restart=True)
            self.workers[i] = self._new_worker(i)
            self.restarts += 1
            try:
                replayed = None
                deadline = time.monotonic() + self.step_timeout * (len(self._logs[i]) + 1)
                refs = [self._call(i, e) for e in self._logs[i]]
                if refs:
                    replayed = ray.get(refs[-1], timeout=max(1.0, deadline - time.monotonic()))
                    if not _same(replayed[0], self._last_obs[i]):
                        raise EnvWorkerLost(
                            f"sub-env {i}: its worker was lost and replaying its history gave a "
                            "different observation (the env is not deterministic given its "
                            "seeds and actions), so its episode cannot be resumed",
                            i,
                            attempt,
                        )
                result = ray.get(self._call(i, entry), timeout=self.step_timeout)
                self._logs[i].append(entry)
                self._last_obs[i] = result[0]
                return result
            except EnvWorkerLost:
                raise
            except (*worker_faults(ray), ray.exceptions.GetTimeoutError) as err:
                last_error = err
        raise EnvWorkerLost(
            f"sub-env {i}: its worker died or hung and {self.max_restarts} replacements failed "
            f"(last error: {last_error!r}); its episode is reported as lost",
            i,
            self.max_restarts,
        )

    # -- Gymnasium API ----------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env (``options["reset_mask"]``: only those); seeds as SyncVectorEnv."""
        seeds = sub_env_seeds(seed, self.num_envs)
        options = dict(options) if options is not None else None
        mask = np.ones(self.num_envs, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options.pop("reset_mask"), dtype=bool)
            if mask.shape != (self.num_envs,) or not mask.any():
                raise ValueError("options['reset_mask'] must be a bool array of num_envs, any set")
        entries = [("reset", seeds[i], options) if mask[i] else None for i in range(self.num_envs)]
        results = self._run(entries)
        infos: dict[str, Any] = {}
        obs = self._env_obs
        for i, result in enumerate(results):
            if result is None:
                continue
            obs[i], info = result
            self._autoreset_envs[i] = False
            infos = self._add_info(infos, info, i)
        self._observations = concatenate(self.single_observation_space, obs, self._observations)
        return self._observations, infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env on its worker at once (autoreset as the env's mode says)."""
        acts = list(iterate(self.action_space, actions))
        mode = self.autoreset_mode
        # First round: a NEXT_STEP autoreset is a reset call, anything else a step call.
        first = [
            ("reset", None, None)
            if mode == AutoresetMode.NEXT_STEP and self._autoreset_envs[i]
            else ("step", acts[i])
            for i in range(self.num_envs)
        ]
        if mode == AutoresetMode.DISABLED and self._autoreset_envs.any():
            raise RuntimeError(
                "a sub-env that finished was stepped with autoreset DISABLED; reset it first "
                "with reset(options={'reset_mask': mask})"
            )
        raw = self._run(first)
        # SAME_STEP: finished sub-envs are reset in a second round, all at once.
        second: list[tuple[Any, ...] | None] = [None] * self.num_envs
        for i, entry in enumerate(first):
            if entry[0] == "step" and mode == AutoresetMode.SAME_STEP and (raw[i][2] or raw[i][3]):
                second[i] = ("reset", None, None)
        resets = self._run(second) if any(e is not None for e in second) else second

        results: list[SubStep] = []
        for i in range(self.num_envs):
            pending = iter([resets[i]])

            def step(_action: Any, _i: int = i) -> Any:
                return raw[_i]

            def reset(_i: int = i, _pending: Any = pending) -> Any:
                return raw[_i] if first[_i][0] == "reset" else next(_pending)

            results.append(step_sub_env(mode, bool(self._autoreset_envs[i]), acts[i], step, reset))
        obs, rewards, terminated, truncated, infos = merge_sub_steps(self, results)
        self._env_obs = obs
        self._observations = concatenate(self.single_observation_space, obs, self._observations)
        self._autoreset_envs = np.logical_or(terminated, truncated)
        return self._observations, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Close the sub-envs and stop their workers."""
        ray = self._ray
        for worker in self.workers:
            with contextlib.suppress(Exception):  # a dead worker has nothing left to close
                ray.get(worker.close.remote(), timeout=min(self.step_timeout, 10.0))
            ray.kill(worker, no_restart=True)
        self.workers = []


def make_ray_vec(
    env_id: str | gym.envs.registration.EnvSpec,
    num_envs: int,
    *,
    step_timeout: float = 60.0,
    max_restarts: int = 3,
    actor_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RayVectorEnv:
    """``gym.make_vec(env_id, num_envs, ...)`` with each sub-env in a Ray actor.

    ``kwargs`` go to ``gym.make`` in each worker. Wrap the result with vector wrappers
    (``VectorProcessReward``...) as you would a sync vector env.
    """

    def env_fn() -> gym.Env[Any, Any]:
        import prm_gym  # noqa: F401 - registers the prm/ envs inside the worker

        return gym.make(env_id, **kwargs)

    return RayVectorEnv(
        env_fn,
        num_envs,
        step_timeout=step_timeout,
        max_restarts=max_restarts,
        actor_options=actor_options,
    )
