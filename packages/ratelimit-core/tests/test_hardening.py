"""The core under attack and misuse.

Inputs that used to break a key, stores that grew or leaked, observers that changed decisions.
"""

from __future__ import annotations

import gc
import logging
import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from ratelimit_core import Algorithm, Concurrency, Limiter, MemoryStore, SqliteStore
from ratelimit_core.memory import MAX_BOUND
from ratelimit_core.observe import DecisionReport, Observer
from ratelimit_core.testing import FailingStore, ManualClock

ALGORITHMS = list(Algorithm)
HUGE = [2**53, 10**30, 10**400]


# -- no input breaks a key -----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("cost", HUGE)
async def test_a_charge_no_store_can_hold_saturates_and_the_key_still_decides(algorithm: Algorithm, cost: int) -> None:
    clock = ManualClock()
    limiter = Limiter("5/second", algorithm=algorithm, store=MemoryStore(clock=clock))
    charged = await limiter.charge("k", cost)
    assert not charged.allowed
    assert charged.remaining == 0
    for _ in range(3):  # before the fix: OverflowError on every later call for this key
        assert not (await limiter.hit("k")).allowed
        assert not (await limiter.peek("k")).allowed
    # Saturated: a larger charge leaves the key exactly where the bound leaves it.
    saturated = Limiter("5/second", algorithm=algorithm, name="other", store=MemoryStore(clock=clock))
    assert await saturated.charge("k", 10**500) == charged


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_sqlite_saturates_a_huge_charge_as_memory_does(algorithm: Algorithm, tmp_path: Path) -> None:
    """Before the fix: OverflowError (Python int too large to convert to SQLite INTEGER), past the failure policy."""
    clock = ManualClock()
    decisions = []
    for store in (MemoryStore(clock=clock), SqliteStore(tmp_path / "limits.db", clock=clock)):
        limiter = Limiter("5/second", algorithm=algorithm, store=store)
        decisions.append([await limiter.charge("k", 10**30), await limiter.hit("k"), await limiter.peek("k")])
    assert decisions[0] == decisions[1]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_huge_hit_or_refund_is_just_denied_or_given_back(algorithm: Algorithm) -> None:
    limiter = Limiter("5/second", algorithm=algorithm, store=MemoryStore(clock=ManualClock()))
    denied = await limiter.hit("k", 10**400)
    assert not denied.allowed
    assert denied.retry_after is None
    assert denied.remaining == 5
    await limiter.hit("k", 3)
    assert (await limiter.refund("k", 10**400)).remaining == 5


async def test_a_key_with_a_lone_surrogate_decides_on_every_store(tmp_path: Path) -> None:
    key = '{"user": "\ud83d"}'  # what json.loads makes of "\\ud83d": a JSON body can carry one
    for store in (MemoryStore(), SqliteStore(tmp_path / "limits.db")):
        limiter = Limiter("1/minute", store=store)
        assert (await limiter.hit(key)).allowed
        assert not (await limiter.hit(key)).allowed
        assert (await limiter.hit(key + "2")).allowed


# -- stores are bounded and private ------------------------------------------------------


def _limiters_named_per_client(store: MemoryStore, names: range) -> None:
    for i in names:  # a limiter chosen per request, named per client: made, used once, dropped
        Limiter("10/minute", name=f"client-{i}", store=store).hit_nowait("k")


def test_memory_stays_bounded_whatever_the_number_of_limiter_names() -> None:
    store = MemoryStore(max_keys=1000)
    _limiters_named_per_client(store, range(3000))
    gc.collect()
    alive, holding, _ = store._tables.counts()
    assert store.size <= 1000
    assert len(store._bound) <= MAX_BOUND
    assert holding <= 1000, "the tables that hold states"
    assert alive <= 1000 + MAX_BOUND, "and those the kept bound functions hold"
    # Memory: past the bounds, more names cost nothing more (before the fix: 6.5 MB per 3,000 names).
    tracemalloc.start()
    try:
        _limiters_named_per_client(store, range(3000, 6000))  # what was made before tracing is replaced now
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        _limiters_named_per_client(store, range(6000, 12000))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 50_000, f"{grown} bytes for 6,000 more names"


async def test_a_table_a_limiter_still_holds_is_the_one_the_store_uses() -> None:
    """An emptied table is dropped by the store, yet a live limiter's decisions and the store's stay one state."""
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=1)
    kept = Limiter("1/minute", name="kept", store=store)
    assert kept.hit_nowait("a").allowed
    assert Limiter("1/minute", name="other", store=store).hit_nowait("b").allowed  # evicts kept's only state
    gc.collect()
    assert kept.hit_nowait("a").allowed, "evicted: it starts afresh"
    assert not (await Limiter("1/minute", name="kept", store=store).peek("a")).allowed, "one state, seen by both"


def test_stores_are_always_truthy(tmp_path: Path) -> None:
    empty = MemoryStore(clock=ManualClock())
    assert empty
    assert (empty or MemoryStore()) is empty, "store or MemoryStore() keeps the store with the test clock"
    assert SqliteStore(tmp_path / "limits.db")
    assert FailingStore()


async def test_sqlite_files_are_the_owners_only_and_hold_no_key(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    os.umask(0o022)
    store = SqliteStore(path)
    limiter = Limiter("5/minute", store=store)
    secret = "sk-live-0123456789abcdef"  # an API key as a key
    await limiter.hit(secret)
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    store.close()
    for name in tmp_path.iterdir():
        assert secret.encode() not in name.read_bytes(), f"{name} holds the raw key"


def test_sqlite_mode_is_the_users_to_choose(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "group.db", mode=0o660).close()
    assert stat.S_IMODE((tmp_path / "group.db").stat().st_mode) == 0o660
    for bad in (0o200, 0o400, 0o1600, "0600", True):
        with pytest.raises(ValueError, match="mode"):
            SqliteStore(tmp_path / "bad.db", mode=bad)  # type: ignore[arg-type]


# -- observers cannot change a decision ----------------------------------------------------


class DeadSocket(Observer):
    """A StatsD-like observer whose socket is gone: every report raises OSError."""

    def decision(self, report: DecisionReport) -> None:
        raise OSError("sendto: connection refused")

    def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
        raise OSError("sendto: connection refused")


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_an_observer_that_raises_is_no_store_outage(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = MemoryStore() if store == "memory" else SqliteStore(tmp_path / "limits.db")
    limiter = Limiter("1/minute", store=backend, on_error="allow", observer=DeadSocket())
    with caplog.at_level(logging.WARNING, logger="ratelimit_core"):
        admitted = [(await limiter.hit("k")).allowed for _ in range(4)]
    assert admitted == [True, False, False, False], "before the fix: fail-open admitted all 4"
    assert limiter.observer_errors == 8, "a decision and a store call each time, each caught and counted"
    warnings = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(warnings) == 1, "logged once, not once per decision"
    assert "errors so far" in warnings[0].getMessage()


async def test_an_observer_that_raises_leaks_no_slot_and_no_reservation() -> None:
    limiter = Limiter([Concurrency(1), "10/minute"], store=MemoryStore(), observer=DeadSocket())
    async with limiter.acquire("k") as decision:
        assert decision.allowed
    assert (await limiter.peek("k")).statuses[-1].remaining == 1, "the slot is free again"
    reserving = Limiter("10/minute", store=MemoryStore(), observer=DeadSocket())
    reservation = await reserving.reserve("k", 4)
    assert reservation
    assert (await reservation.settle(1)).remaining == 9
