"""prm/ToolUse-v0: questions answered by chaining calls to deterministic, typed Python tools,
with ToolRL, BFCL-style AST and efficiency step scorers; BFCL's own data via ``load_bfcl``."""

from prm_gym.envs.tools.bfcl import (
    BFCLASTChecker,
    BFCLToolRegistry,
    bfcl_check_call,
    bfcl_verdict,
    load_bfcl,
)
from prm_gym.envs.tools.builtin import (
    CITIES,
    CURRENCY_RATES,
    default_registry,
)
from prm_gym.envs.tools.calls import (
    ParsedAction,
    answers_match,
    canonical_call,
    format_call,
    normalize_text,
    parse_action,
)
from prm_gym.envs.tools.env import ToolUseEnv
from prm_gym.envs.tools.generator import LEVELS, TEMPLATES, ToolUseConfig, generate
from prm_gym.envs.tools.knowledge import FACTS
from prm_gym.envs.tools.loaders import parse_tool_record
from prm_gym.envs.tools.registry import (
    Tool,
    ToolCallError,
    ToolContext,
    ToolRegistry,
    json_schema_for,
)
from prm_gym.envs.tools.rewards import (
    ToolCallASTMatch,
    ToolEfficiency,
    ToolRLReward,
    ast_check,
    ast_match,
    step_gold_calls,
    toolrl_correctness,
    toolrl_format,
)

__all__ = [
    "CITIES",
    "CURRENCY_RATES",
    "FACTS",
    "LEVELS",
    "TEMPLATES",
    "BFCLASTChecker",
    "BFCLToolRegistry",
    "ParsedAction",
    "Tool",
    "ToolCallASTMatch",
    "ToolCallError",
    "ToolContext",
    "ToolEfficiency",
    "ToolRLReward",
    "ToolRegistry",
    "ToolUseConfig",
    "ToolUseEnv",
    "answers_match",
    "ast_check",
    "ast_match",
    "bfcl_check_call",
    "bfcl_verdict",
    "canonical_call",
    "default_registry",
    "format_call",
    "generate",
    "json_schema_for",
    "load_bfcl",
    "normalize_text",
    "parse_action",
    "parse_tool_record",
    "step_gold_calls",
    "toolrl_correctness",
    "toolrl_format",
]
