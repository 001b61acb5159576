"""The app the load tests serve under uvicorn with several workers: routes behind the middleware on a shared store.

Configured by the environment (each worker reads it): ``LOAD_REDIS_URL``, or
``LOAD_SQLITE_PATH`` for a ``SqliteStore`` the workers share; ``LOAD_NAME`` (a
fresh limiter name per run) and ``LOAD_ROUTES``, entries ``path=algorithm@rate``
separated by spaces. Each route has its own limiter, keyed on the ``X-Client``
header; the store keeps its defaults and the middleware fails open, as the
issue's scenario does. An admitted answer names the worker that served it
(``X-Worker``: its pid).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from ratelimit_asgi import RateLimitMiddleware, header
from ratelimit_core import Limiter, SqliteStore
from ratelimit_redis import RedisStore

client: Redis | None = None
store: SqliteStore | RedisStore
if "LOAD_SQLITE_PATH" in os.environ:
    store = SqliteStore(os.environ["LOAD_SQLITE_PATH"])
else:
    client = Redis.from_url(os.environ["LOAD_REDIS_URL"])
    store = RedisStore(client)

WORKER = {"x-worker": str(os.getpid())}


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers=WORKER)


def limited(path: str, algorithm: str, rate: str) -> Mount:
    limiter = Limiter(rate, algorithm=algorithm, name=f"{os.environ['LOAD_NAME']}{path}", store=store)
    inner = Starlette(routes=[Route("/", ok)])
    return Mount(path, app=RateLimitMiddleware(inner, limiter=limiter, key_func=header("x-client"), fail_open=True))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await store.aclose()
    if client is not None:
        await client.aclose()


routes = []
for entry in os.environ["LOAD_ROUTES"].split():
    path, spec = entry.split("=")
    algorithm, rate = spec.split("@")
    routes.append(limited(path, algorithm, rate))
app = Starlette(routes=[Route("/health", ok), *routes], lifespan=lifespan)
