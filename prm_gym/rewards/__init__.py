"""Step scorers (DESIGN §4). Env-specific scorers live with their env family and are re-exported
here so users import every scorer from one place."""

from prm_gym.core.scorer import Potential, Scorer, StepContext
from prm_gym.envs.code.rewards import WeightedTestPassReward, pass_at_k
from prm_gym.envs.math.verifier import RuleVerifier, StepVerdict
from prm_gym.envs.sql.rewards import SQLPartialReward

__all__ = [
    "Potential",
    "RuleVerifier",
    "SQLPartialReward",
    "Scorer",
    "StepContext",
    "StepVerdict",
    "WeightedTestPassReward",
    "pass_at_k",
]
