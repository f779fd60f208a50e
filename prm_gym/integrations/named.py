"""Reward components under the names trainers log and baseline them by.

``info["reward_components"]`` splits every step's reward into named terms (``outcome``,
``progress``, ``efficiency``, ...; they sum to the reward). Trainers that normalise each reward
separately want those terms as named signals: NeMo-RL's GDPO (group reward-decoupled
normalisation: each reward gets its own group baseline before they are summed) reads one
``reward/<name>`` value per sample, and TRL logs one reward function per name
(``rewards/<name>/mean``). :func:`named_rewards` turns a step's info, an episode or a batch of
episodes into those names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["FORMATS", "named_rewards"]

FORMATS: dict[str, str] = {"gdpo": "reward/{}", "trl": "rewards/{}", "plain": "{}"}
"""Key pattern of each format: NeMo-RL GDPO, TRL's per-reward-function names, bare names."""

Format = Literal["gdpo", "trl", "plain"]


def _components(info: Mapping[str, Any]) -> dict[str, float]:
    components = info.get("reward_components")
    if isinstance(components, Mapping):
        return {str(k): float(v) for k, v in components.items()}
    return {}


def _episode(source: Any) -> dict[str, float]:
    """Per-component sums over an episode given as infos, a Trajectory or a TRL env instance."""
    infos = getattr(source, "infos", None)
    if infos is None and isinstance(getattr(source, "reward_components", None), Mapping):
        return {str(k): float(v) for k, v in source.reward_components.items()}
    if infos is None:
        infos = source
    totals: dict[str, float] = {}
    for info in infos:
        if not isinstance(info, Mapping):
            raise TypeError(f"an episode is a sequence of info dicts, got an item {info!r}")
        for name, value in _components(info).items():
            totals[name] = totals.get(name, 0.0) + value
    return totals


def _is_episode(source: Any) -> bool:
    if hasattr(source, "infos") or isinstance(getattr(source, "reward_components", None), Mapping):
        return True
    return (
        isinstance(source, Sequence)
        and not isinstance(source, (str, bytes))
        and all(isinstance(item, Mapping) for item in source)
    )


def named_rewards(
    info_or_trajectory: Any, format: Format = "gdpo"
) -> dict[str, float] | dict[str, list[float]]:
    """Reward components as named rewards.

    * an ``info`` dict (one step): ``{"reward/outcome": 0.0, "reward/progress": 0.1, ...}``;
    * an episode (a list of step infos, a :class:`~prm_gym.core.transcript.Trajectory`, or an
      instance from :func:`prm_gym.integrations.trl.environment_factory`): each component summed
      over the episode (its return per component);
    * a batch (a list of episodes): ``{"reward/<name>": [one value per episode]}``, 0.0 where an
      episode lacks a component: the per-sample tensors GDPO normalises within each group.

    The values of one step or episode sum to its reward (its return): the components are a
    split of the reward, not extra reward.

    Args:
        info_or_trajectory: One of the above.
        format: ``"gdpo"`` (``reward/<name>``, NeMo-RL), ``"trl"`` (``rewards/<name>``, TRL's
            log prefix for a reward function named ``<name>``) or ``"plain"`` (``<name>``).

    Example:
        >>> import prm_gym
        >>> from prm_gym.integrations import named_rewards
        >>> env = prm_gym.make_dense("prm/Math-v0")
        >>> _ = env.reset(seed=0)
        >>> info = env.step("1 + 1 = 2")[-1]
        >>> named_rewards(info)
        {'reward/outcome': 0.0, 'reward/progress': 0.0}
        >>> named_rewards([info, info], format="plain")
        {'outcome': 0.0, 'progress': 0.0}
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
    pattern = FORMATS[format]
    if isinstance(info_or_trajectory, Mapping):
        return {pattern.format(k): v for k, v in _components(info_or_trajectory).items()}
    if _is_episode(info_or_trajectory):
        return {pattern.format(k): v for k, v in _episode(info_or_trajectory).items()}
    if isinstance(info_or_trajectory, Sequence) and not isinstance(info_or_trajectory, str):
        episodes = [_episode(e) for e in info_or_trajectory]
        names: dict[str, None] = {}
        for totals in episodes:
            names.update(dict.fromkeys(totals))
        return {pattern.format(n): [t.get(n, 0.0) for t in episodes] for n in names}
    raise TypeError(
        "named_rewards takes an info dict, an episode (list of infos or a Trajectory) or a "
        f"list of episodes, got {type(info_or_trajectory).__name__}"
    )
