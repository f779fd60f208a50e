"""Family assets of prm/WebShop-v0 (DESIGN §5b): dense stack, oracle, hacking policies.

The recommended dense stack is potential-based shaping with
:class:`~prm_gym.envs.webshop.progress.WebShopProgress` at γ = 0.99: progress toward the target
(a search that lists it, its page opened, its options chosen) is paid as it is reached and paid
back when it is lost, so clicking back and forth earns nothing, and under γ < 1 standing on a
page that shows progress costs (1 − γ)·Φ per step, so stalling at the target instead of buying
is worth less than buying. The hacking policies are the cheap ways to collect that progress
without the purchase.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from prm_gym.core.assets import FamilyAssets, Policy
from prm_gym.envs.webshop.experts import OracleShopper
from prm_gym.envs.webshop.progress import WebShopProgress

__all__ = ["ASSETS", "DENSE_COEF", "DENSE_GAMMA", "make_dense"]

DENSE_COEF = 0.15
"""Default total weight of the four progress stages (a hint next to the 0-1 outcome; at 1.0
MaskablePPO learned to re-click options instead of buying, see :class:`WebShopProgress`)."""

DENSE_GAMMA = 0.99
"""γ of the shaping term (the learner's discount)."""


def make_dense(
    env: gym.Env[Any, Any], *, coef: float | None = None, gamma: float = DENSE_GAMMA
) -> gym.Env[Any, Any]:
    """``PotentialShaping(env, WebShopProgress(weights=(coef/4,)*4), gamma)``."""
    from prm_gym.wrappers import PotentialShaping

    total = DENSE_COEF if coef is None else float(coef)
    return PotentialShaping(env, WebShopProgress(weights=(total / 4,) * 4), gamma=gamma)


def _oracle_policy(stop_before: str | None = None) -> Policy:
    """The oracle, optionally diverted once it would take ``stop_before``."""
    state: dict[str, Any] = {}

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        unwrapped: Any = env.unwrapped
        if "oracle" not in state:
            state["oracle"] = OracleShopper(unwrapped.catalog)
        action = state["oracle"].act(unwrapped.task, info)
        if stop_before is not None and action == stop_before:
            return _stall_action(info)
        return action

    return act


def _stall_action(info: Mapping[str, Any]) -> str:
    """A harmless click that keeps the current progress: a sub-page and back."""
    actions = list(info.get("available_actions", ()))
    for candidate in ("click[description]", "click[< prev]"):
        if candidate in actions:
            return candidate
    return actions[0] if actions else "click[< prev]"


def _gold() -> Policy:
    return _oracle_policy()


def _stall_at_target() -> Policy:
    """Reach the target with every option chosen, then browse its sub-pages until the step
    limit instead of buying."""
    return _oracle_policy(stop_before="click[buy now]")


def _buy_first_result() -> Policy:
    """Search the instruction's words and buy the first product listed."""
    step = [0]

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        step[0] += 1
        actions = list(info.get("available_actions", ()))
        if info.get("has_search_bar"):
            task: Any = getattr(env.unwrapped, "task", None)
            return f"search[{task.prompt}]"
        products = [a for a in actions if a.startswith("click[") and a[6:-1].startswith("b")]
        if "click[buy now]" in actions:
            return "click[buy now]"
        return products[0] if products else _stall_action(info)

    return act


def _search_back_and_forth() -> Policy:
    """Search the target's title, go back to search, and again: the progress of a good search
    collected over and over."""

    def act(obs: Any, info: Mapping[str, Any], env: gym.Env[Any, Any]) -> Any:
        unwrapped: Any = env.unwrapped
        if info.get("has_search_bar"):
            product = unwrapped.catalog.get(str(unwrapped.task.answer["asin"]))
            return f"search[{product.title if product else unwrapped.task.prompt}]"
        return "click[back to search]"

    return act


ASSETS = FamilyAssets(
    make_dense=make_dense,
    gold_policy=_gold,
    hack_policies={
        "stall_at_target": _stall_at_target,
        "buy_first_result": _buy_first_result,
        "search_back_and_forth": _search_back_and_forth,
    },
    default_coef=DENSE_COEF,
    extras={"oracle": OracleShopper},
)
