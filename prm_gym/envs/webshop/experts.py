"""A scripted oracle for prm/WebShop-v0: reads the gold target, acts only through the page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prm_gym.core.task import Task
from prm_gym.envs.webshop.catalog import Catalog

__all__ = ["OracleShopper"]


class OracleShopper:
    """Buys a goal's target product with the goal's options.

    It searches the target's title, pages through the results until the target is listed
    (searching the product type instead if it is not), opens it, clicks every goal option value
    not yet selected and buys. It decides from ``task.answer`` (the gold) and the env's public
    ``info`` (``available_actions``, ``page``) only.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._tried: set[str] = set()

    def act(self, task: Task, info: Mapping[str, Any]) -> str:
        goal = task.answer
        target = str(goal["asin"]).lower()
        product = self.catalog.get(target)
        actions = list(info.get("available_actions", ()))
        page = info.get("page", {})
        if info.get("has_search_bar"):
            queries = [product.title if product else str(goal.get("name", "")),
                       str(goal.get("name", "")), target]  # fmt: skip
            query = next((q for q in queries if q not in self._tried), queries[-1])
            self._tried.add(query)
            return f"search[{query}]"
        if page.get("name") == "results":
            if f"click[{target}]" in actions:
                return f"click[{target}]"
            if "click[next >]" in actions:
                return "click[next >]"
            return "click[back to search]"
        if str(page.get("asin", "")).lower() != target:
            return "click[back to search]"
        if page.get("name") != "item":
            return "click[< prev]"
        selected = {str(v).lower() for v in dict(page.get("selected", {})).values()}
        for value in dict(goal.get("options", {})).values():
            value = str(value).lower()
            if value not in selected and f"click[{value}]" in actions:
                return f"click[{value}]"
        return "click[buy now]"

    def reset(self) -> None:
        """Forget the queries tried (call at every episode start)."""
        self._tried = set()
