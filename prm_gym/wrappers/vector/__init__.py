"""Vector versions of the reward wrappers: one scorer or estimator call per vector step."""

from prm_gym.wrappers.vector.attribution import VectorProgressAttribution
from prm_gym.wrappers.vector.process import VectorProcessReward
from prm_gym.wrappers.vector.reward_code import VectorRewardCodeShaping
from prm_gym.wrappers.vector.shaping import VectorPotentialShaping

__all__ = [
    "VectorPotentialShaping",
    "VectorProcessReward",
    "VectorProgressAttribution",
    "VectorRewardCodeShaping",
]
