"""ratelimit-client's cost per outgoing call, against pyrate-limiter's httpx transport and aiolimiter, in one run.

Run from the repository root (needs ``redis-server`` on PATH for the store
round trips; it starts and stops its own on a free loopback port)::

    hatch run bench:client            # full run, writes benchmarks/results/client.*
    hatch run bench:client --quick    # a quick look, nothing written

* ``overhead``: ``httpx.AsyncClient.get`` through each limiting transport over
  a no-op transport (it answers 200 at once), one key whose limit is never
  reached, memory stores, best of the repeats; the overhead is each one's
  time per call minus the bare no-op client's, measured in the same run.
  Ours: ``AsyncRateLimitTransport`` given a limiter, and learning (no
  limiter: it reads the key's pause). Anchors: ``pyrate-limiter``'s
  ``AsyncRateLimiterTransport`` (one global key) and ``aiolimiter``'s
  ``AsyncLimiter`` around the same inner call.
* ``round trips``: store calls per request on SQLite and Redis, counted
  through a counting wrapper; and while a key is paused (a 429 with
  ``Retry-After``), the store calls of the requests refused meanwhile: none,
  the pause is known in the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import platform
import sys
import tempfile
import time
from datetime import UTC
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from ratelimit_client import AsyncRateLimitTransport
from redis.asyncio import Redis
from redis_decisions import save, start_server, table

from ratelimit_core import Limiter, MemoryStore, Policy, RateLimitExceeded, SqliteStore
from ratelimit_core.wrapper import WrapperStore
from ratelimit_redis import RedisStore

LIMIT = 10**9  # never reached in a run


class NoOp(httpx.AsyncHTTPTransport):
    """Answers every request at once, without a socket: what is timed is the limiting around it."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.answers = [(status, headers or {})]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, headers = self.answers.pop() if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(status, headers=headers)


def pyrate_transport() -> httpx.AsyncBaseTransport:
    import pyrate_limiter as p
    from pyrate_limiter.extras.httpx_limiter import AsyncRateLimiterTransport

    class OverNoOp(AsyncRateLimiterTransport, NoOp):  # its super() call reaches the no-op
        pass

    bucket = p.StateBucket([p.Rate(LIMIT, 3_600_000)], algorithm=p.GCRA())
    return OverNoOp(limiter=p.Limiter(bucket))


class AioLimiterTransport(httpx.AsyncBaseTransport):
    """aiolimiter's ``AsyncLimiter`` around the inner call, as its documentation shows."""

    def __init__(self) -> None:
        from aiolimiter import AsyncLimiter

        self.limiter = AsyncLimiter(LIMIT, 3600)
        self.inner = NoOp()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.limiter:
            return await self.inner.handle_async_request(request)


async def per_call(transport: httpx.AsyncBaseTransport, calls: int) -> float:
    """Seconds per ``client.get`` through ``transport``."""
    async with httpx.AsyncClient(transport=transport, base_url="http://api.example") as client:
        for _ in range(200):  # warm up
            await client.get("/")
        started = time.perf_counter()
        for _ in range(calls):
            await client.get("/")
        return (time.perf_counter() - started) / calls


def overhead_rows(calls: int, repeat: int) -> list[dict[str, str]]:
    sides: dict[str, Any] = {
        "no limiter (bare no-op transport)": NoOp,
        "ratelimit-client, a limiter given": lambda: AsyncRateLimitTransport(
            Limiter(f"{LIMIT}/hour", store=MemoryStore()), transport=NoOp()
        ),
        "ratelimit-client, learning": lambda: AsyncRateLimitTransport(transport=NoOp()),
        "pyrate-limiter httpx transport": pyrate_transport,
        "aiolimiter around the call": AioLimiterTransport,
    }
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(repeat):  # the sides take turns, so that the machine's moods fall on all of them
        for name, make in sides.items():
            best[name] = min(best[name], asyncio.run(per_call(make(), calls)))
    bare = best.pop("no limiter (bare no-op transport)")
    ours = best["ratelimit-client, a limiter given"] - bare
    rows = [
        {
            "case": "overhead per call, memory",
            "side": name,
            "µs per call": f"{seconds * 1e6:.2f}",
            "overhead µs": f"{(seconds - bare) * 1e6:.2f}",
            "their overhead / ours (given)": f"{(seconds - bare) / ours:.2f}",
        }
        for name, seconds in best.items()
    ]
    return [
        {"case": "overhead per call, memory", "side": "bare no-op client", "µs per call": f"{bare * 1e6:.2f}"},
        *rows,
    ]


class Counting(WrapperStore):
    """Counts the calls that reach the store."""

    calls = 0

    async def hit(self, policy: Policy, key: str, cost: int) -> Any:
        Counting.calls += 1
        return await super().hit(policy, key, cost)

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        Counting.calls += 1
        return await super().block(policy, key, duration)

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        Counting.calls += 1
        return await super().read_note(policy, key)


async def round_trips(store: Any, label: str, calls: int) -> list[dict[str, str]]:
    rows = []
    for mode, limiter in (("a limiter given", Limiter("1000000/hour", store=Counting(store), name="rt")),
                          ("learning", None)):  # fmt: skip
        transport = AsyncRateLimitTransport(limiter, store=None if limiter else Counting(store), transport=NoOp())
        async with httpx.AsyncClient(transport=transport, base_url="http://api.example") as client:
            await client.get("/")
            Counting.calls = 0
            for _ in range(calls):
                await client.get("/")
        rows.append(
            {"case": f"round trips, {label}", "side": mode, "store calls per request": f"{Counting.calls / calls:.2f}"}
        )
    paused = NoOp(429, {"retry-after": "30"})
    transport = AsyncRateLimitTransport(store=Counting(store), learn=False, timeout=0, transport=paused)
    async with httpx.AsyncClient(transport=transport, base_url="http://paused.example") as client:
        await client.get("/")
        Counting.calls = 0
        for _ in range(calls):
            with contextlib.suppress(RateLimitExceeded):  # refused here, from the pause it knows
                await client.get("/")
    rows.append(
        {
            "case": f"round trips, {label}",
            "side": "while paused (refused)",
            "store calls per request": f"{Counting.calls / calls:.2f}",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run; nothing is written")
    args = parser.parse_args()
    calls, repeat = (2_000, 3) if args.quick else (20_000, 7)
    rows = overhead_rows(calls, repeat)
    server, url, folder = start_server()
    try:
        with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
            sqlite = SqliteStore(Path(shm) / "client.db")
            rows += asyncio.run(round_trips(sqlite, "sqlite", 200))
            sqlite.close()
        rows += asyncio.run(round_trips(RedisStore(Redis.from_url(url)), "redis", 200))
    finally:
        server.terminate()
        folder.cleanup()
    columns = ["case", "side", "µs per call", "overhead µs", "their overhead / ours (given)", "store calls per request"]
    stamp = datetime.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{p} {version(p)}" for p in ("httpx", "pyrate-limiter", "aiolimiter"))
    report = (
        f"# bench:client\n\n{stamp}; `hatch run bench:client`; Python {platform.python_version()}, {versions}.\n\n"
        "Overhead: each transport's time per `client.get` over a no-op inner transport, minus the bare "
        "client's, best of the repeats; the last column is each side's overhead over ours with a limiter "
        "given. Round trips: store calls per request, counted.\n\n" + table(rows, columns) + "\n"
    )
    print(report)
    if not args.quick:
        save("client", report, rows, columns)


if __name__ == "__main__":
    sys.exit(main())
