"""The sync colour's speed: decisions per second from plain calls, against the peers' sync limiters, in one run.

Run from the repository root (needs ``redis-server`` on PATH; it starts and
stops its own on a free loopback port)::

    hatch run bench:sync            # full run, writes benchmarks/results/sync.*
    hatch run bench:sync --quick    # a quick look, nothing written

Cases, each on one key whose limit is never reached, best of the repeats:

* ``memory``: ``ratelimit_core.sync`` on its ``MemoryStore`` against the sync
  in-memory limiters of ``limits``, ``throttled-py`` and ``pyrate-limiter``
  (the same algorithm), and against this project's own async path
  (``await limiter.hit`` in a coroutine loop).
* ``sqlite``: the sync ``SqliteStore`` against the async one (``/dev/shm``).
* ``redis``: ``ratelimit_redis.sync`` against ``limits``' and
  ``throttled-py``'s sync Redis storages, one call after another; then ours
  with 16 threads sharing one store.
* ``bytes per key``: what 10,000 keys hold in the sync and the async
  ``MemoryStore`` (``tracemalloc``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from redis import Redis
from redis_decisions import save, start_server, table

from ratelimit_core import Limiter as AsyncLimiter
from ratelimit_core import MemoryStore as AsyncMemoryStore
from ratelimit_core import SqliteStore as AsyncSqliteStore
from ratelimit_core.sync import Limiter, MemoryStore, SqliteStore
from ratelimit_redis.sync import RedisStore

LIMIT = 10**6  # never reached in a run (and a sliding log of it fits Redis)
Call = Callable[[str], object]
ALGORITHMS = ("token_bucket", "fixed_window", "sliding_window_log")


def rate_of(call: Call, ops: int) -> float:
    """Calls per second of ``call("k")``: a ``partial`` of each library's own call, ours included, so that
    every side pays the same for the call and nothing of ours stands around it."""
    started = time.perf_counter()
    for _ in range(ops):
        call("k")
    return ops / (time.perf_counter() - started)


def async_rate(limiter: AsyncLimiter, ops: int) -> float:
    async def run() -> float:
        hit = partial(limiter.hit)  # as the sync side is called
        started = time.perf_counter()
        for _ in range(ops):
            await hit("k")
        return ops / (time.perf_counter() - started)

    return asyncio.run(run())


def memory_peers(algorithm: str) -> dict[str, Call]:
    """The peers' sync in-memory limiters of ``algorithm``, each a call hitting one key."""
    import limits
    import pyrate_limiter as p
    from limits import strategies
    from limits.storage import MemoryStorage
    from throttled import MemoryStore as ThrottledMemory
    from throttled import RateLimiterType, Throttled, rate_limiter

    peers: dict[str, Call] = {}
    limits_names = {
        "fixed_window": strategies.FixedWindowRateLimiter,
        "sliding_window_log": strategies.MovingWindowRateLimiter,
    }
    if algorithm in limits_names:
        strategy, item = limits_names[algorithm](MemoryStorage()), limits.RateLimitItemPerHour(LIMIT)
        peers["limits"] = partial(strategy.hit, item)
    throttled_names = {"token_bucket": RateLimiterType.GCRA, "fixed_window": RateLimiterType.FIXED_WINDOW}
    if algorithm in throttled_names:
        quota = rate_limiter.per_duration(datetime.timedelta(hours=1), limit=LIMIT)
        throttle = Throttled(using=throttled_names[algorithm].value, quota=quota, store=ThrottledMemory())
        peers["throttled-py"] = throttle.limit
    rates = [p.Rate(LIMIT, 3_600_000)]
    bucket = {
        "token_bucket": lambda: p.StateBucket(rates, algorithm=p.GCRA()),
        "fixed_window": lambda: p.InMemoryBucket(rates, algorithm=p.FixedWindow()),
        "sliding_window_log": lambda: p.InMemoryBucket(rates),
    }[algorithm]()
    pyrate = p.Limiter(bucket)
    peers["pyrate-limiter"] = partial(pyrate.try_acquire, blocking=False)
    return peers


def _keyed(hit: Callable[..., object], item: object, suffix: str, key: str) -> object:
    return hit(item, key + suffix)  # one Redis key per algorithm: the peers' key layouts collide otherwise


def _suffixed(limit: Callable[[str], object], suffix: str, key: str) -> object:
    return limit(key + suffix)


def redis_peers(url: str, algorithm: str) -> dict[str, Call]:
    import limits
    from limits import strategies
    from limits.storage import RedisStorage
    from throttled import RateLimiterType, Throttled, rate_limiter
    from throttled import RedisStore as ThrottledRedis

    peers: dict[str, Call] = {}
    limits_names = {
        "fixed_window": strategies.FixedWindowRateLimiter,
        "sliding_window_log": strategies.MovingWindowRateLimiter,
    }
    if algorithm in limits_names:
        strategy = limits_names[algorithm](RedisStorage(url))
        item = limits.RateLimitItemPerHour(LIMIT)
        peers["limits"] = partial(_keyed, strategy.hit, item, f"-{algorithm}")
    throttled_names = {"token_bucket": RateLimiterType.GCRA, "fixed_window": RateLimiterType.FIXED_WINDOW}
    if algorithm in throttled_names:
        store = ThrottledRedis(server=url)
        throttle = Throttled(using=throttled_names[algorithm].value, quota=rate_limiter.per_hour(LIMIT), store=store)
        peers["throttled-py"] = partial(_suffixed, throttle.limit, f"-{algorithm}")
    return peers


def threaded(limiter: Limiter, threads: int, each: int) -> float:
    """Decisions per second with ``threads`` threads sharing ``limiter``."""
    start = threading.Barrier(threads + 1)

    def work() -> None:
        start.wait()
        for _ in range(each):
            limiter.hit("k")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * each / (time.perf_counter() - started)


def row(case: str, library: str, rate: float, yardstick: float | None, against: str) -> dict[str, str]:
    return {
        "case": case,
        "library": library,
        "decisions/s": f"{rate:,.0f}",
        "µs each": f"{1e6 / rate:.2f}",
        "ours over": against,
        "ratio": "" if yardstick is None else f"{yardstick:.2f}",
    }


def memory_rows(ops: int, repeat: int) -> list[dict[str, str]]:
    rows = []
    for algorithm in ALGORITHMS:
        ours = Limiter(f"{LIMIT}/hour", algorithm=algorithm, store=MemoryStore())
        mine = max(rate_of(partial(ours.hit), ops) for _ in range(repeat))
        own_async = AsyncLimiter(f"{LIMIT}/hour", algorithm=algorithm, store=AsyncMemoryStore())
        asynchronous = max(async_rate(own_async, ops) for _ in range(repeat))
        peers = {name: max(rate_of(call, ops) for _ in range(repeat)) for name, call in memory_peers(algorithm).items()}
        fastest = max(peers.values())
        case = f"memory, {algorithm}"
        rows.append(row(case, "ratelimit (sync)", mine, mine / fastest, "the fastest peer"))
        rows.append(row(case, "ratelimit (async path)", asynchronous, mine / asynchronous, "our async path"))
        rows += [row(case, name, rate, mine / rate, name) for name, rate in peers.items()]
        print(rows[-len(peers) - 2 :], file=sys.stderr)
    return rows


def sqlite_rows(ops: int, repeat: int, folder: str) -> list[dict[str, str]]:
    sync_store = SqliteStore(Path(folder) / "sync.db")
    async_store = AsyncSqliteStore(Path(folder) / "async.db")
    ours = Limiter(f"{LIMIT}/hour", store=sync_store)
    theirs = AsyncLimiter(f"{LIMIT}/hour", store=async_store)
    mine = max(rate_of(partial(ours.hit), ops) for _ in range(repeat))
    asynchronous = max(async_rate(theirs, ops) for _ in range(repeat))
    sync_store.close()
    async_store.close()
    return [
        row("sqlite, token_bucket", "ratelimit (sync)", mine, mine / asynchronous, "our async SqliteStore"),
        row("sqlite, token_bucket", "ratelimit (async)", asynchronous, None, ""),
    ]


def redis_rows(ops: int, repeat: int, url: str) -> list[dict[str, str]]:
    rows = []
    client = Redis.from_url(url, max_connections=64)
    for algorithm in ALGORITHMS:
        ours = Limiter(f"{LIMIT}/hour", algorithm=algorithm, store=RedisStore(client), name=f"bench-{algorithm}")
        mine = max(rate_of(partial(ours.hit), ops) for _ in range(repeat))
        case = f"redis sequential, {algorithm}"
        rows.append(row(case, "ratelimit (sync)", mine, None, ""))
        for name, call in redis_peers(url, algorithm).items():
            rate = max(rate_of(call, ops) for _ in range(repeat))
            rows.append(row(case, name, rate, mine / rate, name))
        print(rows[-1], file=sys.stderr)
    ours = Limiter(f"{LIMIT}/hour", store=RedisStore(client), name="bench-threads")
    sequential = max(rate_of(partial(ours.hit), ops) for _ in range(repeat))
    for threads in (4, 16):
        rate = max(threaded(ours, threads, ops // threads) for _ in range(repeat))
        rows.append(row(f"redis, {threads} threads", "ratelimit (sync)", rate, rate / sequential, "one thread"))
    return rows


def bytes_per_key() -> list[dict[str, str]]:
    rows = []
    for label, limiter in (
        ("sync", Limiter("100/hour", store=MemoryStore())),
        ("async", AsyncLimiter("100/hour", store=AsyncMemoryStore())),
    ):
        decide: Any = limiter.hit if label == "sync" else limiter.hit_nowait  # type: ignore[attr-defined]
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(10_000):
            decide(f"client-{i}")
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        rows.append({"case": "bytes per key", "library": f"ratelimit ({label})", "decisions/s": "",
                     "µs each": "", "ours over": "bytes per key", "ratio": f"{grown / 10_000:.0f}"})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations; writes nothing")
    args = parser.parse_args()
    ops, repeat = (5_000, 1) if args.quick else (50_000, 3)
    redis_ops = 1_000 if args.quick else 5_000
    server, url, redis_folder = start_server()
    memory = "/dev/shm"  # noqa: S108 - a private mkdtemp folder in the tmpfs, removed after the run
    folder = tempfile.TemporaryDirectory(dir=memory if os.path.isdir(memory) else None)
    try:
        rows = memory_rows(ops, repeat) + sqlite_rows(ops // 5, repeat, folder.name)
        rows += redis_rows(redis_ops, repeat, url) + bytes_per_key()
    finally:
        server.kill()
        server.wait()
        redis_folder.cleanup()
        folder.cleanup()
    versions = ", ".join(
        f"{d} {version(d)}" for d in ("ratelimit-core", "ratelimit-redis", "limits", "throttled-py", "pyrate-limiter")
    )
    report = (
        f"# The sync colour\n\n{datetime.datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"{versions}; {os.cpu_count()} cores; best of {repeat}. `ratio`: our decisions per second over the "
        "named one's (for threads: over one thread's).\n\n" + table(rows, list(rows[0])) + "\n"
    )
    print(report)
    if not args.quick:
        save("sync", report, rows, list(rows[0]))


if __name__ == "__main__":
    main()
