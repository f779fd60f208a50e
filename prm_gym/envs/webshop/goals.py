"""Shopping goals: generated from target products, or loaded from records / WebShop's files.

A goal is a :class:`~prm_gym.core.Task` whose ``prompt`` is the instruction and whose ``answer``
is the dict :func:`~prm_gym.envs.webshop.reward.purchase_reward` scores against::

    {"asin": "B0...", "attributes": ["machine wash"], "options": {"color": "navy"},
     "price_upper": 40.0, "name": "hoodie", "query": "hoodie", "breadcrumb": ["clothing", "hoodie"]}

JSONL records for ``WebShopEnv(tasks=...)`` carry ``instruction`` (alias ``prompt``) and ``asin``
(required, a product of the env's catalog), and optionally ``id``, ``attributes``, ``options``
(dict or list of values), ``price_upper``, ``name``, ``query``, ``breadcrumb`` (defaults: the
target product's own values; ``price_upper`` from "price lower than X dollars" in the text).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prm_gym.core.task import Task
from prm_gym.envs.webshop.catalog import Catalog, Product

__all__ = ["generate_goal", "instruction_for", "load_webshop_goals", "parse_goal_record"]

_OPENINGS = ("i want a", "i am looking for a", "i need a", "find me a", "i would like a")
_PRICE_TEXT = re.compile(r"price lower than (\d+(?:\.\d+)?) dollars")


def instruction_for(
    name: str, attributes: list[str], options: Mapping[str, str], price_upper: float | None,
    opening: str = "i want a",
) -> str:  # fmt: skip
    """``"i want a hoodie that is cotton, with color: navy, and size: large, and price lower than
    40.00 dollars"`` (WebShop's phrasing)."""
    text = f"{opening} {name}"
    if attributes:
        text += " that is " + " and ".join(attributes)
    clauses = [f"{k}: {v}" for k, v in options.items()]
    if price_upper is not None:
        clauses.append(f"price lower than {price_upper:.2f} dollars")
    if clauses:
        text += ", with " + ", and ".join(clauses)
    return text


def _goal_answer(product: Product, attributes: list[str], options: dict[str, str],
                 price_upper: float | None) -> dict[str, Any]:  # fmt: skip
    return {
        "asin": product.asin,
        "attributes": attributes,
        "options": options,
        "price_upper": price_upper,
        "name": product.product_type,
        "query": product.query,
        "breadcrumb": list(product.breadcrumb),
    }


def generate_goal(catalog: Catalog, seed: int) -> Task:
    """A goal for one product of ``catalog``, a pure function of ``(catalog, seed)``: 1–2 of its
    attributes, one value of each option group, a price bound 10–60 % above its price (rounded
    up to a multiple of 10 dollars)."""
    rng = random.Random(f"webshop-goal-{seed}")
    product = catalog[rng.randrange(len(catalog))]
    k = min(len(product.attributes), rng.randint(1, 2))
    attributes = sorted(rng.sample(product.attributes, k))
    options = {name: rng.choice(values) for name, values in product.options}
    price_upper = float(math.ceil(product.price * rng.uniform(1.1, 1.6) / 10.0) * 10)
    prompt = instruction_for(
        product.product_type, attributes, options, price_upper, rng.choice(_OPENINGS)
    )
    return Task(
        id=f"webshop-{catalog.key[1] if catalog.key[0] == 'generated' else 'file'}-{seed}",
        prompt=prompt,
        answer=_goal_answer(product, attributes, options, price_upper),
        metadata={"category": product.category, "seed": seed},
    )


def parse_goal_record(record: Mapping[str, Any], index: int, catalog: Catalog) -> Task:
    """Turn one goal record (schema in the module docstring) into a :class:`Task`."""
    text = record.get("instruction", record.get("prompt"))
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"webshop record {index} needs a non-empty 'instruction'")
    asin = record.get("asin")
    product = catalog.get(asin) if isinstance(asin, str) else None
    if product is None:
        raise ValueError(f"webshop record {index}: 'asin' {asin!r} is not in the catalog")
    raw_options = record.get("options", record.get("instruction_options"))
    if isinstance(raw_options, Mapping):
        options = {str(k): str(v) for k, v in raw_options.items()}
    else:
        options = {f"option_{i}": str(v) for i, v in enumerate(raw_options or ())}
    price = record.get("price_upper")
    if price is None:
        match = _PRICE_TEXT.search(text.lower())
        price = float(match.group(1)) if match else None
    attributes = record.get("attributes", record.get("instruction_attributes"))
    answer = _goal_answer(product, [str(a) for a in attributes or ()], options,
                          None if price is None else float(price))  # fmt: skip
    for key in ("name", "query"):
        if key in record:
            answer[key] = str(record[key])
    if "breadcrumb" in record:
        answer["breadcrumb"] = [str(b) for b in record["breadcrumb"]]
    return Task(
        id=str(record.get("id", f"webshop-{index}")),
        prompt=text.strip(),
        answer=answer,
        metadata={"category": product.category},
    )


def load_webshop_goals(path: str | Path, catalog: Catalog) -> list[Task]:
    """Goals from WebShop's ``items_human_ins.json`` (``{asin: [{"instruction",
    "instruction_attributes", "instruction_options"}, ...]}``) for products in ``catalog``;
    instructions for other products are skipped."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    tasks: list[Task] = []
    for asin, entries in data.items():
        if catalog.get(asin) is None:
            continue
        for entry in entries:
            record = {"asin": asin, **entry, "id": f"webshop-human-{len(tasks)}"}
            product = catalog.get(asin)
            assert product is not None
            record.setdefault("name", product.title)
            tasks.append(parse_goal_record(record, len(tasks), catalog))
    return tasks
