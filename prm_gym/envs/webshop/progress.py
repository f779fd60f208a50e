"""A rule-based progress potential for prm/WebShop-v0, for :class:`PotentialShaping`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["WebShopProgress"]


class WebShopProgress:
    """Φ(obs, info) from ``info["progress_state"]`` (published by ``WebShopEnv``), in [0, 1].

    Φ = w₁·[the search's first page shows the target's category] + w₂·[the target is among the
    search results] + w₃·[the target's page is open] + w₄·(share of goal options chosen there).
    It reads only ``info`` (never the env), so it works behind any wrapper stack; with
    ``PotentialShaping(env, WebShopProgress(), gamma)`` the optimal policy is unchanged (Ng et
    al., 1999). Going back to search drops Φ to 0, so detours are paid back.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.envs.webshop import WebShopProgress
        >>> from prm_gym.wrappers import PotentialShaping
        >>> env = PotentialShaping(gym.make("prm/WebShop-v0", num_products=200),
        ...                        WebShopProgress(), gamma=1.0)
        >>> obs, info = env.reset(seed=0)
        >>> title = env.unwrapped.catalog.get(env.unwrapped.task.answer["asin"]).title
        >>> obs, reward, terminated, truncated, info = env.step(f"search[{title}]")
        >>> reward  # category shown and target listed: Φ 0 -> 0.5
        0.5
    """

    def __init__(self, weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)):
        if len(weights) != 4 or any(w < 0 for w in weights):
            raise ValueError("weights must be four non-negative numbers")
        self.weights = tuple(float(w) for w in weights)

    def __call__(self, observation: Any, info: Mapping[str, Any], /) -> float:
        state = info.get("progress_state")
        if not isinstance(state, Mapping):
            raise KeyError("WebShopProgress needs info['progress_state'] (from WebShopEnv)")
        terms = (
            float(bool(state.get("category_searched"))),
            float(bool(state.get("target_in_results"))),
            float(bool(state.get("target_opened"))),
            float(state.get("options_chosen", 0.0)) if state.get("target_opened") else 0.0,
        )
        return float(sum(w * t for w, t in zip(self.weights, terms, strict=True)))
