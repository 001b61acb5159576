"""Latency percentiles and scaling: this project against the seed and the peers, in one run.

Run from the repository root (the Redis part starts its own ``redis-server``)::

    hatch run bench:scaling            # full run, writes benchmarks/results/
    hatch run bench:scaling --quick    # a quick look, nothing written

* Latency: the time of each single decision (token bucket), p50 and p99, in
  memory (one hot key, one caller) and on Redis (one caller; 100 concurrent
  callers, a key each).
* Keys: decisions per second and bytes held as the number of distinct keys
  grows from 100 to 1,000,000, in memory (this project's store is bounded by
  ``max_keys``, 100,000 by default; the seed's is not).
* Concurrency: decisions per second on Redis with 1 to 250 concurrent callers
  in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from memory_decisions import LIBRARIES as MEMORY_LIBRARIES
from memory_decisions import Decide, bytes_held
from redis.asyncio import Redis
from redis_decisions import close, makers, start_server

RESULTS = Path(__file__).parent / "results"
PEERS_IN_MEMORY = ["ratelimit", "async-ratelimit (seed)", "throttled-py", "pyrate-limiter"]
PEERS_ON_REDIS = ["ratelimit", "async-ratelimit (seed)", "throttled-py"]  # limits has no token bucket


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_ns, n=100)
    return cuts[49] / 1000, cuts[98] / 1000


async def timed_calls(decide: Decide, keys: list[str], count: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for i in range(count):
        key = keys[i % len(keys)]
        started = clock()
        await decide(key)
        samples.append(clock() - started)
    return samples


async def latency(url: str, count: int) -> list[dict[str, str]]:
    rows = []
    for name in PEERS_IN_MEMORY:
        factory = MEMORY_LIBRARIES[name]("token_bucket")
        assert factory is not None
        decide = factory(100_000_000, 3600)
        await timed_calls(decide, ["hot"], 1000)  # warm up
        p50, p99 = percentiles(await timed_calls(decide, ["hot"], count))
        rows.append(
            {"where": "memory", "case": "sequential", "library": name, "p50 µs": f"{p50:.2f}", "p99 µs": f"{p99:.2f}"}
        )
    for name in PEERS_ON_REDIS:
        client = Redis.from_url(url, max_connections=200)
        decide = makers("token_bucket")[name](client, url)
        await timed_calls(decide, ["hot"], 200)
        p50, p99 = percentiles(await timed_calls(decide, ["hot"], count // 10))
        rows.append(
            {"where": "redis", "case": "sequential", "library": name, "p50 µs": f"{p50:.1f}", "p99 µs": f"{p99:.1f}"}
        )
        each = max(10, count // 1000)
        results = await asyncio.gather(*(timed_calls(decide, [f"c{i}"], each) for i in range(100)))
        p50, p99 = percentiles([s for r in results for s in r])
        rows.append(
            {
                "where": "redis",
                "case": "100 concurrent",
                "library": name,
                "p50 µs": f"{p50:.1f}",
                "p99 µs": f"{p99:.1f}",
            }
        )
        await close(client)
    return rows


async def key_scaling(sizes: list[int]) -> list[dict[str, str]]:
    rows = []
    for name in ["ratelimit", "async-ratelimit (seed)"]:
        for size in sizes:
            factory = MEMORY_LIBRARIES[name]("token_bucket")
            assert factory is not None
            decide = factory(100, 3600)
            keys = [f"user-{i}" for i in range(size)]
            ops = max(size, 50_000)  # speed first, untraced: tracing slows every call
            started = time.perf_counter()
            for i in range(ops):
                await decide(keys[i % size])
            rate = ops / (time.perf_counter() - started)
            # Memory: a second limiter, traced, through the same keys once.
            held = await bytes_held(factory(100, 3600), keys)
            rows.append(
                {"library": name, "keys": str(size), "decisions/s": f"{rate:,.0f}", "MB held": f"{held / 1e6:.1f}"}
            )
            print(f"{name:24} {size:>9} keys {rate:12,.0f}/s {held / 1e6:8.1f} MB", file=sys.stderr)
            del keys, decide
    return rows


async def concurrency_scaling(url: str, levels: list[int], ops: int) -> list[dict[str, str]]:
    rows = []
    for name in ["ratelimit", "async-ratelimit (seed)"]:
        for callers in levels:
            client = Redis.from_url(url, max_connections=300)
            decide = makers("token_bucket")[name](client, url)
            each = max(20, ops // callers)

            async def caller(i: int, decide: Decide = decide, each: int = each) -> None:
                for _ in range(each):
                    await decide(f"c{i}")

            started = time.perf_counter()
            await asyncio.gather(*(caller(i) for i in range(callers)))
            rate = each * callers / (time.perf_counter() - started)
            await close(client)
            rows.append({"library": name, "callers": str(callers), "decisions/s": f"{rate:,.0f}"})
            print(f"{name:24} {callers:>4} callers {rate:10,.0f}/s", file=sys.stderr)
    return rows


def table(rows: list[dict[str, str]]) -> str:
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(columns))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller series; writes nothing")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    quick = args.quick
    server, url, folder = start_server()
    try:
        lat = await latency(url, 5_000 if quick else 50_000)
        keys = await key_scaling([100, 1_000, 10_000] if quick else [100, 1_000, 10_000, 100_000, 1_000_000])
        conc = await concurrency_scaling(
            url, [1, 10, 100] if quick else [1, 10, 50, 100, 250], 5_000 if quick else 30_000
        )
    finally:
        server.kill()
        server.wait()
        folder.cleanup()
    report = (
        f"# Latency and scaling\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; token bucket; see "
        "`benchmarks/latency_and_scaling.py` for the method.\n\n"
        f"## Latency of one decision\n\n{table(lat)}\n\n"
        f"## In memory, as distinct keys grow\n\n{table(keys)}\n\n"
        f"## On Redis, as concurrent callers grow\n\n{table(conc)}\n"
    )
    print(report)
    if not quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latency_and_scaling.md").write_text(report)
        for name, rows in (("latency", lat), ("scaling_keys", keys), ("scaling_concurrency", conc)):
            with (RESULTS / f"{name}.csv").open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


if __name__ == "__main__":
    asyncio.run(main())
