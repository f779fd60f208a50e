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
from prm_gym.credit.transforms import (
    implicit_step_rewards,
    log_sigmoid_centering,
    par_transform,
    progress_from_values,
    vsrm_step_rewards,
    welford_update,
)

__all__ = [
    "discounted_returns",
    "gated_channels",
    "gated_rewards",
    "group_normalized_advantages",
    "implicit_step_rewards",
    "log_sigmoid_centering",
    "masked_whiten",
    "min_form_rewards",
    "min_form_weights",
    "par_transform",
    "potential_shaping",
    "prime_advantages",
    "progress_from_values",
    "rloo_advantages",
    "vsrm_step_rewards",
    "welford_update",
]
