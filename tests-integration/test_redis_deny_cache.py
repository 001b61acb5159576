"""DenyCachedStore(RedisStore(...)): a key denied until T is answered locally until T."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from ratelimit_core import Algorithm, Limiter
from ratelimit_core.deny_cache import DenyCachedStore
from ratelimit_core.testing import ManualClock
from ratelimit_redis import RedisStore

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_denials_are_answered_locally_until_they_expire(redis: Redis) -> None:
    clock = ManualClock()
    limiter = Limiter(
        "2/minute", algorithm="fixed_window", store=DenyCachedStore(RedisStore(redis, clock=clock), clock=clock)
    )
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
    limiter = Limiter("1/hour", store=DenyCachedStore(RedisStore(redis)))
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


async def test_a_denial_never_answers_for_another_limiter(redis: Redis) -> None:
    """Same name, same first rate: a denial made by the second rate of one says nothing of the other."""
    store = DenyCachedStore(RedisStore(redis))
    both = Limiter(["5/minute", "1/second"], name="x", store=store)
    minute = Limiter("5/minute", name="x", store=store)  # shares the 5/minute state, not the 1/second one
    assert (await both.hit("k")).allowed
    assert not (await both.hit("k")).allowed
    decision = await minute.hit("k")
    assert decision.allowed, "the 5/minute rate has room: Redis admits"
    assert decision.remaining == 3


@settings(max_examples=EXAMPLES * 25 // 100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    algorithm=st.sampled_from(list(Algorithm)),
    timeline=st.lists(
        st.tuples(st.sampled_from([1, 1, 1, 1, 2, 0]), st.integers(0, 3_000_000)), min_size=1, max_size=40
    ),
)
async def test_a_cached_answer_is_the_answer_redis_gives(
    redis: Redis, algorithm: Algorithm, timeline: list[tuple[int, int]]
) -> None:
    """Twin limiters on one timeline, one with the cache: every decision is equal, to the microsecond."""
    clock = ManualClock()
    name = uuid.uuid4().hex[:8]
    cached = Limiter(
        "3/5s", algorithm=algorithm, name=name + "c", store=DenyCachedStore(RedisStore(redis, clock=clock), clock=clock)
    )
    plain = Limiter("3/5s", algorithm=algorithm, name=name + "p", store=RedisStore(redis, clock=clock))
    for step, (cost, advance) in enumerate(timeline):
        clock.us += advance
        expected = await plain.hit("k", cost)
        got = await cached.hit("k", cost)
        assert got == expected, f"step {step}: cost {cost}"
