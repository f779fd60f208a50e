"""prm-gym: Gymnasium environments and wrappers for process-reward reinforcement learning.

``import prm_gym`` registers every ``prm/*`` id with Gymnasium; it imports neither torch nor
transformers.
"""

from __future__ import annotations

import gymnasium as gym

__version__ = "0.1.0"

# id -> (entry point, default kwargs, one-line description)
ENV_IDS: dict[str, tuple[str, dict[str, object], str]] = {
    "prm/Math-v0": (
        "prm_gym.envs.math.env:MathEnv",
        {},
        "Multi-step maths problems (arithmetic, linear equations, fractions; 5 levels); "
        "outcome reward, step labels for PRMs",
    ),
    "prm/Reach-v0": (
        "prm_gym.envs.manipulation.env:ReachEnv",
        {},
        "MuJoCo gripper reaches a goal point (goal-conditioned Dict obs, HER-ready); "
        "sparse/dense distance reward",
    ),
    "prm/Push-v0": (
        "prm_gym.envs.manipulation.env:PushEnv",
        {},
        "MuJoCo gripper pushes a block to a goal on the table; sparse/dense distance reward",
    ),
    "prm/PickPlace-v0": (
        "prm_gym.envs.manipulation.env:PickPlaceEnv",
        {},
        "MuJoCo gripper picks up a block and places it at a goal (half in the air); "
        "sparse/dense distance reward",
    ),
    "prm/SQL-v0": (
        "prm_gym.envs.sql.env:SQLEnv",
        {},
        "Text-to-SQL over 5 generated SQLite databases (24 patterns, 4 levels) or Spider/BIRD; "
        "<sql> exploration, <solution> scored by execution match",
    ),
    "prm/Code-v0": (
        "prm_gym.envs.code.env:CodeEnv",
        {},
        "Python functions checked by unit tests in a sandbox (60+ original problems, "
        "HumanEval/MBPP JSONL); test report each turn, outcome = all tests pass",
    ),
    "prm/ToolUse-v0": (
        "prm_gym.envs.tools.env:ToolUseEnv",
        {},
        "Questions needing 1-4 chained calls to 11 deterministic typed tools (JSON tool calls); "
        "outcome = final answer correct; ToolRL / BFCL-AST / efficiency step scorers",
    ),
    "prm/WebShop-v0": (
        "prm_gym.envs.webshop.env:WebShopEnv",
        {},
        "Text web shop: search[...] / click[...] over 1,000 generated products (BM25 search); "
        "outcome = WebShop purchase reward (attributes, options, price, type)",
    ),
}


def register_envs() -> None:
    """Register every ``prm/*`` id (idempotent)."""
    for env_id, (entry_point, kwargs, _) in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))


register_envs()

__all__ = ["ENV_IDS", "__version__", "register_envs"]
