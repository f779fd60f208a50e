"""Credit assignment: pure NumPy transforms of whole trajectories and groups of samples.

Shared by reward wrappers and trainers; no torch or gymnasium dependency. Trajectory inputs
have shape ``(..., T)`` with time on the last axis.
"""

from prm_gym.credit.advantages import (
    group_normalized_advantages,
    masked_whiten,
    prime_advantages,
    rloo_advantages,
)
from prm_gym.credit.returns import (
    discounted_returns,
    gated_channels,
    gated_rewards,
    min_form_rewards,
    min_form_weights,
    potential_shaping,
)

__all__ = [
    "discounted_returns",
    "gated_channels",
    "gated_rewards",
    "group_normalized_advantages",
    "masked_whiten",
    "min_form_rewards",
    "min_form_weights",
    "potential_shaping",
    "prime_advantages",
    "rloo_advantages",
]
