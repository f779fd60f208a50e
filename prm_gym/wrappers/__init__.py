"""Gymnasium wrappers that add dense reward terms (DESIGN §5).

Every wrapper records its term under its own name in ``info["reward_components"]`` (the env's
own reward as ``"outcome"``), so the components always sum to the reward returned.
"""

from prm_gym.wrappers.attribution import ProgressAttribution
from prm_gym.wrappers.choice import ChoiceActions, TextFeatures
from prm_gym.wrappers.components import add_reward_component, reward_components
from prm_gym.wrappers.gating import GatedAccumulation
from prm_gym.wrappers.observation import ChatObservation
from prm_gym.wrappers.process import ProcessReward
from prm_gym.wrappers.progress import ProgressReward
from prm_gym.wrappers.reward_code import RewardCodeShaping
from prm_gym.wrappers.shaping import PotentialShaping
from prm_gym.wrappers.transform import (
    MinFormCredit,
    PosteriorGate,
    RewardNormalize,
    RewardTransform,
)

__all__ = [
    "ChatObservation",
    "ChoiceActions",
    "GatedAccumulation",
    "MinFormCredit",
    "PosteriorGate",
    "PotentialShaping",
    "ProcessReward",
    "ProgressAttribution",
    "ProgressReward",
    "RewardCodeShaping",
    "RewardNormalize",
    "RewardTransform",
    "TextFeatures",
    "add_reward_component",
    "reward_components",
]
