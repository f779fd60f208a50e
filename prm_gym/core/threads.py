"""Scoped torch thread count, shared by every trainer in the package (torch loads lazily)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (``None``: leave as is) and restore the setting afterwards.

    Small models train fastest on one thread on a shared 2-core machine: with two threads torch
    waits on the busy core (about 10x slower SB3 training was measured).
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
