"""The store's own connection on a real server: pipelining, time budgets, pool hygiene, the breaker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from ratelimit_core import Algorithm, Decision, Limiter, StoreError
from ratelimit_redis import RedisStore

Server = Any  # conftest.RedisServer


async def _stats(client: Redis) -> dict[str, int]:
    info = await client.info("stats")
    return {name: int(info[name]) for name in ("total_reads_processed", "total_connections_received")}


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_concurrent_decisions_share_a_few_writes(redis: Redis, algorithm: Algorithm) -> None:
    limiter = Limiter("150/hour", algorithm=algorithm, store=RedisStore(redis))
    for _ in range(3):  # both connections made, the script known
        await asyncio.gather(*(limiter.hit("warm-up") for _ in range(10)))
        await asyncio.sleep(0.05)
    before = await _stats(redis)
    decisions = await asyncio.gather(*(limiter.hit(f"k{i % 3}") for i in range(300)))
    after = await _stats(redis)
    assert sum(d.allowed for d in decisions) == 300, "three keys, a hundred each: all fit"
    reads = after["total_reads_processed"] - before["total_reads_processed"] - 1  # the INFO itself
    assert reads <= 10, f"the server read 300 decisions in {reads} reads"
    assert after["total_connections_received"] == before["total_connections_received"]
    more = await asyncio.gather(*(limiter.hit("k0", 50) for _ in range(3)))
    assert [d.allowed for d in more].count(True) == 1, "all or nothing still holds per decision"


async def test_script_flush_is_recovered_for_every_waiter(redis: Redis) -> None:
    limiter = Limiter("100/hour", store=RedisStore(redis))
    await limiter.hit("k")
    await redis.script_flush()
    decisions = await asyncio.gather(*(limiter.hit("k") for _ in range(50)))
    assert sorted(d.remaining for d in decisions) == list(range(49, 99))
    assert not any(d.degraded for d in decisions)


async def test_the_budget_measures_redis_not_a_busy_event_loop(redis: Redis) -> None:
    """Ten decisions are written, then the loop is blocked for 3x the budget; Redis answered in time."""
    limiter = Limiter("100/hour", store=RedisStore(redis, timeout=0.1))
    await limiter.hit("k")
    for _ in range(5):
        tasks = [asyncio.ensure_future(limiter.hit("k")) for _ in range(10)]
        for _ in range(3):  # the callers queue their commands, the writer writes them
            await asyncio.sleep(0)
        time.sleep(0.3)  # noqa: ASYNC251 - the event loop is busy elsewhere on purpose
        decisions = await asyncio.gather(*tasks)
        assert all(d.allowed and not d.degraded for d in decisions)
    assert (await limiter.peek("k")).remaining == 49


async def test_a_deep_pipeline_fails_no_decision_while_redis_keeps_answering(redis: Redis) -> None:
    """5,000 decisions at once take Redis far longer than the 20 ms budget, but it answers all along."""
    limiter = Limiter("10000/hour", store=RedisStore(redis, timeout=0.02, breaker_failures=None))
    await limiter.hit("k")
    loop = asyncio.get_running_loop()
    started = loop.time()
    decisions = await asyncio.gather(*(limiter.hit(f"k{i % 100}") for i in range(5000)))
    assert loop.time() - started > 0.02, "Redis really took longer than the budget"
    assert all(d.allowed and not d.degraded for d in decisions)


async def test_a_stalled_server_fails_every_waiter_within_the_budget_and_keeps_the_connection(
    own_redis: Server,
) -> None:
    client = Redis.from_url(own_redis.url)
    try:
        limiter = Limiter("100/hour", store=RedisStore(client, timeout=0.2, breaker_failures=None))
        await limiter.hit("k")
        await asyncio.gather(limiter.hit("warm-up"), limiter.hit("warm-up"))  # the second connection
        await asyncio.sleep(0.05)
        before = await _stats(client)
        own_redis.pause()
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = await asyncio.gather(*(limiter.hit("k") for _ in range(20)), return_exceptions=True)
            assert loop.time() - started < 1.0
            assert all(isinstance(r, StoreError) for r in results)
            assert all("answered nothing for 200 ms while the decision waited" in str(r) for r in results)
        finally:
            own_redis.resume()
        decision = await limiter.hit("k")
        assert decision.allowed
        # A decision that timed out may still run once the server wakes: the
        # commands were already in its socket. Units are then consumed, never lost.
        assert 78 <= decision.remaining <= 98
        after = await _stats(client)
        assert after["total_connections_received"] == before["total_connections_received"], (
            "the stalled connection was kept"
        )
    finally:
        await client.aclose()


async def test_a_waiter_that_gives_up_leaves_the_connection_and_the_others_replies_right(own_redis: Server) -> None:
    client = Redis.from_url(own_redis.url)
    try:
        limiter = Limiter("100/hour", store=RedisStore(client, timeout=5))
        await limiter.hit("a")
        own_redis.pause()
        first = asyncio.ensure_future(limiter.hit("a"))
        second = asyncio.ensure_future(limiter.hit("b", 3))
        await asyncio.sleep(0.05)  # both are written and waiting
        first.cancel()
        await asyncio.sleep(0.05)
        own_redis.resume()
        decision = await second
        assert decision.remaining == 97, "the reply of the cancelled call went to nobody"
        with pytest.raises(asyncio.CancelledError):
            await first
        assert (await limiter.peek("a")).remaining == 98, "the cancelled call had been written: it counted"
    finally:
        await client.aclose()


async def test_the_store_never_holds_a_connection_of_the_users_pool(redis_url: str) -> None:
    client = Redis.from_url(redis_url, max_connections=1)
    try:
        limiter = Limiter("100/hour", store=RedisStore(client))
        assert (await limiter.hit("k")).allowed
        await client.set("app", "1")  # the app's own command, on its one pooled connection
        app_value, *decisions = await asyncio.gather(client.get("app"), *(limiter.hit("k") for _ in range(20)))
        assert app_value == b"1"
        assert all(isinstance(d, Decision) and d.allowed for d in decisions)
        assert await client.get("app") == b"1"
    finally:
        await client.aclose()


async def test_a_sync_client_is_refused_naming_the_async_one(redis_url: str) -> None:
    import redis as sync_redis  # noqa: PLC0415

    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        RedisStore(sync_redis.Redis.from_url(redis_url))


async def test_the_breaker_fails_fast_while_down_and_closes_at_once_when_back(own_redis: Server) -> None:
    client = Redis.from_url(own_redis.url)
    try:
        store = RedisStore(client, timeout=0.2, breaker_failures=3, breaker_cooldown=0.3)
        limiter = Limiter("100/hour", store=store, on_error="allow")
        assert not (await limiter.hit("k")).degraded
        own_redis.stop()
        for _ in range(3):  # each of these found the server gone
            assert (await limiter.hit("k")).degraded
        started = time.perf_counter()
        for _ in range(100):
            assert (await limiter.hit("k")).degraded
        took = (time.perf_counter() - started) / 100
        assert took < 0.002, f"an open breaker answers in microseconds, not {took * 1000:.1f} ms"
        assert "circuit breaker is open" in repr(await _store_error(store, limiter))
        own_redis.start()  # same port, empty
        back = time.perf_counter()
        while (await limiter.hit("k")).degraded:
            assert time.perf_counter() - back < 1.0, "exact again within a second of the server answering"
            await asyncio.sleep(0.01)
        decisions = [await limiter.hit("k") for _ in range(5)]
        assert not any(d.degraded for d in decisions)
        assert [d.remaining for d in decisions] == [98, 97, 96, 95, 94]
    finally:
        await client.aclose()


async def _store_error(store: RedisStore, limiter: Limiter) -> StoreError:
    try:
        await store.hit(limiter.policy, "k", 1)
    except StoreError as exc:
        return exc
    raise AssertionError("the store answered while the server was down")
