"""Fixed input normalisation for SB3 policies on ``Dict`` observations.

Goal-conditioned manipulation observations are metres, m/s and a quaternion: positions differ by
centimetres, velocities by metres per second. HER's agents (Andrychowicz et al., "Hindsight
Experience Replay", 2017) therefore normalise every input, ``clip((x − mean) / max(std, 0.01),
−5, 5)``. :class:`NormalizedExtractor` does that inside the policy with *fixed* statistics, so
the replay buffer, ``compute_reward``, potentials and evaluation all keep raw observations.

Fixed rather than running statistics: with SB3's ``VecNormalize`` (running statistics, the same
floor and clip) SAC on ``prm/Push-v0`` learned markedly slower in our runs (seed 0, 70k env
steps: 0.05 vs 0.50 success with the staged potential + HER, 0.00 vs 0.20 with sparse + HER):
early on the block has not moved, so its features have almost no variance and every later push
saturates them, and the inputs keep drifting while the critic learns.
:func:`expert_observation_stats` computes the statistics once from noisy scripted-expert
episodes, which cover the states a successful policy visits; :func:`observation_stats` computes
them from any observations.

Example:
    >>> import gymnasium as gym
    >>> import prm_gym
    >>> from stable_baselines3 import SAC
    >>> from prm_gym.agents.obs_norm import NormalizedExtractor, expert_observation_stats
    >>> stats = expert_observation_stats("prm/Reach-v0", n_episodes=5)
    >>> sorted(stats)
    ['achieved_goal', 'desired_goal', 'observation']
    >>> model = SAC(
    ...     "MultiInputPolicy", gym.make("prm/Reach-v0"),
    ...     policy_kwargs={"features_extractor_class": NormalizedExtractor,
    ...                    "features_extractor_kwargs": {"stats": stats}},
    ... )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

__all__ = [
    "NORM_CLIP",
    "NORM_EPS",
    "NormalizedExtractor",
    "ObservationStats",
    "expert_observation_stats",
    "observation_stats",
]

NORM_CLIP = 5.0
"""Normalised inputs are clipped to ±NORM_CLIP (HER's setting)."""
NORM_EPS = 0.01
"""Standard deviations are floored at NORM_EPS (HER's setting): a feature that barely varies in
the statistics (the fingers of Push, which stay closed) is not blown up."""

ObservationStats = dict[str, tuple[list[float], list[float]]]
"""Per observation key: (mean, std), flat lists of floats (picklable into SB3 model files)."""


def observation_stats(
    observations: Mapping[str, npt.ArrayLike] | Sequence[Mapping[str, npt.ArrayLike]],
    eps: float = NORM_EPS,
) -> ObservationStats:
    """Per-key mean and standard deviation (floored at ``eps``) of a batch of observations.

    Args:
        observations: A dict of arrays with a leading batch axis (``{"observation": (n, d),
            ...}``), or a sequence of such dicts (e.g. demos), concatenated along that axis.
        eps: Smallest standard deviation.

    Raises:
        ValueError: No observations, keys that differ between the dicts, or non-finite values.
    """
    parts = [observations] if isinstance(observations, Mapping) else list(observations)
    if not parts:
        raise ValueError("observation_stats needs at least one batch of observations")
    keys = list(parts[0])
    if any(list(p) != keys for p in parts):
        raise ValueError("every batch of observations must have the same keys")
    stats: ObservationStats = {}
    for key in keys:
        x = np.concatenate(
            [
                np.asarray(p[key], dtype=np.float64).reshape(len(np.asarray(p[key])), -1)
                for p in parts
            ]
        )
        if x.size == 0 or not np.all(np.isfinite(x)):
            raise ValueError(f"observations[{key!r}] is empty or holds NaN/inf")
        stats[key] = (x.mean(axis=0).tolist(), np.maximum(x.std(axis=0), eps).tolist())
    return stats


def expert_observation_stats(
    env_id: str, n_episodes: int = 100, seed: int = 12_345, noise: float = 0.3
) -> ObservationStats:
    """:func:`observation_stats` of ``n_episodes`` noisy scripted-expert episodes.

    The default seed is fixed, so every run of a comparison normalises its inputs the same way.
    The demos come from the env family's ``expert_demos`` asset (the ``prm/*`` manipulation
    envs have scripted experts).

    Raises:
        ValueError: ``env_id``'s family has no scripted-expert demos.
    """
    import prm_gym  # noqa: F401  (registers the prm/* ids and their family assets)
    from prm_gym.core.assets import family_assets

    try:
        collect_demos = family_assets(env_id).expert_demos
    except KeyError:
        collect_demos = None
    if collect_demos is None:
        raise ValueError(f"{env_id} has no scripted-expert demos (FamilyAssets.expert_demos)")
    demos = collect_demos(env_id, n_episodes, seed, noise=noise)
    keys = ("observation", "achieved_goal", "desired_goal")
    return observation_stats([{k: d[k] for k in keys} for d in demos])


class NormalizedExtractor(BaseFeaturesExtractor):
    """Flattens a ``Dict`` observation and normalises it with fixed statistics.

    Features are the keys of ``observation_space`` in its order, each
    ``clip((x − mean) / std, −NORM_CLIP, NORM_CLIP)``.

    Args:
        observation_space: A ``gymnasium.spaces.Dict`` of ``Box`` es.
        stats: Per key (mean, std), e.g. from :func:`observation_stats`; it must cover exactly
            the space's keys with matching sizes.
    """

    def __init__(self, observation_space: gym.spaces.Dict, stats: Mapping[str, Any]) -> None:
        if not isinstance(observation_space, gym.spaces.Dict):
            raise ValueError(
                f"NormalizedExtractor needs a Dict observation space, got {observation_space}"
            )
        keys = list(observation_space.spaces)
        if set(stats) != set(keys):
            raise ValueError(
                f"stats must have exactly the observation keys {keys}, got {sorted(stats)}"
            )
        means, stds = [], []
        for key in keys:
            size = int(np.prod(observation_space[key].shape or (1,)))
            mean = np.asarray(stats[key][0], dtype=np.float32).reshape(-1)
            std = np.asarray(stats[key][1], dtype=np.float32).reshape(-1)
            if mean.shape != (size,) or std.shape != (size,):
                raise ValueError(
                    f"stats[{key!r}] must hold a mean and a std of {size} values, got "
                    f"{mean.size} and {std.size}"
                )
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
                raise ValueError(f"stats[{key!r}] needs finite means and positive stds")
            means.append(mean)
            stds.append(std)
        super().__init__(observation_space, features_dim=int(sum(m.size for m in means)))
        self.keys = keys
        self.register_buffer("mean", th.as_tensor(np.concatenate(means)))
        self.register_buffer("std", th.as_tensor(np.concatenate(stds)))

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        x = th.cat([observations[k].float().flatten(start_dim=1) for k in self.keys], dim=1)
        mean, std = self.get_buffer("mean"), self.get_buffer("std")
        return th.clamp((x - mean) / std, -NORM_CLIP, NORM_CLIP)
