"""Concurrency caps across OS processes: never more holders inside than the cap, and dead holders' slots lapse.

Each holder counts itself in and out of a shared counter (a Redis ``INCR``
after it entered, ``DECR`` before it leaves), so the counter never exceeds the
holders truly inside: its highest value is a lower bound on the true peak.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ratelimit_core import Limiter, RateLimitExceeded, SqliteStore, Store
from ratelimit_redis import RedisStore

pytestmark = pytest.mark.timeout(120)

#: One process: ``holders`` at once, each waits up to ``timeout`` for a slot, counts itself in, holds, leaves.
HOLDERS = """
import asyncio, json, sys
from redis.asyncio import Redis
from ratelimit_core import Limiter, RateLimitExceeded, SqliteStore
from ratelimit_redis import RedisStore

where, counter_url, limits, name, holders, timeout, start = sys.argv[1:8]

async def main():
    counter = Redis.from_url(counter_url)
    if where.startswith("redis://"):
        client = Redis.from_url(where, max_connections=300)
        store = RedisStore(client, timeout=10)
    else:
        client, store = None, SqliteStore(where, timeout=10)
    limiter = Limiter(limits, algorithm="fixed_window", name=name, store=store)
    peaks, admitted, denied = [], 0, 0

    async def holder():
        nonlocal admitted, denied
        try:
            async with limiter.acquire("hot", timeout=float(timeout)):
                admitted += 1
                peaks.append(await counter.incr(name + ":inside"))
                await asyncio.sleep(0.02)
                await counter.decr(name + ":inside")
        except RateLimitExceeded:
            denied += 1

    await asyncio.sleep(max(0.0, float(start) - __import__("time").time()))
    await asyncio.gather(*(holder() for _ in range(int(holders))))
    await store.aclose()
    if client is not None:
        await client.aclose()
    await counter.aclose()
    print(json.dumps({"peak": max(peaks, default=0), "admitted": admitted, "denied": denied}))

asyncio.run(main())
"""


def _run_holders(where: str, counter_url: str, limits: str, timeout: float) -> list[dict[str, int]]:
    name = f"cc-{uuid.uuid4().hex[:8]}"
    start = time.time() + 1.5
    argv = [sys.executable, "-c", HOLDERS, where, counter_url, limits, name, "50", str(timeout), str(start)]
    workers = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=100)
        assert worker.returncode == 0, out
        results.append(json.loads(out))
    return results


@pytest.fixture(params=["redis", "sqlite"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis7_url"))
    return str(tmp_path / "slots.db")


def test_four_processes_of_fifty_holders_never_have_more_than_five_inside(where: str, redis7_url: str) -> None:
    results = _run_holders(where, redis7_url, "5 concurrent", timeout=60)
    assert sum(r["admitted"] for r in results) == 200, f"every holder got in, in turn: {results}"
    peak = max(r["peak"] for r in results)
    assert peak <= 5, f"{peak} holders were inside at once: {results}"
    assert peak == 5, f"the cap was reached (the test contends): {results}"


def test_a_cap_and_a_rate_hold_together_all_or_nothing(where: str, redis7_url: str) -> None:
    # 200 holders, 5 slots, 20 units an hour: exactly 20 get in, never more than 5 at once.
    results = _run_holders(where, redis7_url, "20/hour; 5 concurrent", timeout=2)
    assert sum(r["admitted"] for r in results) == 20, results
    assert max(r["peak"] for r in results) <= 5, results


#: A process that takes the slot, says so, and waits to be killed (its lease: 1 s).
DIES_HOLDING = """
import asyncio, sys
from redis.asyncio import Redis
from ratelimit_core import Limiter, SqliteStore
from ratelimit_redis import RedisStore

async def main(where, name):
    store = RedisStore(Redis.from_url(where)) if where.startswith("redis://") else SqliteStore(where)
    limiter = Limiter("1 concurrent lease=1s", name=name, store=store)
    async with limiter.acquire("k"):
        print("holding", flush=True)
        await asyncio.sleep(60)

asyncio.run(main(*sys.argv[1:3]))
"""


def _store(where: str) -> Store:
    return RedisStore(Redis.from_url(where)) if where.startswith("redis://") else SqliteStore(where)


async def test_a_killed_holders_slot_lapses_at_its_lease(where: str) -> None:
    name = f"dies-{uuid.uuid4().hex[:8]}"
    victim = subprocess.Popen([sys.executable, "-c", DIES_HOLDING, where, name], stdout=subprocess.PIPE, text=True)
    assert victim.stdout is not None
    assert victim.stdout.readline().strip() == "holding"
    held_since = time.monotonic()  # the slot was taken just before this
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    victim.stdout.close()
    limiter = Limiter("1 concurrent lease=1s", name=name, store=_store(where))
    freed_after = None
    while time.monotonic() - held_since < 3:
        try:
            async with limiter.acquire("k"):
                freed_after = time.monotonic() - held_since
                break
        except RateLimitExceeded:
            await asyncio.sleep(0.02)
    await limiter.store.aclose()  # type: ignore[attr-defined]
    assert freed_after is not None, "the dead holder's slot never lapsed"
    assert 0.85 <= freed_after <= 1.5, f"lapsed {freed_after:.2f} s after it was taken (lease 1 s)"
