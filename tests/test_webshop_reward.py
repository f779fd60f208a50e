"""prm/WebShop-v0's purchase reward follows WebShop's own rules (``web_agent_site/engine/goal.py``).

Expected values are worked out by hand from WebShop's rules: colour normalisation of goal and
chosen option values, exact match for the ``size`` group, thefuzz's token-set score > 85 for
other groups and attributes, and the title / bullets / description substring fallback. The
end-to-end fixtures are tiny files in WebShop's JSON format (products, attributes, human
instructions), so no download is needed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from prm_gym.envs.webshop import (
    Product,
    WebShopEnv,
    generate_catalog,
    generate_goal,
    load_webshop_goals,
    load_webshop_products,
    purchase_reward,
    type_reward,
)
from prm_gym.envs.webshop.normalize import fuzzy_match, fuzzy_score, normalize_color
from prm_gym.envs.webshop.reward import attribute_matches, option_matches


def _product(title: str = "Acme Mug", bullets: tuple[str, ...] = (), description: str = "",
             attributes: tuple[str, ...] = ()) -> Product:  # fmt: skip
    return Product(
        asin="B0TESTMUG1", title=title, category="kitchen", product_type="mug", query="mug",
        breadcrumb=("kitchen", "mug"), attributes=attributes,
        options=(("color", ("navy", "white")), ("size", ("small", "large"))), price=10.0,
        description=description, bullets=bullets, reviews=(),
    )  # fmt: skip


# -- normalisation and fuzzy score ---------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("navy blue", "blue"),  # the alphabetically first colour found wins
        ("rose gold", "gold"),
        ("light grey", "grey"),
        ("dark-red", "dark"),
        ("standard", "tan"),  # a raw substring, not a word
        ("Navy", "Navy"),  # case-sensitive: unchanged
        ("x-large", "x-large"),
        ("", ""),
    ],
)
def test_normalize_color(value: str, expected: str) -> None:
    assert normalize_color(value) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("x-small", "small", 100),  # punctuation becomes a space: {"x", "small"} ⊇ {"small"}
        ("pack of 12", "12 pack", 100),
        ("Navy", "navy", 100),
        ("café", "caf", 100),  # non-ASCII characters are dropped
        ("xl", "x-large", 22),
        ("", "navy", 0),
    ],
)
def test_fuzzy_score_is_thefuzz_token_set_ratio(a: str, b: str, expected: int) -> None:
    assert fuzzy_score(a, b) == expected


def test_fuzzy_threshold_is_strictly_above_85() -> None:
    # rounded scores: 86 passes, 85 does not
    assert fuzzy_score("abcdefg", "abcdefgh") == 93 and fuzzy_match("abcdefg", "abcdefgh")
    assert fuzzy_score("navy", "navyblue") == 67 and not fuzzy_match("navy", "navyblue")


# -- option matching (per chosen option, as WebShop) ---------------------------------------
@pytest.mark.parametrize(
    ("product", "goal", "chosen", "expected"),
    [
        (_product(), ["navy blue"], {"color": "blue"}, 1),  # goal colour normalised
        (_product(), ["navy"], {"color": "navy blue"}, 0),  # chosen -> "blue" != "navy"
        (_product(), ["x-large"], {"size": "xl"}, 0),  # size: exact only
        (_product(), ["x-small"], {"size": "small"}, 0),  # size: exact although fuzzy is 100
        (_product(), ["x-small"], {"Size": "small"}, 0),  # group name compared lower-cased
        (_product(), ["Small"], {"size": "small"}, 0),  # exact is case-sensitive
        (_product(), ["small"], {"size": "small"}, 1),
        (_product(), ["x-small"], {"style": "small"}, 1),  # other groups: fuzzy
        (_product(), ["pack of 12"], {"style": "12 pack"}, 1),
        (_product(title="Acme White Mug"), ["red"], {"color": "white"}, 1),  # found in title
        (_product(description="a large mug"), ["small"], {"size": "large"}, 1),  # in description
        (_product(bullets=("in 12", "pack")), ["single"], {"size": "12 pack"}, 1),  # joined
        (_product(), ["navy", "navy"], {"color": "navy"}, 1),  # counted per chosen option
        (_product(), ["navy", "small"], {}, 0),
    ],
)
def test_option_matches_follow_webshop(
    product: Product, goal: list[str], chosen: dict[str, str], expected: int
) -> None:
    assert option_matches(product, chosen, goal) == expected


def test_option_count_is_capped_at_the_goal_options() -> None:
    """WebShop would count 2 of 1 here (reward 4/3); we cap at the number of goal options."""
    product = _product(title="Acme Large Mug")
    goal = {"attributes": [], "options": ["navy"], "price_upper": None, "name": "mug",
            "query": "mug", "breadcrumb": ["kitchen", "mug"]}  # fmt: skip
    assert option_matches(product, {"color": "navy", "size": "large"}, ["navy"]) == 2
    score = purchase_reward(product, {"color": "navy", "size": "large"}, goal)
    assert score.options_matched == 1 and score.reward == 1.0


def test_chosen_options_as_list_or_mapping_score_alike() -> None:
    product = _product()
    goal = {"attributes": [], "options": {"color": "navy", "size": "large"}, "price_upper": 20.0,
            "name": "mug", "query": "mug", "breadcrumb": ["kitchen", "mug"]}  # fmt: skip
    as_list = purchase_reward(product, ["NAVY", "small"], goal)
    as_map = purchase_reward(product, {"color": "navy", "size": "small"}, goal)
    assert as_list == as_map and as_list.options_matched == 1
    with pytest.raises(TypeError, match="chosen_options"):
        purchase_reward(product, "navy", goal)


# -- attributes, type ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("product", "attribute", "expected"),
    [
        (_product(attributes=("essential oil",)), "essential oils", True),  # fuzzy > 85
        (_product(attributes=("non gmo",)), "non-gmo", True),  # punctuation ignored
        (_product(title="Acme Tea Tree Shampoo"), "tea tree", True),  # title, lower-cased
        (_product(bullets=("made with tea", "tree oil")), "tea tree", True),  # joined bullets
        (_product(title="acme tea tree shampoo"), "Tea Tree", False),  # goal not lower-cased
        (_product(attributes=("tea bag",), title="English tea"), "natural ingredients", False),
    ],
)
def test_attribute_matches_follow_webshop(product: Product, attribute: str, expected: bool) -> None:
    assert attribute_matches(attribute, product) is expected


def test_query_match_is_plain_equality() -> None:
    product = _product(title="Acme Mug")
    goal = {"name": "mug handle lid cup saucer", "query": "mug", "breadcrumb": []}
    assert type_reward(product, goal) == (1.0, 0.2)  # query equal: no 0.5 penalty
    assert type_reward(product, {**goal, "query": "cup"}) == (0.5, 0.2)


# -- invariants over random purchases ------------------------------------------------------
def test_random_purchases_keep_the_reward_in_bounds() -> None:
    catalog = generate_catalog(200, seed=3)
    rng = random.Random(0)
    for seed in range(300):
        goal: dict[str, Any] = dict(generate_goal(catalog, seed).answer)
        target = catalog.get(goal["asin"])
        assert target is not None
        assert purchase_reward(target, dict(goal["options"]), goal).reward == 1.0
        if seed % 2:
            goal["options"] = {k: v for k, v in goal["options"].items() if rng.random() < 0.5}
        product = catalog[rng.randrange(len(catalog))] if seed % 3 else target
        chosen = {g: rng.choice(vals) for g, vals in product.options if rng.random() < 0.8}
        score = purchase_reward(product, chosen, goal)
        assert 0.0 <= score.reward <= 1.0
        assert score.options_matched <= score.num_options


# -- end to end on WebShop-format files ----------------------------------------------------
PRODUCTS = [
    {
        "asin": "B0SHIRT001", "name": "Acme Men's Long Sleeve Shirt", "category": "fashion",
        "query": "men's shirts", "product_category": "Clothing › Men › Shirts",
        "pricing": "$21.50",
        "customization_options": {
            "Color": [{"value": "Navy Blue"}, {"value": "Heather Grey"}, {"value": "Olive"}],
            "Size": [{"value": "Small"}, {"value": "X-Small"}, {"value": "X-Large"},
                     {"value": "XL"}],
        },
        "full_description": "A cotton shirt in olive tones.", "small_description": ["Button"],
    },
]  # fmt: skip
ATTRIBUTES = {"B0SHIRT001": {"attributes": ["long sleeve", "cotton"]}}
INSTRUCTIONS = {
    "B0SHIRT001": [
        {"instruction": "i need a long sleeve shirt in navy, size x-small.",
         "instruction_attributes": ["long sleeve"], "instruction_options": ["navy", "x-small"]},
        {"instruction": "i want a cotton shirt, heather grey, x-large.",
         "instruction_attributes": ["cotton"],
         "instruction_options": ["heather grey", "x-large"]},
    ],
}  # fmt: skip


@pytest.fixture
def shop(tmp_path: Path) -> WebShopEnv:
    files = {"items_shuffle.json": PRODUCTS, "items_ins_v2.json": ATTRIBUTES,
             "items_human_ins.json": INSTRUCTIONS}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_text(json.dumps(data))
    catalog = load_webshop_products(tmp_path / "items_shuffle.json", tmp_path / "items_ins_v2.json")
    tasks = load_webshop_goals(tmp_path / "items_human_ins.json", catalog)
    return WebShopEnv(tasks=tasks, catalog=catalog)


def _buy(env: WebShopEnv, task: int, options: list[str]) -> dict[str, Any]:
    env.reset(seed=0, options={"task_index": task})
    assert env.task is not None and env.task.id.endswith(f"-{task}")
    for action in ["search[shirt]", "click[b0shirt001]", *(f"click[{o}]" for o in options)]:
        _, _, _, _, info = env.step(action)
        assert info["action_valid"], info.get("error")
    _, reward, terminated, _, info = env.step("click[buy now]")
    assert terminated and info["outcome"] == reward
    purchase: dict[str, Any] = info["purchase"]
    return purchase


@pytest.mark.parametrize(
    ("task", "clicks", "options_matched"),
    [
        (0, ["navy blue", "x-small"], 1),  # chosen colour normalises to "blue" != goal "navy"
        (0, ["olive", "x-small"], 2),  # wrong colour, but "olive" is in the description
        (0, ["navy blue", "small"], 0),  # size is exact: "small" is not "x-small"
        (1, ["heather grey", "x-large"], 2),
        (1, ["heather grey", "xl"], 1),  # "xl" is not "x-large"
        (1, ["heather grey"], 1),  # no size chosen
    ],
)
def test_purchases_from_webshop_files(
    shop: WebShopEnv, task: int, clicks: list[str], options_matched: int
) -> None:
    purchase = _buy(shop, task, clicks)
    assert purchase["options_matched"] == options_matched
    assert purchase["attributes_matched"] == 1 and purchase["price_ok"]
    assert purchase["reward"] == pytest.approx((1 + options_matched + 1) / 4)
