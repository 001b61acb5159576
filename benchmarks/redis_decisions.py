"""Decisions per second on Redis: this project against the seed and the peers, in one run.

Run from the repository root (needs ``redis-server`` on PATH; it starts and
stops its own on a free loopback port, without persistence)::

    hatch run bench:redis            # full run, writes benchmarks/results/
    hatch run bench:redis --quick    # a quick look, nothing written

Cases, for the token bucket (and this project's other algorithms):

* ``sequential``: one caller, one key, awaiting each decision in turn.
* ``100 concurrent``: 100 callers in one process, one key each, all at once.
* ``hot key x100``: 100 callers on one key.
* ``10,000 keys x100``: 100 callers, cycling through 10,000 distinct keys.
* ``deny x100``: 100 callers on one key whose limit is used up.

Every library talks through redis-py with its C reply parser (``hiredis``).
Memory: ``MEMORY USAGE`` of the keys a library writes for 1,000 clients that
took one unit each (per client), and of a sliding-log key per admitted hit.
Each case is timed ``--repeat`` times, interleaved across libraries; the best
run counts. Read the ratios against the seed, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from redis.asyncio import Redis

Decide = Callable[[str], Awaitable[object]]
RESULTS = Path(__file__).parent / "results"
LIMIT = 10**6  # per hour: every decision is admitted; we time the machinery, not denials


def ours(client: Redis, url: str, algorithm: str = "token_bucket", limit: int = LIMIT) -> Decide:
    from ratelimit_core import Limiter
    from ratelimit_redis import RedisStore

    return Limiter(f"{limit}/hour", algorithm=algorithm, store=RedisStore(client, timeout=None)).hit


def seed(client: Redis, url: str, limit: int = LIMIT) -> Decide:
    from rate_limiter import AlgorithmType, RateLimiterOrchestrator, RateLimiterType

    limiter = RateLimiterOrchestrator(
        RateLimiterType.REDIS, AlgorithmType.TOKEN_BUCKET, limit, 3600, redis_client=client
    )
    return limiter.get_response


def throttled_(client: Redis, url: str, limit: int = LIMIT) -> Decide:
    from throttled.asyncio import RateLimiterType, RedisStore, Throttled, rate_limiter

    store = RedisStore(server=url, options={"MAX_CONNECTIONS": 200})
    throttle = Throttled(using=RateLimiterType.GCRA.value, quota=rate_limiter.per_hour(limit), store=store)
    return throttle.limit


def limits_(client: Redis, url: str, limit: int = LIMIT) -> Decide:
    from limits import RateLimitItemPerHour
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter

    # limits has no token bucket: its fastest strategy stands in.
    strategy = FixedWindowRateLimiter(RedisStorage(url.replace("redis://", "async+redis://"), implementation="redispy"))
    item = RateLimitItemPerHour(limit)

    async def decide(key: str) -> bool:
        return await strategy.hit(item, key)

    return decide


def ours_with(algorithm: str) -> Callable[..., Decide]:
    def make(client: Redis, url: str, limit: int = LIMIT) -> Decide:
        return ours(client, url, algorithm, limit)

    return make


LIBRARIES: dict[str, Callable[..., Decide]] = {
    "ratelimit": ours,
    "async-ratelimit (seed)": seed,
    "throttled-py (gcra)": throttled_,
    "limits (fixed window)": limits_,
    **{f"ratelimit ({a})": ours_with(a) for a in ("fixed_window", "sliding_window_counter", "sliding_window_log")},
}


async def sequential(decide: Decide, ops: int) -> float:
    started = time.perf_counter()
    for _ in range(ops):
        await decide("hot")
    return ops / (time.perf_counter() - started)


async def concurrent(decide: Decide, ops: int, keys: Callable[[int, int], str], callers: int = 100) -> float:
    """Decisions per second of ``callers`` concurrent loops; ``keys(caller, i)`` names each key."""
    each = ops // callers

    async def caller(c: int) -> None:
        for i in range(each):
            await decide(keys(c, i))

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return each * callers / (time.perf_counter() - started)


CASES: list[tuple[str, Callable[[Decide, int], Awaitable[float]], int]] = [
    # (name, runner, share of --ops)
    ("sequential", sequential, 5),
    ("100 concurrent", lambda d, n: concurrent(d, n, lambda c, i: f"client-{c}"), 1),
    ("hot key x100", lambda d, n: concurrent(d, n, lambda c, i: "hot"), 1),
    ("10,000 keys x100", lambda d, n: concurrent(d, n, lambda c, i: f"user-{(c * 100 + i) % 10_000}"), 1),
    ("deny x100", lambda d, n: concurrent(d, n, lambda c, i: "spent"), 1),
]


async def memory(url: str) -> list[dict[str, str]]:
    """MEMORY USAGE per client (1,000 clients, one unit each) and per sliding-log hit."""
    rows = []
    client = Redis.from_url(url, max_connections=200)
    for name, factory in LIBRARIES.items():
        if "log" in name:
            continue
        await client.flushall()
        decide = factory(client, url, limit=100)  # state that lasts: a client far from full
        for i in range(1000):
            await decide(f"user-{i:06d}")
        keys = [k async for k in client.scan_iter(count=1000)]
        total = sum([await client.memory_usage(k, samples=0) or 0 for k in keys])
        rows.append(
            {"library": name, "what": "bytes per client", "bytes": f"{total / 1000:.0f}", "keys": str(len(keys))}
        )
    await client.flushall()
    decide = ours(client, url, "sliding_window_log")
    for _ in range(1000):
        await decide("hot")
    (key,) = [k async for k in client.scan_iter()]
    rows.append(
        {
            "library": "ratelimit (sliding_window_log)",
            "what": "bytes per admitted hit",
            "bytes": f"{(await client.memory_usage(key, samples=0)) / 1000:.1f}",
            "keys": "1",
        }
    )
    await client.aclose()
    return rows


def start_server() -> tuple[subprocess.Popen[bytes], str, tempfile.TemporaryDirectory[str]]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on PATH (Debian: apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.TemporaryDirectory()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder.name],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.02)
    return server, f"redis://127.0.0.1:{port}/0", folder


def table(rows: list[dict[str, str]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r.get(c, "") for c in columns) + " |" for r in rows])


async def run(url: str, ops: int, repeat: int) -> list[dict[str, str]]:
    best: dict[tuple[str, str], float] = {}
    for _ in range(repeat):
        for name, factory in LIBRARIES.items():
            for case, runner, share in CASES:
                client = Redis.from_url(url, max_connections=200)
                await client.flushall()
                if case == "deny x100":
                    decide = factory(client, url, limit=1)
                    await decide("spent")
                else:
                    decide = factory(client, url)
                rate = await runner(decide, ops // share)
                await client.aclose()
                best[(name, case)] = max(best.get((name, case), 0.0), rate)
                print(f"{name:34} {case:15} {rate:10,.0f}/s", file=sys.stderr)
    rows = []
    for (name, case), rate in best.items():
        seed_rate = best[("async-ratelimit (seed)", case)]
        rows.append({"library": name, "case": case, "decisions/s": f"{rate:,.0f}", "x seed": f"{rate / seed_rate:.2f}"})
    order = [case for case, _, _ in CASES]
    rows.sort(key=lambda r: (order.index(r["case"]), r["library"] != "ratelimit", r["library"]))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations; writes nothing")
    parser.add_argument("--ops", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    ops = args.ops or (10_000 if args.quick else 50_000)
    repeat = args.repeat or (1 if args.quick else 3)
    logging.disable(logging.CRITICAL)
    server, url, folder = start_server()
    try:
        speed = await run(url, ops, repeat)
        sizes = await memory(url)
        redis_version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[2]
    finally:
        server.kill()
        server.wait()
        folder.cleanup()
    versions = ", ".join(
        f"{d} {version(d)}" for d in ("ratelimit-redis", "async-ratelimit", "throttled-py", "limits", "redis")
    )
    report = (
        f"# Decisions on Redis\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"Redis {redis_version} on loopback; {platform.machine()}, 2 cores shared by client and server; "
        f"ops={ops}, best of {repeat}.\n\n{versions}.\n\n## Decisions per second\n\n"
        + table(speed, ["library", "case", "decisions/s", "x seed"])
        + "\n\n## Redis memory (`MEMORY USAGE`)\n\n"
        + table(sizes, ["library", "what", "bytes", "keys"])
        + "\n"
    )
    print(report)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "redis.md").write_text(report)
        with (RESULTS / "redis.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["library", "case", "decisions/s", "x seed", "what", "bytes", "keys"])
            writer.writeheader()
            writer.writerows(speed + sizes)


if __name__ == "__main__":
    asyncio.run(main())
