"""Auto-batching on a real server: concurrent decisions share pipelines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from ratelimit_core import Algorithm, Limiter, StoreError
from ratelimit_redis import RedisStore


@pytest.fixture
def pipelines(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pipelines the client opens (the server under them is real)."""
    opened: list[int] = []
    original = redis.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(redis, "pipeline", counting)
    return opened


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_concurrent_decisions_share_a_few_pipelines(
    redis: Redis, pipelines: list[int], algorithm: Algorithm
) -> None:
    limiter = Limiter("150/hour", algorithm=algorithm, store=RedisStore(redis, timeout=5))
    decisions = await asyncio.gather(*(limiter.hit(f"k{i % 3}") for i in range(300)))
    assert sum(d.allowed for d in decisions) == 300, "three keys, a hundred each: all fit"
    assert len(pipelines) <= 3, f"{len(pipelines)} pipelines for 300 decisions"
    more = await asyncio.gather(*(limiter.hit("k0", 50) for _ in range(3)))
    assert [d.allowed for d in more].count(True) == 1, "all or nothing still holds per decision"


async def test_script_flush_is_recovered_inside_a_batch(redis: Redis) -> None:
    limiter = Limiter("100/hour", store=RedisStore(redis, timeout=5))
    await limiter.hit("k")
    await redis.script_flush()
    decisions = await asyncio.gather(*(limiter.hit("k") for _ in range(50)))
    assert sorted(d.remaining for d in decisions) == list(range(49, 99))
    assert not any(d.degraded for d in decisions)


async def test_a_stalled_batch_fails_every_waiter_within_the_timeout(own_redis: Any) -> None:
    client = Redis.from_url(own_redis.url)
    try:
        limiter = Limiter("100/hour", store=RedisStore(client, timeout=0.2))
        await limiter.hit("k")
        own_redis.pause()
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = await asyncio.gather(*(limiter.hit("k") for _ in range(20)), return_exceptions=True)
            assert loop.time() - started < 1.0
            assert all(isinstance(r, StoreError) for r in results)
        finally:
            own_redis.resume()
        decision = await limiter.hit("k")
        assert decision.allowed
        # A decision that timed out may still run once the server wakes: the
        # commands were already in its socket. Units are then consumed, never lost.
        assert 78 <= decision.remaining <= 98
    finally:
        await client.aclose()


@pytest.mark.parametrize("callers", [2, 3])
async def test_a_batch_of_one_never_shares_the_lone_callers_connection(redis: Redis, callers: int) -> None:
    """The first call goes alone; the next, queued behind it, may form a batch of one."""
    limiter = Limiter("100/hour", store=RedisStore(redis, timeout=5))
    for _ in range(20):
        decisions = await asyncio.gather(*(limiter.hit("k") for _ in range(callers)))
        assert all(d.allowed and not d.degraded for d in decisions)
    assert (await limiter.peek("k")).remaining == 100 - 20 * callers


async def test_a_batch_of_one_waits_on_its_own_connection(own_redis: Any) -> None:
    """While the lone caller's reply is held up, the next call must not read from its connection."""
    client = Redis.from_url(own_redis.url)
    try:
        limiter = Limiter("100/hour", store=RedisStore(client, timeout=5))
        await limiter.hit("k")  # the kept connection exists
        own_redis.pause()
        first = asyncio.ensure_future(limiter.hit("k"))
        await asyncio.sleep(0.05)  # the first call is waiting for its reply
        second = asyncio.ensure_future(limiter.hit("k"))  # queued: a batch of one
        await asyncio.sleep(0.05)
        own_redis.resume()
        decisions = await asyncio.gather(first, second)
        assert all(d.allowed and not d.degraded for d in decisions)
        assert sorted(d.remaining for d in decisions) == [97, 98]
    finally:
        await client.aclose()
