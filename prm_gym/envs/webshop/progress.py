"""A rule-based progress potential for prm/WebShop-v0, for :class:`PotentialShaping`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["WebShopProgress"]


class WebShopProgress:
    """Φ(obs, info) from ``info["progress_state"]`` (published by ``WebShopEnv``), in
    ``[0, sum(weights)]`` (``[0, 1]`` with the default weights).

    Φ = w₁·c + w₂·t + w₃·o + w₄·(o · share), with four stages read from the current page state:

    ========  ===================================================================================
    c         ``category_searched``: the first results page of the current search
              (``results_per_page`` products) lists a product whose breadcrumb equals the
              goal's (generated catalogs: same category and product type). It holds on the
              item page and sub-pages reached from that search.
    t         ``target_in_results``: the target product is among the current search's results
              (any page, up to ``max_results``).
    o         ``target_opened``: the target's item page or one of its sub-pages
              (description, features, reviews) is open.
    share     ``options_chosen``: the share of the goal's option values selected on the
              target's page (1 when the goal has no options); counts only while ``o`` holds.
    ========  ===================================================================================

    So the oracle path search → click target → each option → buy reads 0, w₁ + w₂ (a good
    search), w₁ + w₂ + w₃, ... , Σw. ``back to search`` clears the search (every stage drops to
    0), opening another product drops ``o`` and ``share``; the drop is paid back as a negative
    shaping term, so detours cost. Φ does not look at attributes or price: it rewards reaching
    the target, and the purchase reward judges the rest. On the terminating ``buy now``
    :class:`~prm_gym.wrappers.PotentialShaping` takes Φ(s′) = 0, so the buy step's shaped
    reward is R − Φ(s): with ``weights`` summing to 1, buying the target with every option
    gives about 0 there (its progress was paid on the way) and buying early is penalised.

    It reads only ``info`` (never the env), so it works behind any wrapper stack; with
    ``PotentialShaping(env, WebShopProgress(), gamma)`` the optimal policy is unchanged (Ng et
    al., 1999), but not the learning dynamics: ``weights`` set the scale. With the default sum 1
    every early purchase is punished and the first option click pays at once, and MaskablePPO
    in ``benchmarks/webshop_rl.py`` then learns to re-click an option until the step limit and
    never buy (sum 1: seed 0 after 20k steps; sum 0.3: 2 of 3 seeds after 25.6k); a sum of 0.15
    (``(0.0375,) * 4``) keeps the shaping a hint next to the outcome reward and speeds learning
    there.

    Args:
        weights: ``(w₁, w₂, w₃, w₄)``, non-negative.

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
