"""A distant Redis with the store's defaults: only the first decision on a connection pays for setting it up."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from latency import delayed
from redis.asyncio import Redis

from ratelimit_core import Limiter
from ratelimit_core.compat import AlgorithmType, RateLimiterOrchestrator, RateLimiterType
from ratelimit_redis import RedisStore

Server = Any  # conftest.RedisServer


@pytest.mark.parametrize("delay", [0.020, 0.050])
async def test_defaults_work_far_away(redis_url: str, delay: float) -> None:
    with delayed(urlsplit(redis_url).port or 6379, delay) as port:
        client = Redis(host="127.0.0.1", port=port)
        try:
            await client.flushdb()
            limiter = Limiter("1000/hour", store=RedisStore(client))  # the defaults, on_error="raise"
            started = time.perf_counter()
            first = await limiter.hit("k")
            first_took = time.perf_counter() - started
            times = []
            for _ in range(10):
                started = time.perf_counter()
                decision = await limiter.hit("k")
                times.append(time.perf_counter() - started)
                assert decision.allowed
                assert not decision.degraded
            together = await asyncio.gather(*(limiter.hit("k") for _ in range(50)))
            assert first.allowed
            assert [d.remaining for d in [first]] == [999]
            assert sorted(d.remaining for d in together) == list(range(939, 989))
            later = sorted(times)[len(times) // 2]
            print(f"{delay * 1000:.0f} ms away: first decision {first_took * 1000:.1f} ms, later {later * 1000:.1f} ms")
            assert later >= 2 * delay, "the proxy really delays each way"
        finally:
            await client.aclose()


@pytest.mark.parametrize("delay", [0.020, 0.050])
async def test_the_seed_readme_example_works_far_away(redis_url: str, delay: float) -> None:
    with delayed(urlsplit(redis_url).port or 6379, delay) as port:
        client = Redis(host="127.0.0.1", port=port, decode_responses=True)  # as the seed's README does
        try:
            await client.flushdb()
            limiter = RateLimiterOrchestrator(
                rate_limiter_type=RateLimiterType.REDIS,
                algorithm_type=AlgorithmType.TOKEN_BUCKET,
                max_requests=5,
                time_window=60,
                redis_client=client,
            )
            responses = [await limiter.get_response(uId="user-123") for _ in range(6)]
            assert [r.allowed for r in responses] == [True] * 5 + [False]
        finally:
            await client.aclose()


async def test_a_server_stall_far_away_fails_no_decision(own_redis: Server) -> None:
    """16 ms away, the server stops for 100 ms while decisions are in flight: the defaults ride it out."""
    with delayed(own_redis.port, 0.016) as port:
        client = Redis(host="127.0.0.1", port=port)
        try:
            limiter = Limiter("1000/hour", store=RedisStore(client))
            assert (await limiter.hit("k")).allowed
            in_flight = [asyncio.ensure_future(limiter.hit("k")) for _ in range(20)]
            await asyncio.sleep(0.005)
            own_redis.pause()
            await asyncio.sleep(0.1)
            own_redis.resume()
            decisions = await asyncio.gather(*in_flight)
            decisions += [await limiter.hit("k") for _ in range(5)]
            assert not any(d.degraded for d in decisions)
            assert sorted(d.remaining for d in decisions) == list(range(974, 999))
        finally:
            await client.aclose()
