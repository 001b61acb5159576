"""The deny cache keeps only answers the store would still give; DenyCachedStore is a store (the shipped suite)."""

from __future__ import annotations

from collections.abc import Callable

from ratelimit_core import Decision, MemoryStore, Rate, Store
from ratelimit_core.deny_cache import DenyCache, DenyCachedStore
from ratelimit_core.testing import StoreTests

RATE = Rate(1, 60)
NS = ("limiter:token_bucket:1/60000000",)
K, X = (NS, "k"), (NS, "x")
DENIAL = Decision(False, 1, 0, 30.0, 30.0, RATE)


def test_a_denial_is_answered_until_its_retry_after() -> None:
    cache = DenyCache()
    cache.put(K, 1_000, DENIAL)
    answer = cache.get(K, 11_000)
    assert answer is not None
    assert answer.retry_after == 29.99
    assert cache.get(K, 1_000 + 30_000_000) is None


def test_a_denial_asked_before_a_refund_is_not_kept() -> None:
    """A hit in flight while this process refunds the key: its denial arrives after, and may be stale."""
    cache = DenyCache()
    cache.forget(K, 5_000)  # the refund
    cache.put(K, 4_000, DENIAL)  # sent before it
    assert cache.get(K, 6_000) is None
    cache.put(K, 5_000, DENIAL)  # sent in the same microsecond: not known to be after
    assert cache.get(K, 6_000) is None
    cache.put(K, 7_000, DENIAL)  # sent after it: Redis's answer stands
    assert cache.get(K, 8_000) is not None


def test_what_is_kept_is_bounded() -> None:
    cache = DenyCache(size=3)
    for i in range(10):
        cache.forget((NS, str(i)), i)
        cache.put((NS, f"x{i}"), 100 + i, DENIAL)
    assert cache.size == 3
    assert len(cache._forgotten) == 3


class TestDenyCachedMemoryStore(StoreTests):
    """A wrapper is a store: the shipped suite, through the cache."""

    async def make_store(self, clock: Callable[[], float]) -> Store:
        return DenyCachedStore(MemoryStore(clock=clock), clock=clock)
