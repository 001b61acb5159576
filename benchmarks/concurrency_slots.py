"""What a concurrency slot costs: ``async with limiter.acquire(key)`` against one ``hit``, in one run.

Run from the repository root (needs ``redis-server`` on PATH; it starts and
stops its own on a free loopback port)::

    hatch run bench:concurrency            # full run, writes benchmarks/results/
    hatch run bench:concurrency --quick    # a quick look, nothing written

Cases, on one key whose limits are never reached:

* ``hit``: one ``await limiter.hit(key)`` of ``"1000000/hour"``.
* ``acquire + release``: ``async with limiter.acquire(key): pass`` of
  ``"1000000/hour; 1000 concurrent"``: two store calls (the acquire, then the
  release when the block ends), one script each on Redis.
* ``renew``: one lease renewal (a long holder makes one every third of its lease).

Each is timed awaited in turn (``sequential``) and with 100 callers at once
(``x100``, where Redis pipelines the calls of one process), on
``MemoryStore``, ``SqliteStore`` (``/dev/shm``) and ``RedisStore``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from redis.asyncio import Redis
from redis_decisions import save, start_server, table

from ratelimit_core import Limiter, MemoryStore, SqliteStore, Store
from ratelimit_redis import RedisStore

Op = Callable[[], Awaitable[object]]


async def timed(op: Op, ops: int, callers: int) -> float:
    """Operations per second: ``ops`` in all, by ``callers`` at once, each awaiting its own in turn."""

    async def caller(n: int) -> None:
        for _ in range(n):
            await op()

    started = time.perf_counter()
    await asyncio.gather(*(caller(ops // callers) for _ in range(callers)))
    return ops / (time.perf_counter() - started)


def cases(store: Store, name: str) -> dict[str, Op]:
    hits = Limiter("1000000/hour", name=f"{name}-hit", store=store)
    capped = Limiter("1000000/hour; 1000 concurrent", name=f"{name}-cap", store=store)
    holding = capped.store

    async def hit() -> object:
        return await hits.hit("k")

    async def acquire_release() -> object:
        async with capped.acquire("k") as decision:
            return decision

    async def renew() -> object:
        return await holding.renew(capped.policy, "k", "holder")  # type: ignore[attr-defined]

    return {"hit": hit, "acquire + release": acquire_release, "renew": renew}


async def run(ops: int, repeat: int, url: str, folder: str) -> list[dict[str, str]]:
    best: dict[tuple[str, str, str], float] = {}
    for attempt in range(repeat):
        client = Redis.from_url(url)
        stores: dict[str, Store] = {
            "MemoryStore": MemoryStore(),
            "SqliteStore (/dev/shm)": SqliteStore(Path(folder) / f"slots-{attempt}.db"),
            "RedisStore (loopback)": RedisStore(client),
        }
        for store_name, store in stores.items():
            for case, op in cases(store, f"bench{attempt}").items():
                await op()  # warm up: scripts, statements
                for mode, callers in (("sequential", 1), ("x100", 100)):
                    rate = await timed(op, ops, callers)
                    key = (store_name, case, mode)
                    best[key] = max(best.get(key, 0.0), rate)
                    print(f"{store_name:24} {case:18} {mode:10} {rate:10,.0f}/s", file=sys.stderr)
        for store in stores.values():
            close = getattr(store, "aclose", None)
            if close is not None:
                await close()
        await client.aclose()
    rows = []
    for (store_name, case, mode), rate in best.items():
        per_hit = best[(store_name, "hit", mode)]
        rows.append(
            {
                "store": store_name,
                "case": case,
                "callers": mode,
                "per second": f"{rate:,.0f}",
                "µs each": f"{1e6 / rate:.1f}" if mode == "sequential" else "",
                "x hit's time": f"{per_hit / rate:.2f}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations; writes nothing")
    args = parser.parse_args()
    ops, repeat = (2_000, 1) if args.quick else (10_000, 3)
    server, url, redis_folder = start_server()
    memory = "/dev/shm"  # noqa: S108 - a private mkdtemp folder in the tmpfs, removed after the run
    folder = tempfile.TemporaryDirectory(dir=memory if os.path.isdir(memory) else None)
    try:
        rows = asyncio.run(run(ops, repeat, url, folder.name))
    finally:
        server.kill()
        server.wait()
        redis_folder.cleanup()
        folder.cleanup()
    columns = list(rows[0])
    versions = ", ".join(f"{d} {version(d)}" for d in ("ratelimit-core", "ratelimit-redis", "redis"))
    report = (
        f"# What a concurrency slot costs\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
        f"{platform.python_version()}; {versions}; {os.cpu_count()} cores; {ops:,} operations per case, "
        f"best of {repeat}.\n\n`x hit's time`: the case's time per operation over one `hit`'s, same store and "
        "callers.\n\n" + table(rows, columns) + "\n"
    )
    print(report)
    if not args.quick:
        save("concurrency", report, rows, columns)


if __name__ == "__main__":
    main()
