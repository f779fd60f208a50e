"""Step scorers (DESIGN §4). Env-specific scorers live with their env family and are re-exported
here so users import every scorer from one place.

:class:`LearnedProgressPotential` is loaded on first access (module ``__getattr__``), so
``import prm_gym.rewards`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prm_gym.core.scorer import Potential, Scorer, StepContext
from prm_gym.envs.code.rewards import CodeProgress, WeightedTestPassReward, pass_at_k
from prm_gym.envs.math.progress import MathProgress
from prm_gym.envs.math.verifier import RuleVerifier, StepVerdict
from prm_gym.envs.sql.rewards import SQLPartialReward, SQLProgress, SQLRepeatPenalty
from prm_gym.envs.tools.rewards import (
    ToolCallASTMatch,
    ToolEfficiency,
    ToolProgress,
    ToolRLReward,
)

if TYPE_CHECKING:
    from prm_gym.rewards.hf_prm import RewardHeadPRM, TokenProbPRM
    from prm_gym.rewards.implicit_prm import ImplicitPRM, implicit_prm_loss, train_implicit_prm
    from prm_gym.rewards.judge import LLMJudge, parse_score
    from prm_gym.rewards.mc_progress import MCProgress, StepLabels, label_steps
    from prm_gym.rewards.prm_training import (
        PRMEvaluation,
        PRMSample,
        eval_prm,
        load_prm,
        make_prm_dataset,
        plot_prm_report,
        save_prm,
        step_auroc,
        train_prm,
    )
    from prm_gym.rewards.progress import LearnedProgressPotential, ProgressEstimator
    from prm_gym.rewards.reward_code import (
        CodeCheck,
        RewardCode,
        RewardCodeError,
        search_reward_code,
    )
    from prm_gym.rewards.spa import (
        ProgressPotential,
        TextProgressEstimator,
        VectorProgressEstimator,
    )

__all__ = [
    "CodeCheck",
    "CodeProgress",
    "ImplicitPRM",
    "LLMJudge",
    "LearnedProgressPotential",
    "MCProgress",
    "MathProgress",
    "PRMEvaluation",
    "PRMSample",
    "Potential",
    "ProgressEstimator",
    "ProgressPotential",
    "RewardCode",
    "RewardCodeError",
    "RewardHeadPRM",
    "RuleVerifier",
    "SQLPartialReward",
    "SQLProgress",
    "SQLRepeatPenalty",
    "Scorer",
    "StepContext",
    "StepLabels",
    "StepVerdict",
    "TextProgressEstimator",
    "TokenProbPRM",
    "ToolCallASTMatch",
    "ToolEfficiency",
    "ToolProgress",
    "ToolRLReward",
    "VectorProgressEstimator",
    "WeightedTestPassReward",
    "eval_prm",
    "implicit_prm_loss",
    "label_steps",
    "load_prm",
    "make_prm_dataset",
    "parse_score",
    "pass_at_k",
    "plot_prm_report",
    "save_prm",
    "search_reward_code",
    "step_auroc",
    "train_implicit_prm",
    "train_prm",
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
    "PRMEvaluation": "prm_gym.rewards.prm_training",
    "PRMSample": "prm_gym.rewards.prm_training",
    "eval_prm": "prm_gym.rewards.prm_training",
    "load_prm": "prm_gym.rewards.prm_training",
    "make_prm_dataset": "prm_gym.rewards.prm_training",
    "plot_prm_report": "prm_gym.rewards.prm_training",
    "save_prm": "prm_gym.rewards.prm_training",
    "step_auroc": "prm_gym.rewards.prm_training",
    "train_prm": "prm_gym.rewards.prm_training",
    "ProgressEstimator": "prm_gym.rewards.progress",
    "ProgressPotential": "prm_gym.rewards.spa",
    "TextProgressEstimator": "prm_gym.rewards.spa",
    "VectorProgressEstimator": "prm_gym.rewards.spa",
    "CodeCheck": "prm_gym.rewards.reward_code",
    "RewardCode": "prm_gym.rewards.reward_code",
    "RewardCodeError": "prm_gym.rewards.reward_code",
    "search_reward_code": "prm_gym.rewards.reward_code",
}


def __getattr__(name: str) -> Any:
    if name == "LearnedProgressPotential":
        from prm_gym.rewards.progress import LearnedProgressPotential

        return LearnedProgressPotential
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
