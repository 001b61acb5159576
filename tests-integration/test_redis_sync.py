"""ratelimit_redis.sync.RedisStore: the shipped suite, both colours on one server, threads, and faults."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.cluster import RedisCluster as SyncCluster
from redis.sentinel import Sentinel
from test_redis_sentinel import _cli, _role

from ratelimit_core import Limiter as AsyncLimiter
from ratelimit_core import StoreError
from ratelimit_core.sync import Limiter
from ratelimit_core.testing import SyncStoreTests
from ratelimit_redis import RedisStore as AsyncRedisStore
from ratelimit_redis.sync import RedisStore


class TestSyncRedisStore(SyncStoreTests):
    """Standalone, on each engine."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def make_sync_store(self, clock: Callable[[], float]) -> RedisStore:
        return RedisStore(SyncRedis.from_url(self.url), clock=clock, timeout=5)


class TestSyncRedisClusterStore(SyncStoreTests):
    """A three-primary cluster, on each engine."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_cluster: Any) -> None:
        self.port = redis_cluster.ports[0]

    def make_sync_store(self, clock: Callable[[], float]) -> RedisStore:
        return RedisStore(SyncCluster(host="127.0.0.1", port=self.port), clock=clock, timeout=5)


def test_an_async_and_a_sync_limiter_on_one_server_share_one_limit(redis_url: str) -> None:
    name = uuid.uuid4().hex[:8]
    sync = Limiter("10/hour", name=name, store=RedisStore(SyncRedis.from_url(redis_url)))

    async def from_async() -> int:
        client = Redis.from_url(redis_url)
        store = AsyncRedisStore(client)
        limiter = AsyncLimiter("10/hour", name=name, store=store)
        admitted = sum([(await limiter.hit("k")).allowed for _ in range(6)])
        await store.aclose()
        await client.aclose()
        return admitted

    assert asyncio.run(from_async()) == 6
    assert sync.peek("k").remaining == 4
    assert sum(sync.hit("k").allowed for _ in range(6)) == 4


def test_sixteen_threads_admit_exactly_the_limit(redis_url: str) -> None:
    client = SyncRedis.from_url(redis_url, max_connections=32)
    limiter = Limiter("100/hour", name=uuid.uuid4().hex[:8], store=RedisStore(client))
    counts: list[int] = []
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        counts.append(sum(limiter.hit("k").allowed for _ in range(20)))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 100
    assert len(client.connection_pool._in_use_connections) == 0, "no connection is held between calls"


def test_a_lost_script_is_sent_again_in_the_same_exchange(redis_url: str) -> None:
    client = SyncRedis.from_url(redis_url)
    limiter = Limiter("5/hour", name=uuid.uuid4().hex[:8], store=RedisStore(client))
    assert limiter.hit("k").remaining == 4
    client.script_flush()
    assert limiter.hit("k").remaining == 3


def test_no_server_is_a_store_error_and_the_breaker_then_fails_fast() -> None:
    client = SyncRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    store = RedisStore(client, breaker_failures=2, breaker_cooldown=30)
    limiter = Limiter("5/hour", store=store)
    for _ in range(2):
        with pytest.raises(StoreError, match="redis failed to decide"):
            limiter.hit("k")
    with pytest.raises(StoreError, match="circuit breaker is open"):
        limiter.hit("k")
    assert Limiter("5/hour", store=store, on_error="allow").hit("k").degraded


def test_an_asyncio_client_is_refused_naming_the_async_store() -> None:
    with pytest.raises(TypeError, match=r"ratelimit_redis\.RedisStore"):
        RedisStore(Redis())


def test_a_sentinel_master_serves_the_sync_store_through_a_failover(sentinel_setup: Any) -> None:
    sentinel = Sentinel([("127.0.0.1", sentinel_setup.sentinel_port)], socket_timeout=1)
    client = sentinel.master_for("mymaster", socket_timeout=1)
    limiter = Limiter("5/hour", store=RedisStore(client, timeout=2), name=uuid.uuid4().hex[:8], on_error="deny")
    assert limiter.hit("k", 2).remaining == 3
    assert _cli(sentinel_setup.master.port, "wait", "1", "2000").strip() == "1", "replicated"
    assert _cli(sentinel_setup.sentinel_port, "sentinel", "failover", "mymaster").strip() == "OK"
    for _ in range(200):
        if "role:master" in _role(sentinel_setup.replica.port):
            break
        time.sleep(0.05)
    decision = limiter.hit("k")
    for _ in range(100):  # in flight during the switch: failures go to the policy
        if not decision.degraded:
            break
        time.sleep(0.05)
        decision = limiter.hit("k")
    assert not decision.degraded
    assert decision.remaining in (2, 1), "the new master had what the old one held"
    client.close()
