"""prm-gym: Gymnasium environments and wrappers for process-reward reinforcement learning.

``import prm_gym`` registers every ``prm/*`` id with Gymnasium; it imports neither torch nor
transformers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

from prm_gym.core.assets import family_assets, register_assets

__version__ = "0.1.0"


class EnvSpec(NamedTuple):
    """One register line: where the env lives, its default kwargs, what it is, and where its
    family's assets (:class:`~prm_gym.core.assets.FamilyAssets`) are."""

    entry_point: str
    kwargs: dict[str, object]
    description: str
    assets: str
    wrappers: tuple[str, ...] = ()
    """Entry points of wrappers ``gym.make`` adds outermost (``additional_wrappers``)."""


_MATH = "prm_gym.envs.math.assets:ASSETS"
_MANIPULATION = "prm_gym.envs.manipulation.assets:ASSETS"
_GOAL_API = ("prm_gym.envs.manipulation.goal_api:GoalEnvAPI",)

ENV_IDS: dict[str, EnvSpec] = {
    "prm/Math-v0": EnvSpec(
        "prm_gym.envs.math.env:MathEnv",
        {},
        "Multi-step maths problems (arithmetic, linear equations, fractions; 5 levels); "
        "outcome reward, step labels for PRMs",
        _MATH,
    ),
    "prm/Reach-v0": EnvSpec(
        "prm_gym.envs.manipulation.env:ReachEnv",
        {},
        "MuJoCo gripper reaches a goal point (goal-conditioned Dict obs, HER-ready); "
        "sparse/dense distance reward",
        _MANIPULATION,
        _GOAL_API,
    ),
    "prm/Push-v0": EnvSpec(
        "prm_gym.envs.manipulation.env:PushEnv",
        {},
        "MuJoCo gripper pushes a block to a goal on the table; sparse/dense distance reward",
        _MANIPULATION,
        _GOAL_API,
    ),
    "prm/PickPlace-v0": EnvSpec(
        "prm_gym.envs.manipulation.env:PickPlaceEnv",
        {},
        "MuJoCo gripper picks up a block and places it at a goal (half in the air); "
        "sparse/dense distance reward",
        _MANIPULATION,
        _GOAL_API,
    ),
    "prm/SQL-v0": EnvSpec(
        "prm_gym.envs.sql.env:SQLEnv",
        {},
        "Text-to-SQL over 5 generated SQLite databases (24 patterns, 4 levels) or Spider/BIRD; "
        "<sql> exploration, <solution> scored by execution match",
        "prm_gym.envs.sql.assets:ASSETS",
    ),
    "prm/Code-v0": EnvSpec(
        "prm_gym.envs.code.env:CodeEnv",
        {},
        "Python functions checked by unit tests in a sandbox (60+ original problems, "
        "HumanEval/MBPP JSONL); test report each turn, outcome = all tests pass",
        "prm_gym.envs.code.assets:ASSETS",
    ),
    "prm/ToolUse-v0": EnvSpec(
        "prm_gym.envs.tools.env:ToolUseEnv",
        {},
        "Questions needing 1-4 chained calls to 11 deterministic typed tools (JSON tool calls); "
        "outcome = final answer correct; ToolRL / BFCL-AST / efficiency step scorers",
        "prm_gym.envs.tools.assets:ASSETS",
    ),
    "prm/WebShop-v0": EnvSpec(
        "prm_gym.envs.webshop.env:WebShopEnv",
        {},
        "Text web shop: search[...] / click[...] over 1,000 generated products (BM25 search); "
        "outcome = WebShop purchase reward (attributes, options, price, type)",
        "prm_gym.envs.webshop.assets:ASSETS",
    ),
}


def register_envs() -> None:
    """Register every ``prm/*`` id and its family assets (idempotent)."""
    for env_id, spec in ENV_IDS.items():
        if env_id not in gym.registry:
            wrappers = tuple(
                WrapperSpec(name=path.rpartition(":")[2], entry_point=path, kwargs={})
                for path in spec.wrappers
            )
            gym.register(
                id=env_id,
                entry_point=spec.entry_point,
                kwargs=dict(spec.kwargs),
                additional_wrappers=wrappers,
            )
        register_assets(env_id, spec.assets)


def make_dense(env_id: str, coef: float | None = None, **env_kwargs: Any) -> gym.Env[Any, Any]:
    """``gym.make(env_id, **env_kwargs)`` wrapped in its family's recommended dense stack.

    The stack is hack-resistant by construction (DESIGN §5a): dense terms pay verified progress
    once (:class:`~prm_gym.wrappers.ProgressReward`) or are potential-based
    (:class:`~prm_gym.wrappers.PotentialShaping`), so repeating, padding, stalling or
    resubmitting earns nothing; each env's docstring (Rewards section) names its stack, and
    :func:`prm_gym.testing.check_reward_integrity` measures it against the family's hacking
    policies.

    Args:
        env_id: A registered id with family assets (every ``prm/*`` id).
        coef: Weight of the dense terms (``None``: the family's default).
        **env_kwargs: Passed to ``gym.make``.

    Example:
        >>> import prm_gym
        >>> env = prm_gym.make_dense("prm/Math-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step("1 + 1 = 2")
        >>> reward == sum(info["reward_components"].values())
        True
    """
    assets = family_assets(env_id)
    return assets.make_dense(gym.make(env_id, **env_kwargs), coef=coef)


register_envs()

__all__ = ["ENV_IDS", "EnvSpec", "__version__", "family_assets", "make_dense", "register_envs"]
