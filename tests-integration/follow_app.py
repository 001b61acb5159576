"""The app the end-to-end tests of limits that follow the request serve under uvicorn, on Redis.

Configured by the environment: ``FOLLOW_REDIS_URL`` and ``FOLLOW_NAME`` (a
fresh prefix for the limiters' names per run). Three routes:

* ``POST /login``: 401 unless ``X-Password: right``; only 401s count, 3 a minute per ``X-User``;
* ``GET /stream``: streams four chunks, half a second apart, reporting 10, 20, 30 and 40
  units as it goes; admitted at an estimate of 50 (of 100 a day), settled at what was reported;
* ``GET /tiers``: ``X-API-Key`` chooses the limiter: ``pro-...`` keys 100 a minute, others 2.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ratelimit_asgi import RateLimitMiddleware, Rule, api_key, header, report_cost, reported
from ratelimit_core import Limiter
from ratelimit_redis import RedisStore

client = Redis.from_url(os.environ["FOLLOW_REDIS_URL"])
store = RedisStore(client)
NAME = os.environ["FOLLOW_NAME"]

FREE = Limiter("2/minute", name=f"{NAME}-free", store=store)
PRO = Limiter("100/minute", name=f"{NAME}-pro", store=store)
LOGIN = Limiter("3/minute", name=f"{NAME}-login", store=store)
TOKENS = Limiter("100/day", name=f"{NAME}-tokens", store=store)  # a day: no refill during a test


async def login(request: Request) -> Response:
    right = request.headers.get("x-password") == "right"
    return PlainTextResponse("welcome" if right else "no", status_code=200 if right else 401)


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(1, 5):
            report_cost(request, n * 10)
            yield b"chunk %d\n" % n
            await asyncio.sleep(0.5)

    return StreamingResponse(chunks(), media_type="text/plain")


async def tiers(request: Request) -> Response:
    return PlainTextResponse("ok")


def tier(conn: HTTPConnection) -> Limiter:
    return PRO if conn.headers.get("x-api-key", "").startswith("pro-") else FREE


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await store.aclose()
    await client.aclose()


app = Starlette(
    routes=[Route("/login", login, methods=["POST"]), Route("/stream", stream), Route("/tiers", tiers)],
    lifespan=lifespan,
)
app.add_middleware(
    RateLimitMiddleware,
    rules=[
        Rule("/login", LOGIN, methods=["POST"], key_func=header("x-user"), count=lambda status: status == 401),
        Rule("/stream", TOKENS, cost=50, key_func=header("x-user"), settle=reported()),
        Rule("/tiers", tier, key_func=api_key()),
    ],
)
