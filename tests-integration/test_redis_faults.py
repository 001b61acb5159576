"""Real faults on a real redis-server: every one lands in the failure policy.

Never an unhandled exception, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from servers import RedisServer, require

from ratelimit_core import Limiter, MemoryStore, StoreError
from ratelimit_core.compat import AlgorithmType, RateLimiterOrchestrator, RateLimiterType
from ratelimit_redis import RedisStore

Server = Any  # conftest.RedisServer


@pytest.fixture
async def own_client(own_redis: Server) -> AsyncIterator[Redis]:
    client = Redis.from_url(own_redis.url, socket_connect_timeout=0.5)
    try:
        yield client
    finally:
        await client.aclose()


async def test_server_stopped_and_restarted_on_the_same_port(own_redis: Server, own_client: Redis) -> None:
    client = own_client
    limiter = Limiter("100/minute", store=RedisStore(client, timeout=0.5), on_error="raise")
    assert (await limiter.hit("k")).allowed
    own_redis.stop()
    with pytest.raises(StoreError):
        await limiter.hit("k")
    fail_open = Limiter("100/minute", store=RedisStore(client, timeout=0.5), on_error="allow")
    degraded = await fail_open.hit("k")
    assert degraded.allowed
    assert degraded.degraded
    own_redis.start()  # a new, empty server: the scripts are gone too (NOSCRIPT)
    decision = await limiter.hit("k")
    assert decision.allowed
    assert not decision.degraded
    assert decision.remaining == 99, "a restarted server without persistence starts afresh"


async def test_paused_server_answers_within_the_timeout(own_redis: Server, own_client: Redis) -> None:
    client = own_client
    limiter = Limiter("100/minute", store=RedisStore(client, timeout=0.1), on_error="deny")
    assert (await limiter.hit("k")).allowed
    own_redis.pause()
    try:
        started = time.monotonic()
        decision = await limiter.hit("k")
        took = time.monotonic() - started
        assert not decision.allowed
        assert decision.degraded
        assert took < 0.1 + 0.4, f"took {took:.3f} s"
    finally:
        own_redis.resume()
    await asyncio.sleep(0.05)
    # The connection cut by the timeout is replaced; decisions succeed again.
    for _ in range(3):
        decision = await limiter.hit("k")
        if not decision.degraded:
            break
    assert not decision.degraded


async def test_script_flush_between_calls_recovers_on_the_same_call(redis: Redis) -> None:
    for algorithm in ("token_bucket", "fixed_window", "sliding_window_log", "sliding_window_counter"):
        limiter = Limiter("5/minute", algorithm=algorithm, store=RedisStore(redis, timeout=2))
        assert (await limiter.hit("k")).remaining == 4
        await redis.script_flush()
        decision = await limiter.hit("k")
        assert decision.remaining == 3
        assert not decision.degraded


async def test_out_of_memory_is_a_store_error_and_the_fallback_answers(own_client: Redis) -> None:
    client = own_client
    await client.config_set("maxmemory-policy", "noeviction")
    await client.set("filler", "x" * 1_000_000)
    await client.config_set("maxmemory", "1mb")
    limiter = Limiter("100/minute", store=RedisStore(client, timeout=2))
    with pytest.raises(StoreError, match="OutOfMemoryError"):
        await limiter.hit("k")
    fallback = MemoryStore()
    guarded = Limiter("100/minute", store=RedisStore(client, timeout=2), fallback=fallback)
    decision = await guarded.hit("k")
    assert decision.allowed
    assert decision.degraded
    assert decision.remaining == 99
    await client.config_set("maxmemory", "0")
    assert not (await guarded.hit("k")).degraded


async def test_no_server_at_all_fails_fast_into_the_policy() -> None:
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = Limiter("1/s", store=RedisStore(client, timeout=1), on_error="deny")
    decision = await limiter.hit("k")
    assert not decision.allowed
    assert decision.degraded
    await client.aclose()


async def test_seed_facade_on_a_real_server(redis_url: str) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)  # as the seed's README does
    await client.flushdb()
    for algorithm in AlgorithmType:
        limiter = RateLimiterOrchestrator(
            rate_limiter_type=RateLimiterType.REDIS,
            algorithm_type=algorithm,
            max_requests=3,
            time_window=3600,
            redis_client=client,
        )
        responses = [await limiter.get_response(uId="user-123") for _ in range(4)]
        assert [r.allowed for r in responses] == [True, True, True, False]
        assert [r.remaining_requests for r in responses] == [2, 1, 0, 0]
        assert 0 < responses[-1].reset_time <= 3600
    await client.aclose()


async def test_seed_facade_lets_store_errors_through() -> None:
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = RateLimiterOrchestrator(RateLimiterType.REDIS, AlgorithmType.TOKEN_BUCKET, 10, 60, redis_client=client)
    with pytest.raises(StoreError):
        await limiter.get_response(uId="user-123")
    await client.aclose()


async def test_an_evicting_server_is_named_once_per_store(own_client: Redis, caplog: pytest.LogCaptureFixture) -> None:
    await own_client.config_set("maxmemory-policy", "allkeys-lru")
    store = RedisStore(own_client)
    limiter = Limiter("3/minute", store=store)
    with caplog.at_level(logging.WARNING, logger="ratelimit_redis"):
        for _ in range(5):
            await limiter.hit("k")
        await store.aclose()
        await limiter.hit("k")  # a new connection of the same store: no second warning
    warnings = [r for r in caplog.records if r.name == "ratelimit_redis"]
    assert len(warnings) == 1
    assert "allkeys-lru" in warnings[0].getMessage()
    assert "noeviction" in warnings[0].getMessage()


async def test_a_server_that_keeps_limits_is_not_warned_about(
    own_client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ratelimit_redis"):
        await Limiter("3/minute", store=RedisStore(own_client)).hit("k")
    assert not [r for r in caplog.records if r.name == "ratelimit_redis"]


async def test_a_server_without_scripting_says_so_at_the_first_decision(engine: str, tmp_path: Path) -> None:
    require(engine=engine)
    server = RedisServer(tmp_path, None, "--rename-command", "EVALSHA", '""', engine=engine).start()
    client = Redis.from_url(server.url)
    try:
        with pytest.raises(StoreError, match="cannot run Lua scripts"):
            await Limiter("3/minute", store=RedisStore(client)).hit("k")
    finally:
        await client.aclose()
        server.stop()
