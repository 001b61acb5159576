"""One process of the 429-storm test: ``python storm_client.py PORT STORE PROCESS START SECONDS TASKS``.

From Unix time ``START`` for ``SECONDS``, ``TASKS`` tasks send requests for one
key through ``AsyncRateLimitTransport`` (no limiter: pauses only), sharing
``STORE`` (a SQLite path or a ``redis://`` URL) with the other processes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
from ratelimit_client import AsyncRateLimitTransport
from redis.asyncio import Redis

from ratelimit_core import SqliteStore
from ratelimit_redis import RedisStore


async def main(port: int, where: str, process: str, start: float, seconds: float, tasks: int) -> None:
    store: Any = RedisStore(Redis.from_url(where)) if where.startswith("redis://") else SqliteStore(where)
    transport = AsyncRateLimitTransport(store=store, learn=False, key=lambda request: "api")
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as client:
        await asyncio.sleep(max(0.0, start - time.time()))

        async def worker() -> None:
            while time.time() < start + seconds:
                await client.get("/", headers={"x-process": process})
                await asyncio.sleep(0.02)

        await asyncio.gather(*(worker() for _ in range(tasks)))


if __name__ == "__main__":
    port, where, process, start, seconds, tasks = sys.argv[1:]
    asyncio.run(main(int(port), where, process, float(start), float(seconds), int(tasks)))
