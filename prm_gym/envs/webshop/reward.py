"""WebShop's purchase reward (princeton-nlp/WebShop ``web_agent_site/engine/goal.py:get_reward``).

R = (n_attr_matched + n_opt_matched + 1[price ≤ price_upper]) / (|attrs| + |options| + 1) × r_type

* An attribute matches when rapidfuzz's ``token_set_ratio`` with one of the product's attributes
  is > 85, or it is a substring of the lower-cased title, bullets or description.
* An option matches when one of the chosen option values has ``token_set_ratio`` > 85 with it.
* The price term counts 1 when the goal has no price bound.
* r_type (type reward). WebShop parses nouns with spaCy; we use title tokens instead: the goal's
  product name (e.g. ``"running shoes"``) is tokenised (lower-cased alphanumeric words minus
  stopwords) and ``title_score`` = share of those tokens found in the purchased product's title
  tokens (0.2 if the name has none). ``query_match``: same scrape query; ``category_match``: at
  least 2 breadcrumb levels shared (ours are ``(category, type)``). Then, as WebShop:
  r_type = 1; 0.5 when none of query_match, category_match, title_score > 0.2 holds;
  0.1 when title_score < 0.1; 0 when title_score == 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from prm_gym.envs.webshop.catalog import Product
from prm_gym.envs.webshop.search import tokenize

__all__ = ["PurchaseScore", "attribute_matches", "purchase_reward", "type_reward"]


@dataclass(frozen=True)
class PurchaseScore:
    """The reward and its parts (published as ``info["purchase"]``)."""

    reward: float
    r_type: float
    attributes_matched: int
    options_matched: int
    price_ok: bool
    num_attributes: int
    num_options: int
    title_score: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def attribute_matches(attribute: str, product: Product) -> bool:
    """WebShop's attribute test: fuzzy match with a product attribute or a text substring."""
    attr = attribute.lower().strip()
    if any(fuzz.token_set_ratio(attr, a.lower()) > 85 for a in product.attributes):
        return True
    texts = (product.title, product.description, *product.bullets)
    return any(attr in t.lower() for t in texts)


def type_reward(product: Product, goal: Mapping[str, Any]) -> tuple[float, float]:
    """``(r_type, title_score)`` of buying ``product`` for ``goal`` (rule in module docstring)."""
    query_match = bool(goal.get("query")) and product.query == goal.get("query")
    goal_crumbs = set(goal.get("breadcrumb", ()))
    category_match = len(goal_crumbs & set(product.breadcrumb)) >= 2
    wanted = set(tokenize(str(goal.get("name", ""))))
    title = set(tokenize(product.title))
    title_score = len(wanted & title) / len(wanted) if wanted else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, title_score


def purchase_reward(
    product: Product, chosen_options: Sequence[str], goal: Mapping[str, Any]
) -> PurchaseScore:
    """Score buying ``product`` with ``chosen_options`` (option values) for ``goal``.

    ``goal`` keys: ``attributes`` (list of str), ``options`` (list of option values, or a dict
    group -> value), ``price_upper`` (float or ``None``), ``name``, ``query``, ``breadcrumb``.
    """
    attributes = [str(a) for a in goal.get("attributes", ())]
    raw_options = goal.get("options", ())
    options = [str(v) for v in (raw_options.values() if isinstance(raw_options, Mapping)
                                else raw_options)]  # fmt: skip
    n_attr = sum(attribute_matches(a, product) for a in attributes)
    chosen = [c.lower() for c in chosen_options]
    n_opt = sum(any(fuzz.token_set_ratio(o.lower(), c) > 85 for c in chosen) for o in options)
    upper = goal.get("price_upper")
    price_ok = upper is None or product.price <= float(upper)
    r_type, title_score = type_reward(product, goal)
    total = (n_attr + n_opt + int(price_ok)) / (len(attributes) + len(options) + 1)
    return PurchaseScore(
        reward=float(total * r_type),
        r_type=r_type,
        attributes_matched=n_attr,
        options_matched=n_opt,
        price_ok=price_ok,
        num_attributes=len(attributes),
        num_options=len(options),
        title_score=title_score,
    )
