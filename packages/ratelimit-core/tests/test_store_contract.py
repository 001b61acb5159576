"""MemoryStore passes the shipped store suite (ratelimit_core.testing.StoreTests)."""

from __future__ import annotations

from collections.abc import Callable

from ratelimit_core import MemoryStore, Store
from ratelimit_core.testing import StoreTests


class TestMemoryStore(StoreTests):
    async def make_store(self, clock: Callable[[], float]) -> Store:
        return MemoryStore(clock=clock)
