"""deny_cache=True: a key denied until T is answered locally until T."""

from __future__ import annotations

from redis.asyncio import Redis

from ratelimit_core import Limiter
from ratelimit_core.testing import ManualClock
from ratelimit_redis import RedisStore


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_denials_are_answered_locally_until_they_expire(redis: Redis) -> None:
    clock = ManualClock()
    limiter = Limiter("2/minute", algorithm="fixed_window", store=RedisStore(redis, deny_cache=True, clock=clock))
    await limiter.hit("k", 2)
    first = await limiter.hit("k")
    assert not first.allowed
    assert first.retry_after == 60.0
    await redis.config_resetstat()
    clock.advance(20)
    cached = await limiter.hit("k")
    assert not cached.allowed
    assert cached.retry_after == 40.0
    assert cached.reset_after == 40.0
    assert await evalsha_calls(redis) == 0, "answered without a round trip"
    assert (await limiter.hit("other")).allowed, "other keys still ask Redis"
    assert not (await limiter.hit("k", 0)).retry_after, "another cost asks Redis"
    assert await evalsha_calls(redis) == 2
    clock.advance(40)
    assert (await limiter.hit("k")).allowed, "after the denial's retry_after, Redis decides again"


async def test_reset_clears_the_cached_denial(redis: Redis) -> None:
    limiter = Limiter("1/hour", store=RedisStore(redis, deny_cache=True))
    await limiter.hit("k")
    assert not (await limiter.hit("k")).allowed
    await limiter.reset("k")
    assert (await limiter.hit("k")).allowed


async def test_without_the_cache_every_denial_asks_redis(redis: Redis) -> None:
    limiter = Limiter("1/hour", store=RedisStore(redis))
    await limiter.hit("k")
    await redis.config_resetstat()
    for _ in range(5):
        assert not (await limiter.hit("k")).allowed
    assert await evalsha_calls(redis) == 5
