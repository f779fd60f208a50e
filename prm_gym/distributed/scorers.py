"""Scorers (HF PRMs, LLM judges, reward-code sandboxes) as Ray actors, on GPUs when present."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from prm_gym.core.scorer import Scorer, StepContext
from prm_gym.distributed.envs import require_ray, worker_faults

__all__ = ["RemoteScorer"]


class _ScorerWorker:
    """One scorer inside a Ray actor (wrapped with ``ray.remote`` at run time)."""

    def __init__(self, factory: Callable[[], Scorer]) -> None:
        self.scorer = factory()

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.asarray(self.scorer.score(contexts), dtype=np.float64)


class RemoteScorer:
    """A :class:`~prm_gym.core.Scorer` whose work runs in ``num_actors`` Ray actors.

    Each actor builds its own scorer with ``factory`` (so a PRM's weights are loaded where it runs,
    not pickled from the driver). ``score(contexts)`` splits the batch into ``num_actors``
    contiguous chunks, scores them in parallel and returns the scores in the input order; use it
    anywhere a scorer goes (``ProcessReward``, ``VectorProcessReward``...).

    Placement: with ``num_gpus=None`` each actor asks for one GPU when the Ray cluster has any
    (``ray.cluster_resources()["GPU"]``) and for ``num_cpus`` CPUs otherwise; pass a fraction
    (``num_gpus=0.5``) to pack two scorers on one GPU, or ``actor_options`` for custom resources.

    Fault tolerance: a chunk whose actor died or did not answer within ``timeout`` seconds is
    re-scored on a replacement actor (scorers are stateless across calls), up to ``max_restarts``
    times per call; then :class:`RuntimeError` is raised.
    """

    def __init__(
        self,
        factory: Callable[[], Scorer],
        *,
        num_actors: int = 1,
        num_gpus: float | None = None,
        num_cpus: float = 1.0,
        timeout: float = 300.0,
        max_restarts: int = 2,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        ray = require_ray()
        if num_actors < 1:
            raise ValueError(f"num_actors must be >= 1, got {num_actors}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if num_gpus is None:
            num_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self._ray = ray
        self._factory = factory
        self._remote_cls = ray.remote(_ScorerWorker)
        self._options = {"num_gpus": num_gpus, "num_cpus": num_cpus, **(actor_options or {})}
        self.timeout = float(timeout)
        self.max_restarts = int(max_restarts)
        self.actors = [self._new_actor() for _ in range(num_actors)]
        self.restarts = 0

    def _new_actor(self) -> Any:
        return self._remote_cls.options(**self._options).remote(self._factory)

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """Scores of ``contexts`` (in order), computed across the actors."""
        contexts = list(contexts)
        if not contexts:
            return np.zeros(0, dtype=np.float64)
        chunks = [list(c) for c in np.array_split(np.arange(len(contexts)), len(self.actors))]
        jobs = [(a, idx) for a, idx in enumerate(chunks) if idx]
        out = np.zeros(len(contexts), dtype=np.float64)
        refs = [self.actors[a].score.remote([contexts[j] for j in idx]) for a, idx in jobs]
        for (a, idx), ref in zip(jobs, refs, strict=True):
            out[idx] = self._get(a, ref, [contexts[j] for j in idx])
        return out

    def _get(self, a: int, ref: Any, chunk: list[StepContext]) -> np.ndarray:
        ray = self._ray
        faults = (*worker_faults(ray), ray.exceptions.GetTimeoutError)
        for attempt in range(self.max_restarts + 1):
            try:
                return np.asarray(ray.get(ref, timeout=self.timeout), dtype=np.float64)
            except faults as err:
                if attempt == self.max_restarts:
                    raise RuntimeError(
                        f"scorer actor {a} died or hung {attempt + 1} times; last error: {err!r}"
                    ) from err
                ray.kill(self.actors[a], no_restart=True)
                self.actors[a] = self._new_actor()
                self.restarts += 1
                ref = self.actors[a].score.remote(chunk)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Stop the actors."""
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []
