"""prm/WebShop-v0: find and buy the product an instruction describes, on a text web shop."""

from __future__ import annotations

import re
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from prm_gym.core.task import ProceduralSource, Task
from prm_gym.core.text_env import ActResult, TextEnv
from prm_gym.envs.webshop.catalog import Catalog, Product, generate_catalog
from prm_gym.envs.webshop.goals import generate_goal, parse_goal_record
from prm_gym.envs.webshop.reward import purchase_reward
from prm_gym.envs.webshop.search import BM25Index, get_index, tokenize

__all__ = ["WebShopEnv", "cached_catalog", "search_candidates"]

SEP = " [SEP] "
_ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
_SUBPAGES = ("description", "features", "reviews")
_OPENING = re.compile(r"^(i want an?|i am looking for an?|i'?m looking for an?|i need an?|"
                      r"find me an?|i would like an?)\s+")  # fmt: skip


@lru_cache(maxsize=8)
def cached_catalog(num_products: int, seed: int) -> Catalog:
    """:func:`generate_catalog`, built once per ``(num_products, seed)`` and process."""
    return generate_catalog(num_products, seed)


def search_candidates(instruction: str) -> list[str]:
    """A few ``search[...]`` actions built from the instruction text alone (no gold): the
    product phrase, the product phrase with the option values, the name alone, and the whole
    instruction without its price clause."""
    text = instruction.lower().strip()
    text = re.sub(r",?\s*and price lower than [\d.]+ dollars", "", text)
    head, _, tail = text.partition(", with ")
    head = _OPENING.sub("", head)
    name = head.split(" that is ")[0]
    values = [part.split(":", 1)[1].strip() for part in tail.split(", and ") if ":" in part]
    phrase = " ".join(tokenize(head))
    queries = [phrase, " ".join([phrase, *values]), " ".join(tokenize(name)), text]
    return [f"search[{q}]" for q in dict.fromkeys(q for q in queries if q.strip())]


class WebShopEnv(TextEnv):
    """Buy the product an instruction asks for, by searching and clicking through a text shop.

    ## Description
    A text version of WebShop (Yao et al., "WebShop: Towards Scalable Real-World Web
    Interaction with Grounded Language Agents", 2022). Each episode is one instruction, e.g.
    ``"i want a hoodie that is cotton, with color: navy, and size: large, and price lower than
    40.00 dollars"``, generated from a target product of the catalog (default: 1,000 generated
    products over 12 categories, :func:`~prm_gym.envs.webshop.catalog.generate_catalog`) or
    loaded from records / WebShop's own files (:mod:`prm_gym.envs.webshop.catalog`,
    :mod:`prm_gym.envs.webshop.goals`). Pages: search → results (10 per page, at most 50
    results from BM25, ``next >`` / ``< prev``) → item (option values, ``description``,
    ``features``, ``reviews`` sub-pages, ``buy now``); ``back to search`` everywhere but the
    search page. The catalog and its index are shared, read-only, between episodes and envs.

    ## Action Space
    ``prm_gym.spaces.Text``: ``search[keywords]`` (search page only) or ``click[element]``, an
    element being a button (``back to search``, ``next >``, ``< prev``, ``description``,
    ``features``, ``reviews``, ``buy now``), a product id on the results page or an option
    value on the item page; matching is case-insensitive. Anything else (unknown syntax, an
    element not on the page, search without a search bar, an empty query) is invalid:
    ``info["action_valid"] = False``, ``info["error"]`` says why, the page stays, the step is
    spent. A non-``str`` action raises ``TypeError``.

    ## Observation Space
    ``prm_gym.spaces.Text``: the page's visible texts joined by ``" [SEP] "``, starting with
    ``Instruction: [SEP] <instruction>`` as in WebShop's text mode (the search page puts
    ``WebShop`` before it).

    ## Rewards
    Native reward = outcome: 0 on every step; on ``buy now`` WebShop's reward
    R = (attributes matched + options matched + 1[price ≤ bound]) / (|attributes| + |options| + 1)
    × r_type (:mod:`prm_gym.envs.webshop.reward`; r_type from query / category / title-token
    overlap); 0 on truncation. Success (``info["is_success"]``) is R = 1. For dense rewards wrap
    with ``PotentialShaping(env, WebShopProgress())`` (reads ``info["progress_state"]``);
    ``ProcessReward`` scorers can use ``info["action_valid"]`` as a grounding signal.

    ## Starting State
    The search page of a goal drawn from ``tasks`` with the env's seeded generator:
    ``reset(seed=s)`` fixes it; ``options={"task_seed": n}`` builds generated goal ``n``;
    ``{"task_index": i}`` / ``{"task_id": ...}`` / ``{"task": Task}`` as in every text env.
    Page state is part of ``get_state`` / ``set_state``.

    ## Episode End
    Terminates on ``click[buy now]``; truncates after ``max_steps`` actions (outcome 0).

    ## Info
    ``task_id``, ``action_valid``, ``error`` (invalid actions), ``outcome`` and ``is_success``
    (final step), ``purchase`` (the reward's parts, on ``buy now``), ``available_actions`` (the
    valid ``click[...]`` actions, plus ``search[...]`` candidates on the search page),
    ``has_search_bar``, ``candidate_actions`` (the same list, for
    :class:`~prm_gym.wrappers.ChoiceActions`, which adds ``action_mask``),
    ``candidate_descriptions`` (what each candidate points at, as the page shows it: the query,
    a result's title and price, ``"<group>: <value>"`` for an option, a button's label; used
    by ``TextFeatures(..., choice_dim=...)``), ``page`` (name,
    query, results page, item id, selected options) and ``progress_state`` (target category
    searched, target in results, target opened, share of goal options chosen).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``tasks`` | ``None`` | generated goals (``None``), JSONL path, records, ``Task`` list, |
    | | | ``datasets.Dataset``, ``TaskSource`` or ``seed -> Task`` callable |
    | ``catalog`` | ``None`` | a :class:`Catalog` (``None``: generated from the next two) |
    | ``num_products`` | ``1000`` | size of the generated catalog |
    | ``catalog_seed`` | ``0`` | seed of the generated catalog |
    | ``index_cache_dir`` | ``None`` | directory for an on-disk copy of the BM25 index |
    | ``max_steps`` | ``15`` | actions before truncation |
    | ``results_per_page`` | ``10`` | results shown per page |
    | ``max_results`` | ``50`` | results a search returns |
    | ``max_action_length`` | ``512`` | longest valid action, in characters |
    | ``render_mode`` | ``None`` | ``"ansi"`` or ``"human"`` |

    ## Version History
    * v0: initial release.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/WebShop-v0", num_products=200)
        >>> obs, info = env.reset(seed=0)
        >>> obs.startswith("WebShop [SEP] Instruction: [SEP] ")
        True
        >>> obs, reward, terminated, truncated, info = env.step("click[buy now]")
        >>> info["action_valid"], "not clickable" in info["error"]
        (False, True)
        >>> title = env.unwrapped.catalog.get(env.unwrapped.task.answer["asin"]).title
        >>> obs, reward, terminated, truncated, info = env.step(f"search[{title}]")
        >>> info["page"]["name"], info["progress_state"]["target_in_results"]
        ('results', True)
    """

    def __init__(
        self,
        tasks: Any = None,
        *,
        catalog: Catalog | None = None,
        num_products: int = 1000,
        catalog_seed: int = 0,
        index_cache_dir: str | Path | None = None,
        max_steps: int = 15,
        results_per_page: int = 10,
        max_results: int = 50,
        max_action_length: int = 512,
        render_mode: str | None = None,
    ) -> None:
        self.catalog = (
            catalog if catalog is not None else cached_catalog(num_products, catalog_seed)
        )
        shop = self.catalog
        super().__init__(
            tasks,
            default_tasks=lambda: ProceduralSource(partial(generate_goal, shop)),
            parse_record=partial(parse_goal_record, catalog=shop),
            max_steps=max_steps,
            max_action_length=max_action_length,
            render_mode=render_mode,
        )
        if results_per_page < 1 or max_results < 1:
            raise ValueError("results_per_page and max_results must be >= 1")
        self.index: BM25Index = get_index(self.catalog, index_cache_dir)
        self.results_per_page = results_per_page
        self.max_results = max_results
        self._page = "search"
        self._query = ""
        self._results: list[int] = []
        self._page_num = 1
        self._item: int | None = None
        self._selected: dict[str, str] = {}

    # -- episode --------------------------------------------------------------------------
    def _begin(self, task: Task) -> str:
        self._page, self._query, self._results = "search", "", []
        self._page_num, self._item, self._selected = 1, None, {}
        return self._render_page()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        observation, info = super().reset(seed=seed, options=options)
        self._add_info(info)
        return observation, info

    def step(self, action: str) -> tuple[str, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        if "outcome" in info:
            info["is_success"] = bool(terminated and info["outcome"] >= 1.0)
        self._add_info(info)
        return observation, reward, terminated, truncated, info

    def _add_info(self, info: dict[str, Any]) -> None:
        actions = self.available_actions()
        info["available_actions"] = actions
        info["candidate_actions"] = list(actions) if not self._done else []
        info["candidate_descriptions"] = self.action_descriptions() if not self._done else []
        info["has_search_bar"] = self._page == "search"
        item = self.catalog[self._item] if self._item is not None else None
        info["page"] = {
            "name": self._page,
            "query": self._query,
            "page_num": self._page_num,
            "num_results": len(self._results),
            "asin": item.asin if item is not None else None,
            "selected": dict(self._selected),
        }
        info["progress_state"] = self.progress_state()

    def _act(self, action: str) -> ActResult:
        match = _ACTION.match(action)
        if match is None:
            error = "unknown action: write search[keywords] or click[element]"
            return self._invalid(error)
        kind, arg = match.group(1).lower(), match.group(2).strip().lower()
        if kind == "search":
            if self._page != "search":
                return self._invalid("no search bar on this page: click[back to search] first")
            if not tokenize(arg):
                return self._invalid("empty search: write search[keywords]")
            self._query = arg
            self._results = self.index.search(arg, self.max_results)
            self._page, self._page_num = "results", 1
            return ActResult(self._render_page())
        if arg not in self._clickables():
            shown = ", ".join(self._clickables()) or "nothing (use search[...])"
            return self._invalid(f"{arg!r} is not clickable on this page; clickable: {shown}")
        return self._click(arg)

    def _invalid(self, error: str) -> ActResult:
        return ActResult(f"Invalid action: {error}.{SEP}{self._render_page()}",
                         action_valid=False, error=error)  # fmt: skip

    def _click(self, element: str) -> ActResult:
        if element == "back to search":
            self._begin_search()
        elif self._page == "results":
            if element == "next >":
                self._page_num += 1
            elif element == "< prev":
                self._page_num -= 1
            else:
                index = self.catalog.index_of(element)
                assert index is not None
                self._item, self._selected, self._page = index, {}, "item"
        elif self._page == "item":
            product = self._product()
            if element == "< prev":
                self._item, self._selected, self._page = None, {}, "results"
            elif element in _SUBPAGES:
                self._page = element
            elif element == "buy now":
                assert self.task is not None
                score = purchase_reward(product, list(self._selected.values()), self.task.answer)
                text = f"Thank you for shopping with us!{SEP}Your score (min 0.0, max 1.0){SEP}"
                return ActResult(
                    text + f"{score.reward:.4f}",
                    terminated=True,
                    outcome=score.reward,
                    info={"purchase": score.as_dict()},
                )
            else:
                self._selected[product.option_values()[element]] = element
        else:  # a sub-page: only "< prev" goes back to the item
            self._page = "item"
        return ActResult(self._render_page())

    def _begin_search(self) -> None:
        self._page, self._query, self._results = "search", "", []
        self._page_num, self._item, self._selected = 1, None, {}

    def _product(self) -> Product:
        assert self._item is not None
        return self.catalog[self._item]

    # -- pages ----------------------------------------------------------------------------
    def _page_results(self) -> list[int]:
        start = (self._page_num - 1) * self.results_per_page
        return self._results[start : start + self.results_per_page]

    def _clickables(self) -> list[str]:
        if self._page == "search":
            return []
        if self._page == "results":
            items = [self.catalog[i].asin.lower() for i in self._page_results()]
            nav = []
            if self._page_num * self.results_per_page < len(self._results):
                nav.append("next >")
            if self._page_num > 1:
                nav.append("< prev")
            return [*items, *nav, "back to search"]
        if self._page == "item":
            values = list(self._product().option_values())
            return [*values, "buy now", *_SUBPAGES, "< prev", "back to search"]
        return ["< prev", "back to search"]

    def available_actions(self) -> list[str]:
        """The valid actions now: every ``click[...]``, and on the search page a few
        ``search[...]`` candidates built from the instruction (any other query is valid too)."""
        if self.task is None or self._done:
            return []
        if self._page == "search":
            return search_candidates(self.task.prompt)
        return [f"click[{c}]" for c in self._clickables()]

    def action_descriptions(self) -> list[str]:
        """What each of :meth:`available_actions` points at, as the page shows it: a query,
        a product's title and price, ``"<option group>: <value>"`` or the button's label."""
        if self.task is None or self._done:
            return []
        if self._page == "search":
            return [action[len("search[") : -1] for action in self.available_actions()]
        out = []
        groups = self._product().option_values() if self._page == "item" else {}
        for element in self._clickables():
            index = self.catalog.index_of(element) if self._page == "results" else None
            if index is not None:
                product = self.catalog[index]
                out.append(f"{product.title} ${product.price:.2f}")
            elif element in groups:
                out.append(f"{groups[element]}: {element}")
            else:
                out.append(element)
        return out

    def _render_page(self) -> str:
        assert self.task is not None
        parts = ["Instruction:", self.task.prompt]
        if self._page == "search":
            return SEP.join(["WebShop", *parts, "Search"])
        parts.append("Back to Search")
        if self._page == "results":
            parts.append(f"Page {self._page_num} (Total results: {len(self._results)})")
            if self._page_num > 1:
                parts.append("< Prev")
            if self._page_num * self.results_per_page < len(self._results):
                parts.append("Next >")
            for i in self._page_results():
                p = self.catalog[i]
                parts += [p.asin, p.title, f"${p.price:.2f}"]
            return SEP.join(parts)
        product = self._product()
        parts.append("< Prev")
        if self._page == "item":
            for name, values in product.options:
                parts += [name, *values]
            parts += [product.title, f"Price: ${product.price:.2f}", "Rating: N.A."]
            if self._selected:
                chosen = ", ".join(f"{k}: {v}" for k, v in self._selected.items())
                parts.append(f"Selected: {chosen}")
            parts += ["Description", "Features", "Reviews", "Buy Now"]
        elif self._page == "description":
            parts.append(product.description or "(no description)")
        elif self._page == "features":
            parts += list(product.bullets) or ["(no features)"]
        else:
            parts += [f"{score}/5: {text}" for score, text in product.reviews] or ["(no reviews)"]
        return SEP.join(parts)

    # -- progress signals -----------------------------------------------------------------
    def progress_state(self) -> dict[str, Any]:
        """What :class:`~prm_gym.envs.webshop.progress.WebShopProgress` reads: whether the
        current search shows the target's category in its first page, holds the target, whether
        the target's page (or a sub-page) is open, and the share of goal options chosen on it."""
        state: dict[str, Any] = {
            "page": self._page,
            "category_searched": False,
            "target_in_results": False,
            "target_opened": False,
            "options_chosen": 0.0,
        }
        if self.task is None:
            return state
        goal = self.task.answer
        target = self.catalog.index_of(str(goal.get("asin", "")))
        crumbs = tuple(goal.get("breadcrumb", ()))
        first = self._results[: self.results_per_page]
        state["category_searched"] = any(self.catalog[i].breadcrumb == crumbs for i in first)
        state["target_in_results"] = target is not None and target in self._results
        opened = target is not None and self._item == target
        state["target_opened"] = opened
        wanted = [str(v).lower() for v in dict(goal.get("options", {})).values()]
        if opened and wanted:
            chosen = set(self._selected.values())
            state["options_chosen"] = sum(v in chosen for v in wanted) / len(wanted)
        elif opened:
            state["options_chosen"] = 1.0
        return state

    # -- snapshots ------------------------------------------------------------------------
    def _extra_state(self) -> Any:
        return {
            "page": self._page,
            "query": self._query,
            "results": list(self._results),
            "page_num": self._page_num,
            "item": self._item,
            "selected": dict(self._selected),
        }

    def _restore_extra_state(self, state: Any) -> None:
        self._page, self._query = state["page"], state["query"]
        self._results, self._page_num = list(state["results"]), state["page_num"]
        self._item, self._selected = state["item"], dict(state["selected"])
