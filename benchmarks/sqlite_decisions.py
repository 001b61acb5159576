"""One host, several processes: SqliteStore against MemoryStore, RedisStore and pyrate-limiter's SQLite bucket.

Run from the repository root (needs ``redis-server`` on PATH; it starts and
stops its own on a free loopback port)::

    hatch run bench:sqlite            # full run, writes benchmarks/results/
    hatch run bench:sqlite --quick    # a quick look, nothing written

Cases, on one hot key whose limit is never reached (the machinery is timed,
not denials), each decision awaited in turn:

* ``1 process``: decisions per second from one process.
* ``4 processes``: four OS processes deciding at once on the same key;
  decisions per second of all four together, and the latency of each decision
  (p50, p99, max) under that contention.

``SqliteStore`` runs on a file in ``/dev/shm`` (memory) and on a disk path.
``MemoryStore`` is the reference: with four processes it keeps four separate
limits (each process admits the whole limit), so its 4-process row is speed
without a shared limit. pyrate-limiter's ``SQLiteBucket`` is its sliding log
(it has no other algorithm on SQLite), across processes with its file lock
(``use_file_lock=True``), so it is compared with this project's sliding log.
A log holds every unit in its window, so those two cases take turns over
1,000 keys instead of one hot key (a log of a million units is no one's use of
it); pyrate-limiter's limiter keeps one log for all keys.
Each case runs ``--repeat`` times, interleaved; the best run counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from redis_decisions import save, start_server, table

Decide = Callable[[str], Awaitable[object]]
LIMIT = 10**9  # per hour: never reached
PROCESSES = 4

LOG_KEYS = 1_000

#: (label, store kind, algorithm)
CASES = (
    ("ratelimit SqliteStore, /dev/shm", "sqlite-shm", "token_bucket"),
    ("ratelimit SqliteStore, disk", "sqlite-disk", "token_bucket"),
    ("ratelimit RedisStore, loopback", "redis", "token_bucket"),
    ("ratelimit MemoryStore (not shared)", "memory", "token_bucket"),
    (f"ratelimit SqliteStore, /dev/shm, sliding log, {LOG_KEYS:,} keys", "sqlite-shm", "sliding_window_log"),
    (f"pyrate-limiter SQLiteBucket, /dev/shm, file lock, {LOG_KEYS:,} keys", "pyrate-shm", "sliding_window_log"),
)


async def make(kind: str, algorithm: str, where: str) -> tuple[Decide, Callable[[], Awaitable[None]]]:
    """A decision function for ``kind`` on the shared state at ``where``, and how to close it."""
    if kind.startswith("pyrate"):
        import pyrate_limiter as p

        bucket = p.SQLiteBucket.init_from_file(
            [p.Rate(LIMIT, 3_600_000)], db_path=where, use_file_lock=True, create_new_table=True
        )
        limiter = p.Limiter(bucket)

        async def pyrate(key: str) -> bool:
            return limiter.try_acquire(key, blocking=False)

        async def close_pyrate() -> None:
            bucket.close()

        return pyrate, close_pyrate

    from ratelimit_core import Limiter, MemoryStore, SqliteStore

    if kind.startswith("sqlite"):
        sqlite = SqliteStore(where, timeout=5)

        async def close_sqlite() -> None:
            sqlite.close()

        return Limiter(f"{LIMIT}/hour", algorithm=algorithm, store=sqlite).hit, close_sqlite
    if kind == "redis":
        from redis.asyncio import Redis

        from ratelimit_redis import RedisStore

        client = Redis.from_url(where)
        redis = RedisStore(client)

        async def close_redis() -> None:
            await redis.aclose()
            await client.aclose()

        return Limiter(f"{LIMIT}/hour", algorithm=algorithm, store=redis).hit, close_redis

    async def nothing() -> None:
        return None

    return Limiter(f"{LIMIT}/hour", algorithm=algorithm, store=MemoryStore()).hit, nothing


async def decide_in_turn(kind: str, algorithm: str, where: str, ops: int, start: float) -> dict[str, object]:
    """``ops`` decisions awaited in turn from ``start`` (wall clock): elapsed seconds and latencies (µs)."""
    decide, close = await make(kind, algorithm, where)
    keys = [f"k{i}" for i in range(LOG_KEYS)] if algorithm == "sliding_window_log" else ["hot"]
    try:
        for _ in range(100):  # warm up: connections, statements, the script
            await decide(keys[0])
        await asyncio.sleep(max(0.0, start - time.time()))
        latencies = []
        clock = time.perf_counter_ns
        began = clock()
        for i in range(ops):
            key = keys[i % len(keys)]
            before = clock()
            await decide(key)
            latencies.append((clock() - before) // 1000)
        elapsed = (clock() - began) / 1e9
    finally:
        await close()
    return {"elapsed": elapsed, "latencies": latencies}


def place(kind: str, folders: dict[str, str], url: str, run: int) -> str:
    """Where a case keeps its state: a fresh file per run, or the Redis URL."""
    if kind == "redis":
        return url
    if kind == "memory":
        return ""
    folder = folders["shm" if kind.endswith("shm") else "disk"]
    return str(Path(folder) / f"{kind}-{run}.db")


def processes(kind: str, algorithm: str, where: str, ops: int, count: int) -> dict[str, float]:
    """``count`` processes deciding at once: decisions per second of all, and the latency percentiles."""
    start = time.time() + 1.5  # after every process has set up and warmed up
    argv = [sys.executable, __file__, "--worker", kind, algorithm, where, str(ops), str(start)]
    workers = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        if worker.returncode != 0:
            raise RuntimeError(f"{kind} worker failed with {worker.returncode}")
        results.append(json.loads(out))
    latencies = sorted(value for result in results for value in result["latencies"])
    return {
        "rate": count * ops / max(result["elapsed"] for result in results),
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99)],
        "max": latencies[-1],
    }


def run(ops: int, repeat: int, url: str, folders: dict[str, str], only: str) -> list[dict[str, str]]:
    best: dict[tuple[str, int], dict[str, float]] = {}
    for attempt in range(repeat):
        for label, kind, algorithm in CASES:
            if only not in label and "RedisStore" not in label:  # Redis stays: the ratios are to it
                continue
            for count in (1, PROCESSES):
                where = place(kind, folders, url, attempt * 10 + count)
                figures = processes(kind, algorithm, where, ops, count)
                print(
                    f"{label:52} {count} process(es) {figures['rate']:10,.0f}/s  p99 {figures['p99']} µs",
                    file=sys.stderr,
                )
                key = (label, count)
                if key not in best or figures["rate"] > best[key]["rate"]:
                    best[key] = figures
    redis_one = best[("ratelimit RedisStore, loopback", 1)]["rate"]
    rows = []
    for (label, count), figures in best.items():
        rows.append(
            {
                "store": label,
                "processes": str(count),
                "decisions/s": f"{figures['rate']:,.0f}",
                "x RedisStore, 1 process": f"{figures['rate'] / redis_one:.2f}",
                "p50 µs": f"{figures['p50']:.0f}",
                "p99 µs": f"{figures['p99']:.0f}",
                "max µs": f"{figures['max']:.0f}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations; writes nothing")
    parser.add_argument("--ops", type=int, default=None, help="decisions per process")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--only", default="", help="run only the cases whose label contains this")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, algorithm, where, ops, start = args.worker
        print(json.dumps(asyncio.run(decide_in_turn(kind, algorithm, where, int(ops), float(start)))))
        return
    ops = args.ops or (2_000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    logging.disable(logging.CRITICAL)
    server, url, redis_folder = start_server()
    memory = "/dev/shm"  # noqa: S108 - a private mkdtemp folder in the tmpfs, removed after the run
    shm = tempfile.TemporaryDirectory(dir=memory if os.path.isdir(memory) else None)
    disk = tempfile.TemporaryDirectory(dir=Path(__file__).parent)  # the repository's disk, not a tmpfs /tmp
    try:
        rows = run(ops, repeat, url, {"shm": shm.name, "disk": disk.name}, args.only)
    finally:
        server.kill()
        server.wait()
        redis_folder.cleanup()
        shm.cleanup()
        disk.cleanup()
    columns = list(rows[0])
    versions = ", ".join(f"{d} {version(d)}" for d in ("ratelimit-core", "ratelimit-redis", "pyrate-limiter", "redis"))
    import sqlite3

    report = (
        f"# One host, several processes: SqliteStore\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {versions}; "
        f"{os.cpu_count()} cores; {ops:,} decisions per process, best of {repeat}.\n\n"
        "One hot key, every decision admitted and awaited in turn; 4 processes decide at once on the same key. "
        "Latency is each decision's, under that contention. MemoryStore keeps one limit per process "
        "(not shared: the reference for speed only).\n\n" + table(rows, columns) + "\n"
    )
    print(report)
    if not args.quick and not args.only:
        save("sqlite", report, rows, columns)


if __name__ == "__main__":
    main()
