"""Vector versions of the reward wrappers: one scorer / potential call per vector step."""

from prm_gym.wrappers.vector.process import VectorProcessReward
from prm_gym.wrappers.vector.shaping import VectorPotentialShaping

__all__ = ["VectorPotentialShaping", "VectorProcessReward"]
