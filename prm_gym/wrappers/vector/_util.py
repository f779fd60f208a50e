"""Reward-component helpers of the vector wrappers.

Autoreset tracking and per-sub-env info lookup live in :mod:`prm_gym.core.vector`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["VectorEpisodeTerms", "set_components"]


def set_components(
    infos: dict[str, Any], rewards: np.ndarray, name: str, values: np.ndarray
) -> tuple[np.ndarray, str]:
    """Record ``values`` under ``infos["reward_components"][name]`` (arrays over sub-envs).

    The first vector wrapper records the env's rewards as ``"outcome"``. Returns the new rewards
    (added in the same order, so they equal the sum of the component arrays) and the key used.
    """
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"reward component {name!r} is not finite; check the scorer/potential")
    comps = infos.setdefault("reward_components", {})
    if "outcome" not in comps:
        comps["outcome"] = np.asarray(rewards, dtype=np.float64).copy()
        comps["_outcome"] = np.ones(len(values), dtype=bool)
    key, k = name, 2
    while key in comps:
        key, k = f"{name}_{k}", k + 1
    comps[key] = values
    comps[f"_{key}"] = np.ones(len(values), dtype=bool)
    return np.asarray(rewards, dtype=np.float64) + values, key


class VectorEpisodeTerms:
    """Per sub-env, a vector per-step wrapper's own terms this episode (cf. ``EpisodeTerms``).

    When a sub-env's episode ends and a wrapper inside published ``step_rewards`` for it -- a
    vector wrapper at the top level, or the sub-env's own wrapper in its step info (the
    ``final_info`` entry after a ``SAME_STEP`` reset) -- :meth:`record` adds this wrapper's
    per-step terms for that sub-env to them, so they still sum to the episode's return. The
    ``NEXT_STEP`` autoreset step belongs to no episode and is not recorded.
    """

    def __init__(self, num_envs: int) -> None:
        self.values: list[list[float]] = [[] for _ in range(num_envs)]

    def reset(self) -> None:
        """Forget every sub-env's episode."""
        self.values = [[] for _ in self.values]

    def record(
        self,
        infos: dict[str, Any],
        terms: np.ndarray,
        resetting: np.ndarray,
        done: np.ndarray,
        same_step: bool,
    ) -> None:
        """Remember this vector step's terms; extend ``step_rewards`` of the finished sub-envs."""
        for i, term in enumerate(np.asarray(terms, dtype=np.float64)):
            if resetting[i]:
                self.values[i] = []
                continue
            self.values[i].append(float(term))
            if done[i]:
                self._extend(infos, i, same_step)
                self.values[i] = []

    def _extend(self, infos: dict[str, Any], i: int, same_step: bool) -> None:
        places = [infos, infos.get("final_info")] if same_step else [infos]
        for where in places:
            if not isinstance(where, dict) or "step_rewards" not in where:
                continue
            mask = where.get("_step_rewards")
            inner = where["step_rewards"][i]
            if (mask is not None and not bool(mask[i])) or inner is None:
                continue
            if len(inner) == len(self.values[i]):
                mine = np.asarray(self.values[i])
                where["step_rewards"][i] = (np.asarray(inner, np.float64) + mine).tolist()
            return
