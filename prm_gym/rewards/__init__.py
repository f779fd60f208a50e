"""Step scorers (DESIGN §4). Env-specific scorers live with their env family and are re-exported
here so users import every scorer from one place.

:class:`LearnedProgressPotential` is loaded on first access (module ``__getattr__``), so
``import prm_gym.rewards`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prm_gym.core.scorer import Potential, Scorer, StepContext
from prm_gym.envs.code.rewards import WeightedTestPassReward, pass_at_k
from prm_gym.envs.math.verifier import RuleVerifier, StepVerdict
from prm_gym.envs.sql.rewards import SQLPartialReward
from prm_gym.envs.tools.rewards import ToolCallASTMatch, ToolEfficiency, ToolRLReward

if TYPE_CHECKING:
    from prm_gym.rewards.hf_prm import RewardHeadPRM, TokenProbPRM
    from prm_gym.rewards.implicit_prm import ImplicitPRM, implicit_prm_loss, train_implicit_prm
    from prm_gym.rewards.judge import LLMJudge, parse_score
    from prm_gym.rewards.mc_progress import MCProgress, StepLabels, label_steps
    from prm_gym.rewards.progress import LearnedProgressPotential

__all__ = [
    "ImplicitPRM",
    "LLMJudge",
    "LearnedProgressPotential",
    "MCProgress",
    "Potential",
    "RewardHeadPRM",
    "RuleVerifier",
    "SQLPartialReward",
    "Scorer",
    "StepContext",
    "StepLabels",
    "StepVerdict",
    "TokenProbPRM",
    "ToolCallASTMatch",
    "ToolEfficiency",
    "ToolRLReward",
    "WeightedTestPassReward",
    "implicit_prm_loss",
    "label_steps",
    "parse_score",
    "pass_at_k",
    "train_implicit_prm",
]

# Scorers that may import torch/transformers (or are heavy) load on first access.
_LAZY = {
    "ImplicitPRM": "prm_gym.rewards.implicit_prm",
    "implicit_prm_loss": "prm_gym.rewards.implicit_prm",
    "train_implicit_prm": "prm_gym.rewards.implicit_prm",
    "LLMJudge": "prm_gym.rewards.judge",
    "parse_score": "prm_gym.rewards.judge",
    "MCProgress": "prm_gym.rewards.mc_progress",
    "StepLabels": "prm_gym.rewards.mc_progress",
    "label_steps": "prm_gym.rewards.mc_progress",
    "RewardHeadPRM": "prm_gym.rewards.hf_prm",
    "TokenProbPRM": "prm_gym.rewards.hf_prm",
}


def __getattr__(name: str) -> Any:
    if name == "LearnedProgressPotential":
        from prm_gym.rewards.progress import LearnedProgressPotential

        return LearnedProgressPotential
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
