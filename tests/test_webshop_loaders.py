"""Loading WebShop's own data files (princeton-nlp/WebShop ``data/``) into prm/WebShop-v0.

The fixtures are tiny files in the original schema: ``items_shuffle_1000.json`` (a list of
scraped products), ``items_ins_v2_1000.json`` (attributes per asin) and ``items_human_ins.json``
(human instructions per asin).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prm_gym.envs.webshop import (
    OracleShopper,
    WebShopEnv,
    load_webshop_goals,
    load_webshop_products,
)

PRODUCTS: list[dict[str, Any]] = [
    {
        "asin": "B09QKP7XQL",
        "name": "Women's Long Sleeve Hoodie Pullover Sweatshirt with Pocket",
        "category": "fashion",
        "query": "Women's Hoodies ",
        "product_category": "Clothing, Shoes & Jewelry › Women › Clothing › Fashion Hoodies",
        "pricing": "$23.99",
        "customization_options": {
            "Color": [{"value": "Navy Blue", "image": "https://x/1.jpg"},
                      {"value": "Black/White", "image": None}],
            "Size": [{"value": "Small", "image": None}, {"value": "X-Large", "image": None}],
        },
        "full_description": "A soft hoodie for everyday wear. Machine wash cold.",
        "small_description": ["Polyester and spandex", "Drawstring hood"],
        "images": ["https://x/main.jpg"],
        "product_information": {"Department": "Womens"},
        "brand": "Acme",
        "Reviews": [{"score": 5, "body": "Warm and cosy"}, {"stars": "4", "review": "Nice"}],
    },
    {
        "asin": "B07ZFJ5PQM",
        "name": "Organic Green Tea Bags, 100 Count",
        "category": "grocery",
        "query": "green tea",
        "product_category": "Grocery & Gourmet Food › Beverages › Tea › Green",
        "pricing": "$8.50 - $12.00",
        "customization_options": {"Flavor Name": [{"value": "Jasmine"}, {"value": "Mint"}],
                                  "Size": None},
        "full_description": "",
        "small_description": "USDA organic, gluten free",
        "images": [],
    },
    {   # no parseable price: skipped, as WebShop cannot sell it either
        "asin": "B000NOPRICE", "name": "Mystery Box", "category": "misc", "query": "box",
        "product_category": "", "pricing": "", "customization_options": None,
        "full_description": "", "small_description": [],
    },
    {   # WebShop's loader drops the id "nan"
        "asin": "nan", "name": "Broken row", "category": "misc", "query": "x",
        "product_category": "", "pricing": "$1.00", "customization_options": None,
        "full_description": "", "small_description": [],
    },
    {   # a repeated asin keeps the first record
        "asin": "B07ZFJ5PQM", "name": "Duplicate Tea", "category": "grocery", "query": "tea",
        "product_category": "", "pricing": "$99.00", "customization_options": None,
        "full_description": "", "small_description": [],
    },
]  # fmt: skip
ATTRIBUTES = {
    "B09QKP7XQL": {"attributes": ["long sleeve", "machine wash"], "instruction": "unused"},
    "B07ZFJ5PQM": {"attributes": ["organic", "gluten free"]},
}
HUMAN_INSTRUCTIONS = {
    "B09QKP7XQL": [
        {
            "asin": "B09QKP7XQL",
            "instruction": "i want a long sleeve hoodie for women in navy blue, size x-large.",
            "instruction_attributes": ["long sleeve", "machine wash"],
            "instruction_options": ["navy blue", "x-large"],
        },
        {   # no attributes: WebShop's get_human_goals skips it
            "asin": "B09QKP7XQL", "instruction": "a hoodie", "instruction_attributes": [],
            "instruction_options": [],
        },
    ],
    "B07ZFJ5PQM": {  # one entry object (items_ins_v2 style): its product "attributes" unused
        "asin": "B07ZFJ5PQM",
        "instruction": "i need organic green tea bags with mint flavor",
        "attributes": ["organic", "gluten free"],
        "instruction_attributes": ["organic"],
        "instruction_options": ["mint"],
    },
    "B0NOTSHOWN": [{"instruction": "a product outside the catalog",
                    "instruction_attributes": ["x"], "instruction_options": []}],
}  # fmt: skip


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return (
        _write(tmp_path, "items_shuffle_1000.json", PRODUCTS),
        _write(tmp_path, "items_ins_v2_1000.json", ATTRIBUTES),
        _write(tmp_path, "items_human_ins.json", HUMAN_INSTRUCTIONS),
    )


def test_products_load_with_options_prices_and_attributes(files: tuple[Path, ...]) -> None:
    catalog = load_webshop_products(files[0], files[1])
    assert [p.asin for p in catalog] == ["B09QKP7XQL", "B07ZFJ5PQM"]
    hoodie, tea = catalog
    assert hoodie.title == PRODUCTS[0]["name"] and hoodie.category == "fashion"
    assert hoodie.query == hoodie.product_type == "women's hoodies"
    assert hoodie.breadcrumb == ("Clothing, Shoes & Jewelry", "Women", "Clothing",
                                 "Fashion Hoodies")  # fmt: skip
    assert hoodie.price == 23.99 and tea.price == 8.50  # a range: its lower end
    # WebShop's normalisation: lower case, "/" shown as " | "; a null option group is dropped
    assert hoodie.options == (("color", ("navy blue", "black | white")),
                              ("size", ("small", "x-large")))  # fmt: skip
    assert tea.options == (("flavor name", ("jasmine", "mint")),)
    assert hoodie.attributes == ("long sleeve", "machine wash")
    assert tea.attributes == ("organic", "gluten free")
    assert hoodie.bullets == ("Polyester and spandex", "Drawstring hood")
    assert tea.bullets == ("USDA organic, gluten free",)
    assert hoodie.description.startswith("A soft hoodie")
    assert hoodie.reviews == ((5, "Warm and cosy"), (4, "Nice"))
    assert catalog.get("b07zfj5pqm") is tea  # ids are case-insensitive, first record kept
    # without the attribute file products have no attributes; limit keeps the first n
    assert load_webshop_products(files[0]).get("B09QKP7XQL").attributes == ()  # type: ignore[union-attr]
    assert len(load_webshop_products(files[0], limit=1)) == 1


def test_human_goals_load_with_options_attributes_and_price(files: tuple[Path, ...]) -> None:
    catalog = load_webshop_products(files[0], files[1])
    tasks = load_webshop_goals(files[2], catalog)
    assert [t.answer["asin"] for t in tasks] == ["B09QKP7XQL", "B07ZFJ5PQM"]
    hoodie, tea = tasks
    assert hoodie.answer["attributes"] == ["long sleeve", "machine wash"]
    assert hoodie.answer["options"] == {"color": "navy blue", "size": "x-large"}
    assert tea.answer["options"] == {"flavor name": "mint"}
    assert tea.answer["attributes"] == ["organic"]
    # WebShop's bound: the larger of two of the next four multiples of 10 above the price
    assert hoodie.answer["price_upper"] in (40.0, 50.0, 60.0)
    assert tea.answer["price_upper"] in (20.0, 30.0, 40.0)
    upper = hoodie.answer["price_upper"]
    assert hoodie.prompt == ("i want a long sleeve hoodie for women in navy blue, size x-large"
                             f", and price lower than {upper:.2f} dollars")  # fmt: skip
    assert hoodie.answer["name"] == PRODUCTS[0]["name"]
    assert hoodie.answer["query"] == "women's hoodies"
    assert hoodie.answer["breadcrumb"][-1] == "Fashion Hoodies"
    # loading is deterministic (the bound's draw is seeded by asin and entry)
    again = load_webshop_goals(files[2], catalog)
    assert [(t.id, t.prompt, t.answer) for t in again] == [
        (t.id, t.prompt, t.answer) for t in tasks
    ]


def test_env_runs_on_loaded_files_and_oracle_scores_one(files: tuple[Path, ...]) -> None:
    catalog = load_webshop_products(files[0], files[1])
    tasks = load_webshop_goals(files[2], catalog)
    env = WebShopEnv(tasks, catalog=catalog, max_steps=15)
    fingerprint = catalog.fingerprint()
    for index, task in enumerate(tasks):
        oracle = OracleShopper(catalog)
        obs, info = env.reset(options={"task_index": index})
        assert task.prompt in obs
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(oracle.act(task, info))
            done = terminated or truncated
        assert terminated and reward == 1.0 and info["is_success"]
        assert info["purchase"]["options_matched"] == len(task.answer["options"])
    # a wrong option costs its share: hoodie goal = 2 attributes + 2 options + price
    env.reset(options={"task_index": 0})
    env.step("search[long sleeve hoodie]")
    env.step("click[b09qkp7xql]")
    *_, info = env.step("click[small]")
    assert info["action_valid"] and info["page"]["selected"] == {"size": "small"}
    env.step("click[navy blue]")
    _, reward, terminated, _, info = env.step("click[buy now]")
    assert terminated and reward == pytest.approx(4 / 5)
    assert catalog.fingerprint() == fingerprint


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("items.json", "{not json", "not a JSON product file"),
        ("items.json", json.dumps({"asin": "B0"}), "holds a JSON list, got dict"),
        ("items.json", json.dumps([{"asin": "B0X", "name": "no price"}]), "parseable 'pricing'"),
        ("items.json", json.dumps([1, "x"]), "no product with 'asin'"),
    ],
)
def test_malformed_product_files_raise_clear_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        load_webshop_products(path)
    assert str(path) in str(error.value)


def test_malformed_attribute_and_instruction_files_raise_clear_errors(
    tmp_path: Path, files: tuple[Path, ...]
) -> None:
    with pytest.raises(ValueError, match="attribute file holds a JSON object, got list"):
        load_webshop_products(files[0], _write(tmp_path, "attrs.json", [1, 2]))
    catalog = load_webshop_products(files[0], files[1])
    bad = tmp_path / "bad.json"
    bad.write_text("[", encoding="utf-8")
    cases = [
        (bad, "not a JSON instruction file"),
        (_write(tmp_path, "a.json", [{"instruction": "x"}]), "JSON object .* got list"),
        (_write(tmp_path, "b.json", {"B07ZFJ5PQM": "buy tea"}), "must be a list of objects"),
        (_write(tmp_path, "c.json", {"B07ZFJ5PQM": [{"instruction_attributes": ["x"]}]}),
         "has no 'instruction'"),
        (_write(tmp_path, "d.json", {"B0OTHER000": [{"instruction": "x"}]}),
         "no instruction .* is for a catalog product"),
    ]  # fmt: skip
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            load_webshop_goals(path, catalog)
