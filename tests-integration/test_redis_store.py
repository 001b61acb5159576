"""RedisStore: the shipped store suite, standalone and Cluster, Redis 7 and Valkey 9; and what it writes.

What every store shares is the shipped suite (``ratelimit_core.testing.StoreTests``) and
test_conformance.py; what follows it here is Redis's own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from ratelimit_core import Algorithm, Limiter, RateLimitExceeded, Store
from ratelimit_core.testing import StoreTests
from ratelimit_redis import RedisStore


class TestRedisStore(StoreTests):
    """Standalone, on each engine (the ``engine`` fixture: Redis and Valkey)."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    async def make_store(self, clock: Callable[[], float]) -> Store:
        self.client = Redis.from_url(self.url)
        return RedisStore(self.client, clock=clock, timeout=5)

    async def close_store(self, store: Store) -> None:
        await super().close_store(store)
        await self.client.aclose()


class TestRedisClusterStore(StoreTests):
    """A three-primary cluster, on each engine."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_cluster: Any) -> None:
        self.port = redis_cluster.ports[0]

    async def make_store(self, clock: Callable[[], float]) -> Store:
        self.client = ClusterClient(host="127.0.0.1", port=self.port)
        await self.client.initialize()
        return RedisStore(self.client, clock=clock, timeout=5)

    async def close_store(self, store: Store) -> None:
        await super().close_store(store)
        await self.client.aclose()


# -- what the store writes -------------------------------------------------------------


@pytest.fixture(params=["redis", "cluster"])
async def client(request: pytest.FixtureRequest, redis_url: str, redis_cluster: Any) -> AsyncIterator[Any]:
    """A client on each deployment: standalone or Cluster."""
    if request.param == "redis":
        each: Redis | ClusterClient = Redis.from_url(redis_url)
    else:
        each = ClusterClient(host="127.0.0.1", port=redis_cluster.ports[0])
        await each.initialize()
    try:
        yield each
    finally:
        await each.aclose()


async def test_every_key_written_is_short(client: Redis | ClusterClient) -> None:
    await client.flushall()
    store = RedisStore(client, timeout=5)
    names = ["default", "n" * 300, "with{brace}"]
    for algorithm in Algorithm:
        for name in names:
            limiter = Limiter("10/second; 1000/day", algorithm=algorithm, name=name, store=store)
            for identity in ["", "x" * 10_000, "{a}", "a:b"]:
                await limiter.hit(identity)
    keys = [key async for key in client.scan_iter(count=1000)]
    assert len(keys) == len(Algorithm) * len(names) * 4 * 2
    assert max(len(key) for key in keys) <= 128


async def test_one_store_keeps_a_capped_and_an_uncapped_limiter_of_one_name_and_rates_apart(
    client: Redis | ClusterClient,
) -> None:
    store = RedisStore(client, timeout=5)
    name = uuid.uuid4().hex[:8]
    plain = Limiter("10/minute", name=name, store=store)
    assert (await plain.hit("k")).remaining == 9
    for lease in (1, 2):  # and two leases of one cap: each runs its own
        capped = Limiter(f"10/minute; 1 concurrent lease={lease}s", name=name, store=store)
        async with capped.acquire("k") as decision:
            assert decision.statuses[-1].remaining == 0, "a slot taken, with the cap's own script arguments"
            with pytest.raises(RateLimitExceeded):
                async with capped.acquire("k"):
                    pass
    assert (await plain.hit("k")).remaining == 6, "the rate is shared: the same name and rate"
