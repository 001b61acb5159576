"""How soon a freed concurrency slot is taken: release to the next holder's start, and the asks it costs.

Run from the repository root (needs ``redis-server`` on PATH; it starts and
stops its own on a free loopback port)::

    hatch run bench:handoff            # full run, writes benchmarks/results/handoff.*
    hatch run bench:handoff --quick    # a quick look, nothing written
    hatch run bench:compare ff91021 handoff --rounds 3   # before and after, in one run

A limiter of ``"1 concurrent"`` (one slot), held for a few milliseconds at a
time by tasks that each ask for it again a few milliseconds after they let go:

* ``one process, N waiters``: N tasks of one process, on ``MemoryStore``,
  ``SqliteStore`` (``/dev/shm``) and ``RedisStore``;
* ``two processes``: one task in each of two processes, on ``SqliteStore``
  and ``RedisStore``. A slot freed by another process is found by asking
  again, so this is the polling's cost.

``handoff``: from the moment a holder starts to release (read on the
system-wide monotonic clock) to the moment the next holder starts, median
and 90th percentile in milliseconds. ``asks``: the store's acquire calls per
slot taken, the one that takes it included (1.00 is no polling at all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis_decisions import save, start_server, table

from ratelimit_core import Limiter, MemoryStore, SqliteStore
from ratelimit_redis import RedisStore

HOLD = 0.005  # seconds each holder keeps the slot


def counting(cls: type[Any]) -> type[Any]:
    """``cls`` whose acquire calls are counted in ``asks`` (a subclass: the code before and after has it)."""

    class Counting(cls):  # type: ignore[misc,valid-type]
        asks = 0

        async def acquire(self, *args: Any) -> Any:
            type(self).asks += 1
            return await super().acquire(*args)

    return Counting


def make_store(kind: str, where: str) -> Any:
    if kind == "memory":
        return counting(MemoryStore)()
    if kind == "sqlite":
        return counting(SqliteStore)(where)
    return counting(RedisStore)(Redis.from_url(where))


async def hold_in_turn(store: Any, tasks: int, rounds: int) -> tuple[list[tuple[float, float]], int]:
    """``tasks`` tasks take the slot ``rounds`` times each: the (start, release) of every hold, and the asks."""
    limiter = Limiter("1 concurrent", store=store, name="handoff")
    holds: list[tuple[float, float]] = []

    async def task() -> None:
        for _ in range(rounds):
            async with limiter.acquire("k", timeout=30):
                started = time.monotonic()
                await asyncio.sleep(HOLD)
                holds.append((started, time.monotonic()))
            await asyncio.sleep(HOLD)  # before asking again: a waiter elsewhere has its chance

    await asyncio.gather(*(task() for _ in range(tasks)))
    asks = type(store).asks
    close = getattr(store, "aclose", None)
    if close is not None:
        await close()
    return holds, asks


def handoffs(holds: list[tuple[float, float]]) -> list[float]:
    """Milliseconds from each release to the next start, in the order the slot was held."""
    ordered = sorted(holds)
    return [(start - before[1]) * 1000 for before, (start, _) in pairwise(ordered)]


def row(case: str, store: str, gaps: list[float], asks: int, taken: int) -> dict[str, str]:
    deciles = statistics.quantiles(gaps, n=10)
    return {
        "case": case,
        "store": store,
        "handoffs": f"{len(gaps)}",
        "median ms": f"{statistics.median(gaps):.2f}",
        "p90 ms": f"{deciles[-1]:.2f}",
        "asks per slot": f"{asks / taken:.2f}",
    }


def two_processes(kind: str, where: str, rounds: int) -> dict[str, str]:
    """One holder in each of two processes (this script, ``--child``): the handoffs between them."""
    command = [sys.executable, __file__, "--child", kind, where, str(rounds)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [json.loads(child.communicate(timeout=300)[0]) for child in children]
    holds = [(start, end, n) for n, result in enumerate(results) for start, end in result["holds"]]
    holds.sort()
    gaps = [(b[0] - a[1]) * 1000 for a, b in pairwise(holds) if a[2] != b[2]]
    asks = sum(result["asks"] for result in results)
    return row("two processes", kind, gaps, asks, len(holds))


def run(quick: bool, url: str, folder: str) -> list[dict[str, str]]:
    rounds = 20 if quick else 60
    rows = []
    for kind in ("memory", "sqlite", "redis"):
        for tasks in (2, 10):
            where = url if kind == "redis" else str(Path(folder) / f"one-{kind}-{tasks}.db")
            holds, asks = asyncio.run(hold_in_turn(make_store(kind, where), tasks, rounds * 10 // tasks))
            rows.append(row(f"one process, {tasks} waiters", kind, handoffs(holds), asks, len(holds)))
            print(rows[-1], file=sys.stderr)
    for kind in ("sqlite", "redis"):
        where = url if kind == "redis" else str(Path(folder) / "two.db")
        rows.append(two_processes(kind, where, rounds))
        print(rows[-1], file=sys.stderr)
    return rows


def child(kind: str, where: str, rounds: int) -> None:
    holds, asks = asyncio.run(hold_in_turn(make_store(kind, where), 1, rounds))
    print(json.dumps({"holds": holds, "asks": asks}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; writes nothing")
    parser.add_argument("--child", nargs=3, metavar=("STORE", "WHERE", "ROUNDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    server, url, redis_folder = start_server()
    memory = "/dev/shm"  # noqa: S108 - a private mkdtemp folder in the tmpfs, removed after the run
    folder = tempfile.TemporaryDirectory(dir=memory if os.path.isdir(memory) else None)
    try:
        rows = run(args.quick, url, folder.name)
    finally:
        server.kill()
        server.wait()
        redis_folder.cleanup()
        folder.cleanup()
    versions = ", ".join(f"{d} {version(d)}" for d in ("ratelimit-core", "ratelimit-redis", "redis"))
    report = (
        f"# How soon a freed slot is taken\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
        f"{platform.python_version()}; {versions}; {os.cpu_count()} cores; each hold {HOLD * 1000:g} ms.\n\n"
        "`handoff`: from a holder's release to the next holder's start. `asks per slot`: the store's acquire "
        "calls per slot taken (1.00: no polling).\n\n" + table(rows, list(rows[0])) + "\n"
    )
    print(report)
    if not args.quick:
        save("handoff", report, rows, list(rows[0]))


if __name__ == "__main__":
    main()
