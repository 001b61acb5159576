"""Every Redis store passes the shipped store suite: standalone and Cluster, Redis 7 and Valkey 9."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from ratelimit_core import Store
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
