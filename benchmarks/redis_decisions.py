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


Maker = Callable[..., Decide]  # (client, url, limit=LIMIT) -> decide(key)
ALGORITHMS = ("token_bucket", "fixed_window", "sliding_window_counter", "sliding_window_log")


_OPEN: list[object] = []  # this project's stores, closed with their client by close()


def ours(algorithm: str) -> Maker:
    from ratelimit_core import Limiter
    from ratelimit_redis import RedisStore

    def make(client: Redis, url: str, limit: int = LIMIT) -> Decide:
        store = RedisStore(client)  # the defaults
        _OPEN.append(store)
        return Limiter(f"{limit}/hour", algorithm=algorithm, store=store).hit

    return make


async def close(client: Redis) -> None:
    """Close ``client`` and the stores of this project made since the last call (their own connections)."""
    while _OPEN:
        await _OPEN.pop().aclose()  # type: ignore[attr-defined]
    await client.aclose()


def seed(algorithm: str) -> Maker | None:
    from rate_limiter import AlgorithmType, RateLimiterOrchestrator, RateLimiterType

    names = {
        "token_bucket": AlgorithmType.TOKEN_BUCKET,
        "fixed_window": AlgorithmType.FIXED_WINDOW,
        "sliding_window_log": AlgorithmType.SLIDING_WINDOW,  # a log on Redis
    }
    if algorithm not in names:
        return None

    def make(client: Redis, url: str, limit: int = LIMIT) -> Decide:
        orchestrator = RateLimiterOrchestrator(
            RateLimiterType.REDIS, names[algorithm], limit, 3600, redis_client=client
        )
        return orchestrator.get_response

    return make


def throttled_(algorithm: str) -> Maker | None:
    from throttled.asyncio import RateLimiterType, RedisStore, Throttled, rate_limiter

    names = {
        "token_bucket": RateLimiterType.GCRA,
        "fixed_window": RateLimiterType.FIXED_WINDOW,
        "sliding_window_counter": RateLimiterType.SLIDING_WINDOW,
    }
    if algorithm not in names:
        return None

    def make(client: Redis, url: str, limit: int = LIMIT) -> Decide:
        store = RedisStore(server=url, options={"MAX_CONNECTIONS": 200})
        return Throttled(using=names[algorithm].value, quota=rate_limiter.per_hour(limit), store=store).limit

    return make


def limits_(algorithm: str) -> Maker | None:
    from limits import RateLimitItemPerHour
    from limits.aio import strategies
    from limits.aio.storage import RedisStorage

    names = {
        "fixed_window": strategies.FixedWindowRateLimiter,
        "sliding_window_counter": strategies.SlidingWindowCounterRateLimiter,
        "sliding_window_log": strategies.MovingWindowRateLimiter,
    }
    if algorithm not in names:
        return None

    def make(client: Redis, url: str, limit: int = LIMIT) -> Decide:
        storage = RedisStorage(url.replace("redis://", "async+redis://"), implementation="redispy")
        strategy, item = names[algorithm](storage), RateLimitItemPerHour(limit)

        async def decide(key: str) -> bool:
            return await strategy.hit(item, key)

        return decide

    return make


ADAPTERS: dict[str, Callable[[str], Maker | None]] = {
    "ratelimit": ours,
    "async-ratelimit (seed)": seed,
    "throttled-py": throttled_,
    "limits": limits_,
}


def makers(algorithm: str) -> dict[str, Maker]:
    return {name: m for name, adapter in ADAPTERS.items() if (m := adapter(algorithm)) is not None}


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
    """MEMORY USAGE per client (1,000 clients, one unit each), or per admitted hit for a log."""
    rows = []
    client = Redis.from_url(url, max_connections=200)
    for algorithm in ALGORITHMS:
        for name, make in makers(algorithm).items():
            await client.flushall()
            log = algorithm == "sliding_window_log"
            decide = make(client, url, limit=100 if not log else 10_000)  # state that lasts
            for i in range(1000):
                await decide("hot" if log else f"user-{i:06d}")
            keys = [k async for k in client.scan_iter(count=1000)]
            total = sum([await client.memory_usage(k, samples=0) or 0 for k in keys])
            rows.append(
                {
                    "algorithm": algorithm,
                    "library": name,
                    "what": "bytes per admitted hit" if log else "bytes per client",
                    "bytes": f"{total / 1000:.1f}",
                    "keys": str(len(keys)),
                }
            )
    await close(client)
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


def save(name: str, report: str, rows: list[dict[str, str]], columns: list[str]) -> None:
    """Write ``results/<name>.md`` (the report) and ``results/<name>.csv`` (the rows)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report)
    with (RESULTS / f"{name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


async def run(url: str, ops: int, repeat: int) -> list[dict[str, str]]:
    best: dict[tuple[str, str, str], float] = {}
    for _ in range(repeat):
        for algorithm in ALGORITHMS:
            for case, runner, share in CASES:
                for name, make in makers(algorithm).items():
                    client = Redis.from_url(url, max_connections=200)
                    await client.flushall()
                    if case == "deny x100":
                        decide = make(client, url, limit=1)
                        await decide("spent")
                    else:
                        decide = make(client, url)
                    rate = await runner(decide, ops // share)
                    await close(client)
                    key = (algorithm, case, name)
                    best[key] = max(best.get(key, 0.0), rate)
                    print(f"{algorithm:24} {case:18} {name:24} {rate:10,.0f}/s", file=sys.stderr)
    rows = []
    for (algorithm, case, name), rate in best.items():
        seed_rate = best.get((algorithm, case, "async-ratelimit (seed)"))
        rows.append(
            {
                "algorithm": algorithm,
                "case": case,
                "library": name,
                "decisions/s": f"{rate:,.0f}",
                "x seed": f"{rate / seed_rate:.2f}" if seed_rate else "",
            }
        )
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
        f"{d} {version(d)}"
        for d in ("ratelimit-redis", "async-ratelimit", "throttled-py", "limits", "redis", "hiredis")
    )
    report = (
        f"# Decisions on Redis\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"Redis {redis_version} on loopback; {platform.machine()}, 2 cores shared by client and server; "
        f"ops={ops}, best of {repeat}.\n\n{versions}.\n\n## Decisions per second\n\n"
        + table(speed, ["algorithm", "case", "library", "decisions/s", "x seed"])
        + "\n\n## Redis memory (`MEMORY USAGE`)\n\n"
        + table(sizes, ["algorithm", "library", "what", "bytes", "keys"])
        + "\n"
    )
    print(report)
    if not args.quick:
        fields = ["algorithm", "case", "library", "decisions/s", "x seed", "what", "bytes", "keys"]
        save("redis", report, speed + sizes, fields)


if __name__ == "__main__":
    asyncio.run(main())
