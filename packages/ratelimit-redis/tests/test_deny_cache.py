"""The deny cache keeps only answers Redis would still give."""

from __future__ import annotations

from ratelimit_core import Decision, Rate
from ratelimit_redis.deny_cache import DenyCache

RATE = Rate(1, 60)
NS = ("limiter:token_bucket:1/60000000",)
DENIAL = Decision(False, 1, 0, 30.0, 30.0, RATE)


def test_a_denial_is_answered_until_its_retry_after() -> None:
    cache = DenyCache()
    cache.put(NS, b"k", 1_000, DENIAL)
    answer = cache.get(NS, b"k", 11_000)
    assert answer is not None
    assert answer.retry_after == 29.99
    assert cache.get(NS, b"k", 1_000 + 30_000_000) is None


def test_a_denial_asked_before_a_refund_is_not_kept() -> None:
    """A hit in flight while this process refunds the key: its denial arrives after, and may be stale."""
    cache = DenyCache()
    cache.forget(NS, b"k", 5_000)  # the refund
    cache.put(NS, b"k", 4_000, DENIAL)  # sent before it
    assert cache.get(NS, b"k", 6_000) is None
    cache.put(NS, b"k", 5_000, DENIAL)  # sent in the same microsecond: not known to be after
    assert cache.get(NS, b"k", 6_000) is None
    cache.put(NS, b"k", 7_000, DENIAL)  # sent after it: Redis's answer stands
    assert cache.get(NS, b"k", 8_000) is not None


def test_what_is_kept_is_bounded() -> None:
    cache = DenyCache(size=3)
    for i in range(10):
        cache.forget(NS, b"%d" % i, i)
        cache.put(NS, b"x%d" % i, 100 + i, DENIAL)
    assert len(cache) == 3
    assert len(cache._forgotten) == 3
