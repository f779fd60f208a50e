"""WebShop's purchase reward, rule for rule.

Upstream: princeton-nlp/WebShop, ``web_agent_site/engine/goal.py`` (``get_reward``,
``get_attribute_reward``, ``get_option_reward``, ``get_type_reward``); colour and fuzzy-match
rules from ``web_agent_site/engine/normalize.py``, see :mod:`prm_gym.envs.webshop.normalize`.

R = (n_attr_matched + n_opt_matched + 1[price ≤ price_upper]) / (|attrs| + |options| + 1) × r_type

* **Attributes** (``get_attribute_reward``): a goal attribute matches when its fuzzy score
  (thefuzz's ``token_set_ratio``, :func:`~prm_gym.envs.webshop.normalize.fuzzy_score`) with one
  of the product's attributes is > 85, or, failing that, when it occurs as a substring of the
  lower-cased title, of the bullets joined by spaces, or of the lower-cased description.
* **Options** (``get_option_reward``): every goal option value and every chosen value goes
  through :func:`~prm_gym.envs.webshop.normalize.normalize_color` (``"navy blue"`` → ``"blue"``).
  Then each *chosen* option counts one match when

  - its group is ``size``: its value equals one of the goal's values exactly (``"small"`` does
    not match ``"x-small"``, nor ``"xl"`` match ``"x-large"``);
  - any other group: its fuzzy score with one of the goal's values is > 85;
  - otherwise still, when its value is a substring of the title, the joined bullets or the
    description (lower-cased), as WebShop does.

  The count is then capped at the number of goal options (see "Where we differ").
* **Price**: 1 when the product's price is ≤ ``price_upper``; a goal without a bound
  (``price_upper`` ``None``) counts 1, like WebShop's 1,000,000 dollar default.
* **r_type** (``get_type_reward``): ``query_match`` = same scrape query; ``category_match`` = at
  least 2 breadcrumb levels shared; ``title_score`` = share of the goal name's words found in the
  purchased product's title (0.2 when the name has none). r_type = 1; 0.5 when none of
  query_match, category_match, title_score > 0.2 holds; 0.1 when title_score < 0.1; 0 when
  title_score == 0.

Where we differ from WebShop, knowingly:

* ``title_score``: WebShop keeps the nouns and proper nouns spaCy tags in the two names; we keep
  every lower-cased alphanumeric word except stopwords
  (:func:`~prm_gym.envs.webshop.search.tokenize`), so there is no spaCy model to download.
* Option count: WebShop counts per *chosen* option, so a purchase with more chosen options than
  the goal has (possible with human goals that name fewer options than the product offers) can
  score options_matched > |options| and a reward above 1. We cap options_matched at |options|,
  so R stays in [0, 1]; below the cap the count is WebShop's.
* Price: WebShop draws each product's price once in its listed range; we use the catalog price.

Revisions: WebShop's history holds two option rules. This module follows ``goal.py`` at
princeton-nlp/WebShop commit ``6ba9969`` (exact match for ``size``, text fallback, counted per
chosen option). Another revision (``d149d0d``, also the copy several agent frameworks ship)
counts each *goal* option matched by the fuzzy score of any chosen value, with neither the
exact size rule nor the text fallback; both normalise colours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prm_gym.envs.webshop.catalog import Product
from prm_gym.envs.webshop.normalize import fuzzy_match, normalize_color
from prm_gym.envs.webshop.search import tokenize

__all__ = [
    "EXACT_MATCH_GROUPS",
    "PurchaseScore",
    "attribute_matches",
    "chosen_option_groups",
    "option_matches",
    "purchase_reward",
    "type_reward",
]

#: Option groups whose chosen value must equal a goal value exactly (WebShop's ``size``).
EXACT_MATCH_GROUPS = frozenset({"size"})


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


def _texts(product: Product) -> tuple[str, str, str]:
    """Title, bullets joined by spaces, description: lower-cased, as WebShop searches them."""
    return product.title.lower(), " ".join(product.bullets).lower(), product.description.lower()


def attribute_matches(attribute: str, product: Product) -> bool:
    """WebShop's attribute test: fuzzy score > 85 with a product attribute, else a substring of
    the title, the joined bullets or the description (the attribute itself is not lower-cased)."""
    if any(fuzzy_match(p_attr, attribute) for p_attr in product.attributes):
        return True
    return any(attribute in text for text in _texts(product))


def chosen_option_groups(
    product: Product, chosen_options: Mapping[str, str] | Sequence[str]
) -> dict[str, str]:
    """``{group: value}`` (values lower-cased) of a purchase's chosen options.

    A mapping is taken as ``{group: value}``. A list of values is keyed by the product's option
    group holding each value (``"option_i"`` for a value the product does not offer, which is
    then matched fuzzily); a later value of the same group replaces an earlier one, as a later
    click does in the env.

    Raises:
        TypeError: ``chosen_options`` is a string (a list of values was probably meant).
    """
    if isinstance(chosen_options, str):
        raise TypeError("chosen_options must be a list of option values or a {group: value} "
                        f"mapping, got the string {chosen_options!r}")  # fmt: skip
    if isinstance(chosen_options, Mapping):
        return {str(k): str(v).lower() for k, v in chosen_options.items()}
    groups = product.option_values()
    out: dict[str, str] = {}
    for i, value in enumerate(chosen_options):
        text = str(value).lower()
        out[groups.get(text, f"option_{i}")] = text
    return out


def option_matches(product: Product, chosen: Mapping[str, str], goal_options: Sequence[str]) -> int:
    """WebShop's (uncapped) option-match count of buying ``product`` with ``chosen``
    (``{group: value}``) for a goal asking ``goal_options`` (rule in the module docstring)."""
    wanted = [normalize_color(str(o)) for o in goal_options]
    texts = _texts(product)
    count = 0
    for group, raw in chosen.items():
        value = normalize_color(raw)
        if group.lower() in EXACT_MATCH_GROUPS:
            matched = value in wanted
        else:
            matched = any(fuzzy_match(g, value) for g in wanted)
        if matched or any(value in text for text in texts):
            count += 1
    return count


def type_reward(product: Product, goal: Mapping[str, Any]) -> tuple[float, float]:
    """``(r_type, title_score)`` of buying ``product`` for ``goal`` (rule in module docstring)."""
    query_match = product.query == goal.get("query")
    goal_crumbs = {str(b).strip() for b in goal.get("breadcrumb", ())}
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
    product: Product, chosen_options: Mapping[str, str] | Sequence[str], goal: Mapping[str, Any]
) -> PurchaseScore:
    """Score buying ``product`` with ``chosen_options`` for ``goal``.

    ``chosen_options``: ``{group: value}`` or a list of values (see
    :func:`chosen_option_groups`). ``goal`` keys: ``attributes`` (list of str), ``options``
    (list of option values, or a dict group -> value), ``price_upper`` (float or ``None``),
    ``name``, ``query``, ``breadcrumb``.
    """
    attributes = [str(a) for a in goal.get("attributes") or ()]
    raw_options = goal.get("options") or ()
    options = [str(v) for v in (raw_options.values() if isinstance(raw_options, Mapping)
                                else raw_options)]  # fmt: skip
    chosen = chosen_option_groups(product, chosen_options)
    n_attr = sum(attribute_matches(a, product) for a in attributes)
    n_opt = min(option_matches(product, chosen, options), len(options))
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
