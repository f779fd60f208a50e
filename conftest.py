"""Root pytest configuration: doctest collection of ``prm_gym`` skips modules whose optional
extra is not installed (they raise a clear ImportError naming the extra when imported)."""

from __future__ import annotations

import importlib.util

# module path -> the distribution module it needs
_OPTIONAL = {
    "prm_gym/integrations/openenv.py": "openenv",
}

collect_ignore = [
    path for path, module in _OPTIONAL.items() if importlib.util.find_spec(module) is None
]
