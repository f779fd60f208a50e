"""prm/WebShop-v0: a text web shop over a generated (or WebShop's own) catalog, BM25 search,
WebShop's purchase reward and a rule-based progress potential."""

from prm_gym.envs.webshop.catalog import (
    CATEGORIES,
    Catalog,
    CategorySpec,
    Product,
    generate_catalog,
    load_webshop_products,
)
from prm_gym.envs.webshop.env import WebShopEnv, cached_catalog, search_candidates
from prm_gym.envs.webshop.experts import OracleShopper
from prm_gym.envs.webshop.goals import (
    generate_goal,
    instruction_for,
    load_webshop_goals,
    parse_goal_record,
)
from prm_gym.envs.webshop.progress import WebShopProgress
from prm_gym.envs.webshop.reward import (
    PurchaseScore,
    attribute_matches,
    purchase_reward,
    type_reward,
)
from prm_gym.envs.webshop.search import BM25Index, clear_index_cache, get_index, tokenize

__all__ = [
    "CATEGORIES",
    "BM25Index",
    "Catalog",
    "CategorySpec",
    "OracleShopper",
    "Product",
    "PurchaseScore",
    "WebShopEnv",
    "WebShopProgress",
    "attribute_matches",
    "cached_catalog",
    "clear_index_cache",
    "generate_catalog",
    "generate_goal",
    "get_index",
    "instruction_for",
    "load_webshop_goals",
    "load_webshop_products",
    "parse_goal_record",
    "purchase_reward",
    "search_candidates",
    "tokenize",
    "type_reward",
]
