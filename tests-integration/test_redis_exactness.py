"""Several OS processes hammer one key at once: exactly the limit is admitted."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from ratelimit_core import Algorithm

WORKER = """
import asyncio, json, sys
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from ratelimit_core import Limiter
from ratelimit_redis import RedisStore

async def main(url, algorithm, name):
    if url.startswith("cluster:"):
        client = RedisCluster(host="127.0.0.1", port=int(url.split(":")[1]), max_connections=200)
    else:
        client = Redis.from_url(url, max_connections=200)
    limiter = Limiter("100/hour", algorithm=algorithm, name=name, store=RedisStore(client, timeout=10))
    decisions = await asyncio.gather(*(limiter.hit("hot") for _ in range(100)))
    await client.aclose()
    print(json.dumps(sum(d.allowed for d in decisions)))

asyncio.run(main(*sys.argv[1:4]))
"""


@pytest.mark.parametrize("backend", ["redis", "cluster"])
@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_four_processes_of_a_hundred_hits_admit_exactly_a_hundred(
    redis_url: str, redis: Redis, redis_cluster: Any, algorithm: Algorithm, backend: str
) -> None:
    name = f"exact-{algorithm.value}-{uuid.uuid4().hex[:6]}"
    url = redis_url if backend == "redis" else f"cluster:{redis_cluster.ports[0]}"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, algorithm.value, name],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    admitted = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        admitted.append(json.loads(out))
    assert sum(admitted) == 100, admitted
