"""Real HTTP under load: uvicorn with two workers on one Redis, the store's defaults, the middleware failing open.

Exactly the limit is admitted for every algorithm, on one key and on fifty;
no decision fails; and killing Redis mid-run costs no 5xx and is exact again
within a second of Redis answering. (About a minute in all.)
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from http_load import Response, blast, uvicorn
from redis.asyncio import Redis
from servers import free_port

from ratelimit_core import Algorithm

Server = Any  # conftest.RedisServer

ONE_KEY = "500/hour"  # one client, 500 admitted of 1,500
MANY_KEYS = "20/hour"  # fifty clients, 20 each of 30

pytestmark = pytest.mark.timeout(120)


def _admitted_bound(algorithm: Algorithm, limit: int, period: float, elapsed: float) -> int:
    """The most a key may be admitted in ``elapsed`` seconds: the limit, plus what a bucket refilled."""
    if algorithm is Algorithm.TOKEN_BUCKET:
        return limit + math.ceil(elapsed * limit / period)
    return limit


def _check(responses: list[Response], algorithm: Algorithm, limit: int, keys: int, elapsed: float) -> None:
    statuses = Counter(r.status for r in responses)
    assert set(statuses) <= {200, 429}, f"only admitted and denied, got {statuses}"
    missing = [r for r in responses if "ratelimit" not in r.headers or "ratelimit-policy" not in r.headers]
    assert not missing, f"{len(missing)} answers without their limit fields: a decision failed open"
    admitted = Counter(r.client for r in responses if r.status == 200)
    assert len(admitted) == keys
    bound = _admitted_bound(algorithm, limit, 3600, elapsed)
    for client, count in admitted.items():
        assert limit <= count <= bound, f"{algorithm}: {client} admitted {count}, limit {limit} (at most {bound})"
    counts = sorted(set(admitted.values()))
    print(
        f"{algorithm}: {len(responses)} requests, {keys} key(s), admitted {counts} each (limit {limit}), "
        f"{elapsed:.2f} s"
    )


async def test_two_workers_admit_exactly_the_limit_for_every_algorithm(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    routes = " ".join(f"/{a.value}/one={a.value}@{ONE_KEY} /{a.value}/many={a.value}@{MANY_KEYS}" for a in Algorithm)
    env = {"LOAD_REDIS_URL": redis_url, "LOAD_NAME": uuid.uuid4().hex[:8], "LOAD_ROUTES": routes}
    with uvicorn(port, 2, env, tmp_path / "uvicorn.log"):
        for algorithm in Algorithm:
            started = time.monotonic()
            one = await blast(port, f"/{algorithm.value}/one/", lambda i: "one", total=1500)
            _check(one, algorithm, 500, 1, time.monotonic() - started)
            started = time.monotonic()
            many = await blast(port, f"/{algorithm.value}/many/", lambda i: f"k{i % 50}", total=1500)
            _check(many, algorithm, 20, 50, time.monotonic() - started)
    log = (tmp_path / "uvicorn.log").read_text()
    assert "rate limit store failed" not in log, "no decision failed under load"


async def test_redis_killed_and_restarted_under_load(own_redis: Server, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "LOAD_REDIS_URL": own_redis.url,
        "LOAD_NAME": uuid.uuid4().hex[:8],
        "LOAD_ROUTES": "/load=token_bucket@1000000/hour /exact=fixed_window@20/hour",
    }
    with uvicorn(port, 2, env, tmp_path / "uvicorn.log"):
        start = time.monotonic()
        load = asyncio.ensure_future(blast(port, "/load/", lambda i: f"k{i % 10}", until=start + 4.0, connections=20))
        await asyncio.sleep(1.0)
        own_redis.stop()
        await asyncio.sleep(1.0)
        own_redis.start()  # same port, empty: a restart without persistence forgets every limit
        back = time.monotonic()
        responses = await load
        exact = await blast(port, "/exact/", lambda i: "after", total=60, connections=10)
    assert {r.status for r in responses} == {200}, "no 5xx, no 429 in disguise: the outage failed open"
    down = [r for r in responses if "ratelimit" not in r.headers]
    assert down, "some answers were made while Redis was down"
    assert all(start + 1.0 <= r.at for r in down), "degraded only after the kill"
    recovered = max(r.at for r in down) - back
    print(f"exact again {max(recovered, 0.0) * 1000:.0f} ms after Redis answered")
    assert recovered < 1.0, f"degraded answers went on {recovered:.2f} s after Redis was back"
    assert any(r.at > back + 1.0 for r in responses), "the run went on past the recovery"
    assert Counter(r.status for r in exact) == {200: 20, 429: 40}
    assert all("ratelimit" in r.headers for r in exact)
    client = Redis.from_url(own_redis.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
