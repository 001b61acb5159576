"""Limits that follow the request, end to end: uvicorn with two workers on one Redis, a real HTTP client.

The app is ``follow_app.py``: a login that counts only 401s, a streamed
endpoint settled at the cost it reports as it streams (a client that goes
away mid-stream is settled too), and tiers chosen from an API key.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_load import uvicorn
from redis.asyncio import Redis
from servers import free_port

from ratelimit_core import Limiter
from ratelimit_redis import RedisStore

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def served(redis7_url: str, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The app on a free port; yields (port, the limiters' name prefix)."""
    port, name = free_port(), f"follow-{uuid.uuid4().hex[:8]}"
    env = {"FOLLOW_REDIS_URL": redis7_url, "FOLLOW_NAME": name}
    with uvicorn(port, 2, env, tmp_path / "uvicorn.log", app="follow_app:app"):
        yield port, name


async def remaining(redis_url: str, name: str, rate: str, key: str) -> int:
    """What the limiter ``name`` has left for ``key``, read from Redis by this process."""
    client = Redis.from_url(redis_url)
    async with RedisStore(client) as store:
        decision = await Limiter(rate, name=name, store=store).peek(key)
    await client.aclose()
    return decision.remaining


async def test_a_login_limit_counts_only_failed_logins(served: tuple[int, str]) -> None:
    port, _ = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

        async def attempt(password: str) -> int:
            answer = await http.post("/login", headers={"x-user": "alice", "x-password": password})
            return answer.status_code

        assert [await attempt("right") for _ in range(6)] == [200] * 6, "successes never count"
        assert [await attempt("wrong") for _ in range(4)] == [401, 401, 401, 429]
        assert await attempt("right") == 429, "three failures lock the account for the minute"
        other = await http.post("/login", headers={"x-user": "bob", "x-password": "wrong"})
        assert other.status_code == 401, "another user has a budget of their own"


async def test_a_streamed_response_is_settled_at_the_cost_it_reported(served: tuple[int, str], redis7_url: str) -> None:
    port, name = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        answer = await http.get("/stream", headers={"x-user": "carol"})
        assert answer.text.splitlines() == ["chunk 1", "chunk 2", "chunk 3", "chunk 4"]
        assert answer.headers["ratelimit"].startswith(f'"{name}-tokens";r=50;'), "admitted at the estimate of 50"
    assert await _settles_to(redis7_url, f"{name}-tokens", "x-user:carol", 60), "settled at the 40 reported last"


async def test_a_client_that_goes_away_mid_stream_is_still_settled(served: tuple[int, str], redis7_url: str) -> None:
    port, name = served
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
        http.stream("GET", "/stream", headers={"x-user": "dave"}) as answer,
    ):
        async for line in answer.aiter_lines():
            assert line == "chunk 1"
            break  # and hang up: the server stops streaming half a second before chunk 2
    assert await _settles_to(redis7_url, f"{name}-tokens", "x-user:dave", 90), (
        "settled at the 10 reported before leaving"
    )


async def test_tiers_from_an_api_key(served: tuple[int, str]) -> None:
    port, name = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        free = [(await http.get("/tiers", headers={"x-api-key": "free-7"})).status_code for _ in range(3)]
        pro = [await http.get("/tiers", headers={"x-api-key": "pro-7"}) for _ in range(3)]
    assert free == [200, 200, 429], "the free tier is denied"
    assert [answer.status_code for answer in pro] == [200, 200, 200], "the pro tier is admitted"
    assert pro[-1].headers["ratelimit-policy"] == f'"{name}-pro";q=100;w=60', "the fields are the pro limiter's"


async def _settles_to(redis_url: str, name: str, key: str, expected: int) -> bool:
    """Whether the limiter's remaining for ``key`` reaches ``expected`` within 3 s (settling ends the request)."""
    deadline = time.monotonic() + 3
    while True:
        left = await remaining(redis_url, name, "100/day", key)
        if left == expected or time.monotonic() > deadline:
            return left == expected
        await asyncio.sleep(0.05)
