"""Helpers shared by the vector wrappers: per-env views of vector infos and autoreset tracking."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

__all__ = ["AutoresetTracker", "VectorEpisodeTerms", "info_at", "set_components", "step_info"]


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


class AutoresetTracker:
    """Knows which sub-envs' current step is an autoreset step (action ignored, obs = new s₀)."""

    def __init__(self, env: VectorEnv[Any, Any, Any]) -> None:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.mode = AutoresetMode(mode) if isinstance(mode, str) else mode
        if self.mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"autoreset mode {self.mode} is not supported; use NEXT_STEP (the default) or "
                "SAME_STEP"
            )
        self.pending = np.zeros(env.num_envs, dtype=bool)

    def reset(self) -> None:
        self.pending[:] = False

    def resetting(self) -> np.ndarray:
        """Mask of sub-envs whose step now is a NEXT_STEP autoreset (call before ``update``)."""
        return self.pending.copy()

    def update(self, terminated: np.ndarray, truncated: np.ndarray) -> None:
        if self.mode == AutoresetMode.NEXT_STEP:
            self.pending = np.logical_or(terminated, truncated)


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
