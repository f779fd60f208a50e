import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow training tests run only with PRM_GYM_SLOW=1; CI runs their short versions."""
    if os.environ.get("PRM_GYM_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set PRM_GYM_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
