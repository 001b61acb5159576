"""The apps ``http_requests.py`` serves under uvicorn: one JSON route, bare or behind a limiter.

Chosen by the environment, which every worker reads: ``BENCH_APP`` (see
``APPS``), ``BENCH_LIMIT`` (``"<count>/<second|minute|hour>"``) and, for the
Redis ones, ``BENCH_REDIS_URL``. Every limiter keys on the client address, as
each library does by default.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

LIMIT = os.environ.get("BENCH_LIMIT", "1000000000/hour")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
PERIODS = {"second": 1, "minute": 60, "hour": 3600}


def bare(lifespan: Any = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def ours(redis: bool) -> FastAPI:
    from ratelimit_asgi import RateLimitMiddleware
    from ratelimit_core import Limiter

    store: Any = None
    closers: list[Callable[[], Any]] = []
    if redis:
        from redis.asyncio import Redis

        from ratelimit_redis import RedisStore

        client = Redis.from_url(REDIS_URL)
        store = RedisStore(client)  # the defaults
        closers = [store.aclose, client.aclose]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for close in closers:
            await close()

    app = bare(lifespan)
    app.add_middleware(RateLimitMiddleware, limiter=Limiter(LIMIT, store=store))
    return app


def slowapi_redis() -> FastAPI:
    from slowapi import Limiter
    from slowapi.middleware import SlowAPIASGIMiddleware
    from slowapi.util import get_remote_address

    app = bare()
    count, _, unit = LIMIT.partition("/")
    app.state.limiter = Limiter(
        key_func=get_remote_address, default_limits=[f"{count} per {unit}"], storage_uri=REDIS_URL
    )
    app.add_middleware(SlowAPIASGIMiddleware)
    return app


def seed_redis() -> FastAPI:
    from rate_limiter import AlgorithmType, RateLimiterOrchestrator, RateLimiterType
    from rate_limiter.backend.middleware import RateLimiterMiddleware
    from redis.asyncio import Redis

    count, _, unit = LIMIT.partition("/")
    orchestrator = RateLimiterOrchestrator(
        RateLimiterType.REDIS,
        AlgorithmType.TOKEN_BUCKET,
        int(count),
        PERIODS[unit],
        redis_client=Redis.from_url(REDIS_URL),
    )
    app = bare()
    app.add_middleware(RateLimiterMiddleware, limiter=orchestrator)
    return app


APPS: dict[str, Callable[[], FastAPI]] = {
    "bare": bare,
    "ours-memory": lambda: ours(redis=False),
    "ours-redis": lambda: ours(redis=True),
    "slowapi-redis": slowapi_redis,
    "seed-redis": seed_redis,
}

app = APPS[os.environ.get("BENCH_APP", "bare")]()
