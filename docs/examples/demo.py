"""The demo: a small FastAPI app behind RateLimitMiddleware, under uvicorn, on real HTTP.

``hatch run demo`` starts the app on a free loopback port, fires a burst of
requests at it through an HTTP client, prints what came back, and exits.
``hatch run demo --serve`` keeps serving (try ``curl -i`` on the printed URL).
State lives in memory, or in Redis when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time

import httpx
import uvicorn
from fastapi import FastAPI

from ratelimit_asgi import RateLimitMiddleware
from ratelimit_core import Limiter, Store
from ratelimit_redis import RedisStore


def make_store() -> Store | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return None  # the Limiter's default: a MemoryStore
    from redis.asyncio import Redis  # noqa: PLC0415 - only when asked for

    return RedisStore(Redis.from_url(url))  # the defaults


def make_app(store: Store | None) -> FastAPI:
    app = FastAPI(title="ratelimit demo")
    limiter = Limiter("5/second; 30/minute", name="demo", store=store)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, exclude_routes=["/health"])

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def burst(base: str) -> None:
    started = time.monotonic()
    print(f"{'t (s)':>6}  {'request':<10} {'status':>6}  {'Retry-After':>11}  RateLimit")
    async with httpx.AsyncClient(base_url=base) as client:

        async def request(label: str) -> None:
            response = await client.get("/hello")
            retry = response.headers.get("retry-after", "-")
            elapsed = time.monotonic() - started
            print(
                f"{elapsed:6.2f}  {label:<10} {response.status_code:>6}  {retry:>11}  {response.headers['ratelimit']}"
            )

        for i in range(8):  # five fit in a second; the rest are told to wait
            await request(f"burst {i + 1}")
        await asyncio.sleep(1.0)  # five tokens come back
        for i in range(3):
            await request(f"later {i + 1}")


async def main(serve: bool) -> None:
    store = make_store()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(store), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    where = "Redis at " + os.environ["REDIS_URL"] if store is not None else "memory"
    print(f"demo app on {base}/hello, 5 per second and 30 per minute per client, state in {where}\n")
    try:
        if serve:
            print(f"serving until Ctrl-C; try: curl -i {base}/hello")
            await serving
            return
        await burst(base)
    finally:
        server.should_exit = True
        await serving
        if isinstance(store, RedisStore):
            await store.aclose()  # the store's own connections; the client is closed with the process


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep serving instead of running the burst")
    asyncio.run(main(parser.parse_args().serve))
