"""prm/Math-v0: procedural and dataset maths problems with step verification."""

from prm_gym.envs.math.answers import answers_match, extract_final_answer, parse_number
from prm_gym.envs.math.env import MathEnv
from prm_gym.envs.math.experts import NoiseLevel, NoisySolver, corrupt_answer, corrupt_arithmetic
from prm_gym.envs.math.generator import FAMILIES, LEVELS, MathConfig, generate, solution_text
from prm_gym.envs.math.loaders import parse_math_record
from prm_gym.envs.math.progress import MathProgress, gold_units
from prm_gym.envs.math.steps import extract_claims, split_steps
from prm_gym.envs.math.verifier import RuleVerifier, StepChecker, StepVerdict, verify_steps

__all__ = [
    "FAMILIES",
    "LEVELS",
    "MathConfig",
    "MathEnv",
    "MathProgress",
    "NoiseLevel",
    "NoisySolver",
    "RuleVerifier",
    "StepChecker",
    "StepVerdict",
    "answers_match",
    "corrupt_answer",
    "corrupt_arithmetic",
    "extract_claims",
    "extract_final_answer",
    "generate",
    "gold_units",
    "parse_math_record",
    "parse_number",
    "solution_text",
    "split_steps",
    "verify_steps",
]
