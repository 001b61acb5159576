"""The app the concurrency tests serve under uvicorn: endpoints behind a cap of two per client.

``/stream`` sends a chunk every 50 ms for ten seconds (a client that leaves
ends it), ``/fails`` raises, ``/free`` answers how many slots its client has
free while it holds one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ratelimit_asgi import RateLimitMiddleware, header
from ratelimit_core import Limiter

limiter = Limiter("2 concurrent", name="capped")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"chunk\n"
            await asyncio.sleep(0.05)

    return StreamingResponse(chunks(), media_type="text/plain")


async def fails(request: Request) -> Response:
    raise RuntimeError("the endpoint failed")


async def free(request: Request) -> Response:
    return PlainTextResponse(str((await limiter.peek(f"x-client:{request.headers['x-client']}")).remaining))


app = RateLimitMiddleware(
    Starlette(routes=[Route("/stream", stream), Route("/fails", fails), Route("/free", free)]),
    limiter=limiter,
    key_func=header("x-client"),
)
