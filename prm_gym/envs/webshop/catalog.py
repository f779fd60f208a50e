"""Products and catalogs for prm/WebShop-v0: a seeded generator and a loader for WebShop's files.

A :class:`Catalog` is immutable: products are frozen dataclasses whose fields are tuples, and the
catalog holds a tuple of them. Episodes only read it, so one catalog (and its search index) is
shared by every env built from the same ``(seed, num_products)``.

Loading the original WebShop data (princeton-nlp/WebShop, ``data/``)
--------------------------------------------------------------------
:func:`load_webshop_products` reads the product file (``items_shuffle.json`` or
``items_shuffle_1000.json``: a JSON list of objects) with these fields per product:

==========================  =====================================================================
``asin``                    required; product id
``name``                    required; the title
``category``                top-level category (e.g. ``"beauty"``); default ``"unknown"``
``query``                   the search query the product was scraped for (used by r_type)
``product_category``        breadcrumb ``"A › B › C"`` (used by r_type)
``pricing``                 ``"$12.99"``, ``"$10.00 - $20.00"`` or a list of numbers; the first
                            is the price (WebShop draws one in the range at start-up)
``customization_options``   ``{group: [{"value": str, ...}, ...]}`` (``null`` for none); values
                            normalised as WebShop does (stripped, lower case, ``/`` → `` | ``)
``full_description``        description text
``small_description``       list of bullet strings (or one string)
``Reviews`` / ``reviews``   optional list of ``{"score": int, "body": str}`` (or ``"stars"`` /
                            ``"review"`` as in WebShop's review file, or plain strings)
==========================  =====================================================================

and optionally the attribute file (``items_ins_v2_1000.json`` / ``items_ins_v2.json``:
``{asin: {"attributes": [...], ...}}``), whose ``attributes`` become :attr:`Product.attributes`.
Products without a parseable price, and ids that are ``"nan"`` or longer than 10 characters (as
WebShop's loader), are skipped; a repeated asin keeps its first record. ``name`` is the title,
``query`` (lower-cased) the product type; other fields (``images``, ``product_information``,
``brand``, ...) are ignored. Goals for loaded catalogs come from
:func:`prm_gym.envs.webshop.goals.load_webshop_goals` (``items_human_ins.json``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm_gym.core.task import read_bytes

__all__ = [
    "CATEGORIES",
    "Catalog",
    "CategorySpec",
    "Product",
    "generate_catalog",
    "load_webshop_products",
]


@dataclass(frozen=True)
class Product:
    """One product. Every sequence is a tuple so a product cannot be changed in place.

    Attributes:
        asin: Product id (10 characters, upper case); actions click it lowercased.
        title: Shown on result and item pages.
        category: Top-level category (``"clothing"``).
        product_type: The noun phrase of what it is (``"hoodie"``); the goal's product name.
        query: The query the product belongs to (WebShop's scrape query; here = product type).
        breadcrumb: Category path, ``("clothing", "hoodie")``; r_type compares its levels.
        attributes: Attribute phrases (``"machine wash"``) goals are written from.
        options: Option groups ``((name, (value, ...)), ...)``, e.g. colour and size.
        price: In dollars.
        description: Free text (the Description sub-page).
        bullets: Feature bullets (the Features sub-page).
        reviews: ``((rating 1-5, text), ...)`` (the Reviews sub-page).
    """

    asin: str
    title: str
    category: str
    product_type: str
    query: str
    breadcrumb: tuple[str, ...]
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price: float
    description: str
    bullets: tuple[str, ...]
    reviews: tuple[tuple[int, str], ...]

    def option_values(self) -> dict[str, str]:
        """Lowercased option value -> its group name (first group wins on a clash)."""
        out: dict[str, str] = {}
        for name, values in self.options:
            for value in values:
                out.setdefault(value.lower(), name)
        return out


@dataclass(frozen=True)
class Catalog:
    """An immutable product list with a key the search-index cache uses.

    Attributes:
        products: The products, in index order.
        key: Identifies the catalog's content: ``("generated", seed, n)`` or
            ``("file", path, sha256)``; equal keys mean equal products.
    """

    products: tuple[Product, ...]
    key: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_asin", {p.asin.lower(): i for i, p in enumerate(self)})

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Any:
        return iter(self.products)

    def __getitem__(self, index: int) -> Product:
        return self.products[index]

    def index_of(self, asin: str) -> int | None:
        """Position of the product with this id (case-insensitive), or ``None``."""
        by_asin: dict[str, int] = self.__dict__["_by_asin"]
        return by_asin.get(asin.lower())

    def get(self, asin: str) -> Product | None:
        i = self.index_of(asin)
        return None if i is None else self.products[i]

    def fingerprint(self) -> str:
        """SHA-256 of the full content (tests use it to show episodes never change a catalog)."""
        digest = hashlib.sha256()
        for p in self.products:
            digest.update(repr(p).encode("utf-8"))
        return digest.hexdigest()


@dataclass(frozen=True)
class CategorySpec:
    """What the generator draws a category's products from."""

    name: str
    types: tuple[str, ...]
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price_range: tuple[float, float]


_COLORS = ("black", "white", "navy", "red", "grey", "green", "beige", "pink", "blue", "brown")
_SIZES = ("xs", "small", "medium", "large", "xl", "xxl")
CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("clothing", ("hoodie", "t-shirt", "jacket", "sweater", "dress", "jeans"),
                 ("machine wash", "cotton", "long sleeve", "slim fit", "button closure",
                  "polyester", "relaxed fit", "short sleeve"),
                 (("color", _COLORS), ("size", _SIZES)), (12.0, 90.0)),
    CategorySpec("shoes", ("running shoes", "sneakers", "boots", "sandals", "loafers"),
                 ("rubber sole", "non slip", "lace up", "memory foam", "water resistant",
                  "arch support"),
                 (("color", _COLORS), ("size", ("6", "7", "8", "9", "10", "11", "12"))),
                 (25.0, 150.0)),
    CategorySpec("beauty", ("face serum", "moisturizer", "shampoo", "lip balm", "sunscreen"),
                 ("cruelty free", "paraben free", "fragrance free", "vegan", "travel size",
                  "long lasting"),
                 (("scent", ("lavender", "citrus", "unscented", "rose", "coconut")),
                  ("size", ("1 oz", "2 oz", "4 oz", "8 oz"))), (5.0, 60.0)),
    CategorySpec("grocery", ("coffee beans", "green tea", "protein bars", "trail mix",
                             "olive oil"),
                 ("gluten free", "organic", "non gmo", "sugar free", "keto friendly",
                  "low sodium"),
                 (("flavor", ("original", "vanilla", "chocolate", "honey", "sea salt")),
                  ("size", ("single", "6 pack", "12 pack"))), (4.0, 45.0)),
    CategorySpec("electronics", ("bluetooth speaker", "wireless earbuds", "usb charger",
                                 "hdmi cable", "phone case"),
                 ("fast charging", "noise cancelling", "waterproof", "long battery life",
                  "easy to use", "wireless"),
                 (("color", _COLORS[:6]), ("style", ("standard", "pro", "mini", "max"))),
                 (9.0, 200.0)),
    CategorySpec("home", ("throw pillow", "bed sheets", "bath towel", "table lamp", "area rug"),
                 ("easy clean", "machine washable", "soft touch", "fade resistant",
                  "hypoallergenic"),
                 (("color", _COLORS), ("size", ("twin", "full", "queen", "king"))),
                 (10.0, 120.0)),
    CategorySpec("kitchen", ("frying pan", "knife set", "cutting board", "water bottle",
                             "coffee mug"),
                 ("dishwasher safe", "bpa free", "stainless steel", "non stick",
                  "heat resistant"),
                 (("color", _COLORS[:7]), ("capacity", ("12 oz", "20 oz", "32 oz", "40 oz"))),
                 (8.0, 110.0)),
    CategorySpec("furniture", ("office chair", "bookshelf", "side table", "tv stand",
                               "bar stool"),
                 ("easy assembly", "solid wood", "height adjustable", "storage space",
                  "metal frame"),
                 (("color", ("black", "white", "walnut", "oak", "grey")),
                  ("finish", ("matte", "glossy", "natural"))), (40.0, 400.0)),
    CategorySpec("sports", ("yoga mat", "dumbbells", "resistance bands", "jump rope",
                            "gym bag"),
                 ("non slip", "lightweight", "high density", "adjustable", "durable"),
                 (("color", _COLORS[:8]), ("weight", ("light", "medium weight", "heavy"))),
                 (10.0, 150.0)),
    CategorySpec("toys", ("building blocks", "jigsaw puzzle", "plush toy", "remote control car",
                          "board game"),
                 ("ages 3 and up", "educational", "non toxic", "battery powered",
                  "gift idea"),
                 (("color", _COLORS[:6]), ("edition", ("classic", "deluxe", "travel"))),
                 (8.0, 80.0)),
    CategorySpec("pet supplies", ("dog bed", "cat toy", "pet leash", "dog food bowl",
                                  "cat litter box"),
                 ("easy clean", "durable", "non slip", "washable cover", "odor control"),
                 (("color", _COLORS[:6]), ("size", ("small", "medium", "large"))),
                 (6.0, 90.0)),
    CategorySpec("health", ("vitamin d3", "fish oil", "multivitamin", "electrolyte powder",
                            "probiotic"),
                 ("gluten free", "non gmo", "sugar free", "easy to swallow",
                  "third party tested"),
                 (("flavor", ("unflavored", "lemon", "berry", "orange")),
                  ("count", ("30 capsules", "90 tablets", "120 softgels"))), (7.0, 50.0)),
)  # fmt: skip

_BRAND_PARTS = ("nor", "vik", "ala", "zen", "tro", "mira", "kas", "lum", "ore", "pax", "sol",
                "vento", "bri", "cor", "dax", "eli", "fen", "gro", "hal", "iso")  # fmt: skip
_ADJECTIVES = ("premium", "classic", "modern", "essential", "everyday", "deluxe", "compact",
               "ultra", "natural", "signature", "basic", "advanced")  # fmt: skip
_AUDIENCES = ("for men", "for women", "for kids", "for home", "for travel", "for adults")
_REVIEW_TEXT = (
    (5, "love it, exactly as described"), (4, "good value for the price"),
    (3, "okay, but the {a} could be better"), (5, "great {t}, would buy again"),
    (2, "arrived late and smaller than expected"), (4, "the {a} part works well"),
)  # fmt: skip


def _brand(rng: random.Random) -> str:
    return (rng.choice(_BRAND_PARTS) + rng.choice(_BRAND_PARTS)).capitalize()


def _asin(rng: random.Random, taken: set[str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in taken:
            taken.add(asin)
            return asin


def _product(rng: random.Random, spec: CategorySpec, asin: str) -> Product:
    ptype = rng.choice(spec.types)
    attributes = tuple(sorted(rng.sample(spec.attributes, rng.randint(2, 4))))
    options = []
    for name, values in spec.options:
        k = rng.randint(min(2, len(values)), min(5, len(values)))
        options.append((name, tuple(rng.sample(values, k))))
    low, high = spec.price_range
    price = round(rng.uniform(low, high), 2)
    brand = _brand(rng)
    lead = attributes[0].title()
    title = f"{brand} {rng.choice(_ADJECTIVES).title()} {lead} {ptype.title()} "
    title += f"{rng.choice(_AUDIENCES)}, {attributes[-1]}"
    bullets = tuple(f"{a.capitalize()}: designed for everyday use" for a in attributes)
    bullets += (f"Brand: {brand}", f"Category: {spec.name}")
    description = (
        f"This {ptype} from {brand} is {', '.join(attributes[1:]) or attributes[0]}. "
        f"Available in {len(options[0][1])} {options[0][0]}s."
    )
    reviews = tuple(
        (score, text.format(a=rng.choice(attributes), t=ptype))
        for score, text in rng.sample(_REVIEW_TEXT, 2)
    )
    return Product(
        asin=asin,
        title=title,
        category=spec.name,
        product_type=ptype,
        query=ptype,
        breadcrumb=(spec.name, ptype),
        attributes=attributes,
        options=tuple(options),
        price=price,
        description=description,
        bullets=bullets,
        reviews=reviews,
    )


def generate_catalog(num_products: int = 1000, seed: int = 0) -> Catalog:
    """A catalog of ``num_products`` products over the 12 :data:`CATEGORIES`, a pure function of
    ``(num_products, seed)`` (Python's ``random.Random``, stable across platforms)."""
    if num_products < 1:
        raise ValueError(f"num_products must be >= 1, got {num_products}")
    rng = random.Random(f"webshop-catalog-{seed}")
    taken: set[str] = set()
    products = tuple(
        _product(rng, CATEGORIES[i % len(CATEGORIES)], _asin(rng, taken))
        for i in range(num_products)
    )
    return Catalog(products=products, key=("generated", seed, num_products))


_PRICE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def _price(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and value:
        return _price(value[0])
    if isinstance(value, str):
        match = _PRICE.search(value)
        return float(match.group().replace(",", "")) if match else None
    return None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(str(v) for v in value if str(v).strip())


def _reviews(value: Any) -> tuple[tuple[int, str], ...]:
    out = []
    for review in value or ():
        if isinstance(review, Mapping):
            score = review.get("score", review.get("stars", review.get("rating", 0)))
            text = str(review.get("body", review.get("review", review.get("text", ""))))
            out.append((int(score) if str(score).isdigit() else 0, text))
        else:
            out.append((0, str(review)))
    return tuple(out)


def _parse_product(raw: Mapping[str, Any], attributes: Mapping[str, Any]) -> Product | None:
    asin, title, price = raw.get("asin"), raw.get("name"), _price(raw.get("pricing"))
    # WebShop's loader drops ids that are "nan" or longer than 10 characters
    if not isinstance(asin, str) or asin == "nan" or len(asin) > 10:
        return None
    if not isinstance(title, str) or price is None:
        return None
    options = []
    for name, values in (raw.get("customization_options") or {}).items():
        vals = tuple(
            _option_value(v.get("value", "") if isinstance(v, Mapping) else v) for v in values or ()
        )
        if any(vals):
            options.append((str(name).lower(), tuple(v for v in vals if v)))
    breadcrumb = tuple(
        part.strip() for part in str(raw.get("product_category", "")).split("›") if part.strip()
    )
    attrs = attributes.get(asin, {})
    category = str(raw.get("category", "unknown"))
    query = str(raw.get("query") or "").lower().strip()
    return Product(
        asin=asin,
        title=title,
        category=category,
        product_type=query or category,
        query=query,
        breadcrumb=breadcrumb or (category,),
        attributes=_strings(attrs.get("attributes") if isinstance(attrs, Mapping) else ()),
        options=tuple(options),
        price=price,
        description=str(raw.get("full_description") or ""),
        bullets=_strings(raw.get("small_description")),
        reviews=_reviews(raw.get("Reviews", raw.get("reviews"))),
    )


def _option_value(value: Any) -> str:
    """WebShop's option-value normalisation: stripped, ``/`` shown as `` | ``, lower case."""
    return str(value).strip().replace("/", " | ").lower()


def _read_json(path: str | Path, what: str, expected: type) -> tuple[Any, bytes]:
    raw_bytes = read_bytes(path)  # decompressed when the file is gzip (items_shuffle.json.gz)
    try:
        data = json.loads(raw_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON {what} file ({error})") from error
    if not isinstance(data, expected):
        kind = "list" if expected is list else "object"
        raise ValueError(
            f"{path}: a WebShop {what} file holds a JSON {kind}, got {type(data).__name__}"
        )
    return data, raw_bytes


def load_webshop_products(
    path: str | Path, attributes_path: str | Path | None = None, limit: int | None = None
) -> Catalog:
    """Load WebShop's product JSON (fields in the module docstring) into a :class:`Catalog`.
    Either file may be gzip-compressed (``items_shuffle.json.gz``).

    Raises:
        ValueError: The file is not JSON, not a list of product objects, holds no product with
            ``asin``, ``name`` and a parseable ``pricing``, or the attribute file is not a JSON
            object keyed by asin.
    """
    records, raw_bytes = _read_json(path, "product", list)
    attributes: Mapping[str, Any] = {}
    digest = hashlib.sha256(raw_bytes)
    if attributes_path is not None:
        attributes, attr_bytes = _read_json(attributes_path, "attribute", dict)
        digest.update(attr_bytes)
    products: list[Product] = []
    seen: set[str] = set()
    for raw in records:
        product = _parse_product(raw, attributes) if isinstance(raw, Mapping) else None
        if product is None or product.asin.lower() in seen:
            continue
        seen.add(product.asin.lower())
        products.append(product)
        if limit is not None and len(products) >= limit:
            break
    if not products:
        raise ValueError(f"{path}: no product with 'asin', 'name' and a parseable 'pricing'")
    return Catalog(tuple(products), key=("file", str(path), digest.hexdigest(), limit))
