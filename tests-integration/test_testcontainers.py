"""The testcontainers path of the fixtures: a Redis container, where a Docker engine answers.

The fixtures use it only when no ``redis-server`` is on PATH and no ``REDIS_URL`` is set;
this test takes it on purpose, so that it runs wherever Docker does and skips cleanly
(with the reason) where it does not, as on CI.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from servers import docker_url

from ratelimit_core import Limiter
from ratelimit_redis import RedisStore


async def test_a_redis_container_decides() -> None:
    urls = docker_url()
    if urls is None:
        pytest.skip("no Docker engine answers on this machine: the testcontainers path runs where one does")
    for url in urls:
        client = Redis.from_url(url)
        try:
            async with RedisStore(client) as store:
                limiter = Limiter("2/minute", store=store, name="container")
                assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]
        finally:
            await client.aclose()
