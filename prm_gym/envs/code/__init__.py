"""prm/Code-v0: function-level Python problems checked by unit tests in the sandbox."""

from prm_gym.envs.code.env import CodeEnv, extract_code
from prm_gym.envs.code.loaders import (
    SHIPPED_PROBLEMS,
    load_code_jsonl,
    load_shipped_problems,
    parse_code_record,
)
from prm_gym.envs.code.rewards import (
    CodeProgress,
    FailedSubmissionCost,
    WeightedTestPassReward,
    pass_at_k,
)

__all__ = [
    "SHIPPED_PROBLEMS",
    "CodeEnv",
    "CodeProgress",
    "FailedSubmissionCost",
    "WeightedTestPassReward",
    "extract_code",
    "load_code_jsonl",
    "load_shipped_problems",
    "parse_code_record",
    "pass_at_k",
]
