"""Shopping goals: generated from target products, or loaded from records / WebShop's files.

A goal is a :class:`~prm_gym.core.Task` whose ``prompt`` is the instruction and whose ``answer``
is the dict :func:`~prm_gym.envs.webshop.reward.purchase_reward` scores against::

    {"asin": "B0...", "attributes": ["machine wash"], "options": {"color": "navy"},
     "price_upper": 40.0, "name": "hoodie", "query": "hoodie", "breadcrumb": ["clothing", "hoodie"]}

JSONL records for ``WebShopEnv(tasks=...)`` carry ``instruction`` (alias ``prompt``) and ``asin``
(required, a product of the env's catalog), and optionally ``id``, ``attributes`` (alias
``instruction_attributes``), ``options`` (alias ``instruction_options``; a dict, or a list of
values, each keyed by the product's option group holding it), ``price_upper``, ``name``,
``query``, ``breadcrumb`` (defaults: the target product's own values; ``price_upper`` from
"price lower than X dollars" in the text).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prm_gym.core.task import Task, read_text
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
    else:  # a list of values (WebShop's instruction_options): keyed by the product's group
        groups = product.option_values()
        options = {}
        for i, value in enumerate(raw_options or ()):
            group = groups.get(str(value).lower(), f"option_{i}")
            options[group if group not in options else f"option_{i}"] = str(value)
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
    """Goals from WebShop's human instruction file (``items_human_ins.json``) for the products
    of ``catalog``.

    The file (plain or gzip-compressed, ``items_human_ins.json.gz``) is a JSON object
    ``{asin: [entry, ...]}``, each entry holding ``instruction``,
    ``instruction_attributes`` (list of str) and ``instruction_options`` (list of option values
    or ``{group: value}``); a single entry object instead of the list is accepted too. As in
    WebShop's ``get_human_goals``: entries without attributes are skipped; the goal's ``name``
    is the product title, its ``query`` and ``breadcrumb`` the product's; the instruction loses
    a trailing ``.`` and gains ``", and price lower than X.00 dollars"``, X the larger of two of
    the next four multiples of 10 above the price (drawn with a generator seeded by asin and
    entry, so loading is deterministic; no bound when fewer than two are below 1,000).
    Instructions for asins not in ``catalog`` are skipped.

    Raises:
        ValueError: The file is not a JSON object of instruction lists, an entry lacks an
            ``instruction``, or no entry is for a product of ``catalog``.
    """
    try:
        data = json.loads(read_text(path))  # plain or gzip (items_human_ins.json.gz)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON instruction file ({error})") from error
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a WebShop instruction file holds a JSON object "
                         f"{{asin: [instruction, ...]}}, got {type(data).__name__}")  # fmt: skip
    tasks: list[Task] = []
    for asin, entries in data.items():
        product = catalog.get(str(asin))
        if product is None:
            continue
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ValueError(f"{path}: instructions for {asin!r} must be a list of objects")
        for k, entry in enumerate(entries):
            text = entry.get("instruction")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}: instruction {k} for {asin!r} has no 'instruction'")
            if not entry.get("instruction_attributes"):
                continue
            text = text.strip().strip(".")
            price_upper = _human_goal_price(product.price, f"{product.asin}-{k}")
            if price_upper is not None:
                text += f", and price lower than {price_upper:.2f} dollars"
            record = {"asin": product.asin, "instruction": text, "price_upper": price_upper,
                      "attributes": entry["instruction_attributes"],
                      "options": entry.get("instruction_options") or [],
                      "name": product.title, "id": f"webshop-human-{product.asin}-{k}"}  # fmt: skip
            tasks.append(parse_goal_record(record, len(tasks), catalog))
    if not tasks:
        raise ValueError(f"{path}: no instruction (with attributes) is for a catalog product")
    return tasks


def _human_goal_price(price: float, key: str) -> float | None:
    """WebShop's bound: the larger of two of the next four multiples of 10 above ``price``."""
    candidates = [10.0 * i for i in range(1, 100) if 10.0 * i > price][:4]
    if len(candidates) < 2:
        return None
    return max(random.Random(f"webshop-human-price-{key}").sample(candidates, 2))
