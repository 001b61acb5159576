"""One client process of the cross-process tests: tasks sending requests through ``AsyncRateLimitTransport``.

``python client_load.py PORT STORE MODE START REQUESTS TASKS KEYS`` sends
``REQUESTS`` requests over ``TASKS`` concurrent tasks, request ``i`` with
``X-API-Key: k{i % KEYS}``, starting at Unix time ``START``; ``STORE`` is a
SQLite path or a ``redis://`` URL shared with the other processes; ``MODE`` is
``learn`` (no limiter) or ``given`` (a limiter at 95% of the upstream's 20/s, a burst of 10).
Prints one JSON line: per key, the statuses seen and the first and last send.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import httpx
from ratelimit_client import AsyncRateLimitTransport
from redis.asyncio import Redis

from ratelimit_core import Limiter, Rate, SqliteStore
from ratelimit_redis import RedisStore


async def main(port: int, where: str, mode: str, start: float, requests: int, tasks: int, keys: int) -> None:
    store: Any = RedisStore(Redis.from_url(where)) if where.startswith("redis://") else SqliteStore(where)
    limiter = Limiter(Rate(19, 1, burst=10), name="given", store=store) if mode == "given" else None
    transport = AsyncRateLimitTransport(
        limiter, key=lambda request: request.headers["x-api-key"], store=None if limiter else store
    )
    statuses: dict[str, Counter[int]] = {f"k{k}": Counter() for k in range(keys)}
    times: list[float] = []
    queue = list(range(requests))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        await asyncio.sleep(max(0.0, start - time.time()))

        async def worker() -> None:
            while queue:
                key = f"k{queue.pop() % keys}"
                response = await client.get("/", headers={"x-api-key": key})
                statuses[key][response.status_code] += 1
                times.append(time.time())

        await asyncio.gather(*(worker() for _ in range(tasks)))
    print(json.dumps({"statuses": {k: dict(v) for k, v in statuses.items()}, "last": max(times)}))


if __name__ == "__main__":
    port, where, mode, start, requests, tasks, keys = sys.argv[1:]
    asyncio.run(main(int(port), where, mode, float(start), int(requests), int(tasks), int(keys)))
