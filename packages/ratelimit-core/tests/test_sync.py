"""The sync colour: the suite on its stores, its limiter against the async one, threads, both colours on one file."""

from __future__ import annotations

import asyncio
import gc
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit_core import Algorithm, RateLimitExceeded, StoreError
from ratelimit_core import Limiter as AsyncLimiter
from ratelimit_core import MemoryStore as AsyncMemoryStore
from ratelimit_core import SqliteStore as AsyncSqliteStore
from ratelimit_core.observe import DecisionReport, Observer
from ratelimit_core.sync import Limiter, MemoryStore, SqliteStore
from ratelimit_core.testing import ManualClock, SyncStoreTests
from ratelimit_core.testing.colours import AsyncLimiterOverSync
from ratelimit_core.testing.timelines import decide_alike, timeline


class TestSyncMemoryStore(SyncStoreTests):
    """The shipped store suite, on the sync in-memory store."""

    def make_sync_store(self, clock: Callable[[], float]) -> MemoryStore:
        return MemoryStore(clock=clock)


class TestSyncSqliteStore(SyncStoreTests):
    """The shipped store suite, on the sync SQLite store."""

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "limits.db"

    def make_sync_store(self, clock: Callable[[], float]) -> SqliteStore:
        return SqliteStore(self.path, clock=clock)


# -- the sync limiter decides as the async one ------------------------------------------


@given(
    algorithm=st.sampled_from(list(Algorithm)),
    rates=st.sampled_from(["3/second", "7/second; 20/minute", "2/3.3s"]),
    seed=st.integers(0, 2**32),
    stepping=st.booleans(),
)
def test_the_sync_limiter_decides_as_the_async_one(algorithm: Algorithm, rates: str, seed: int, stepping: bool) -> None:
    clock = ManualClock()
    reference = AsyncLimiter(rates, algorithm=algorithm, store=AsyncMemoryStore(clock=clock), name="t")
    tested = Limiter(rates, algorithm=algorithm, store=MemoryStore(clock=clock), name="t")
    steps = timeline(random.Random(seed), stepping=stepping)
    asyncio.run(decide_alike(reference, AsyncLimiterOverSync(tested), clock, steps))  # type: ignore[arg-type]


@given(algorithm=st.sampled_from(list(Algorithm)), seed=st.integers(0, 2**32))
def test_a_sync_and_an_async_limiter_on_one_sqlite_file_decide_as_one(algorithm: Algorithm, seed: int) -> None:
    """Every step goes to both a reference and, in turns, to the async or the sync limiter of one file."""
    clock = ManualClock()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shared.db"
        reference = AsyncLimiter("5/second; 30/minute", algorithm=algorithm, store=AsyncMemoryStore(clock=clock))
        on_file = AsyncLimiter("5/second; 30/minute", algorithm=algorithm, store=AsyncSqliteStore(path, clock=clock))
        sync_store = SqliteStore(path, clock=clock)
        sync = Limiter("5/second; 30/minute", algorithm=algorithm, store=sync_store)
        rng = random.Random(seed)

        async def run() -> None:
            for _ in range(60):
                clock.advance(rng.choice([0, 0, 0.05, 0.3, 1.0]))
                key, cost = rng.choice(["a", "b"]), rng.choice([0, 1, 1, 2, 6])
                expected = await reference.hit(key, cost)
                got = await on_file.hit(key, cost) if rng.random() < 0.5 else sync.hit(key, cost)
                assert got == expected

        asyncio.run(run())
        sync_store.close()


# -- threads --------------------------------------------------------------------------


def hammer(limiter: Limiter, threads: int, each: int) -> int:
    """``threads`` threads make ``each`` hits at once on one key: how many were admitted."""
    admitted = []
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        admitted.append(sum(limiter.hit("k").allowed for _ in range(each)))

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(admitted)


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_threads_on_one_memory_store_admit_exactly_the_limit(algorithm: Algorithm) -> None:
    limiter = Limiter("100/hour", algorithm=algorithm, store=MemoryStore())
    assert hammer(limiter, 8, 50) == 100


def test_threads_on_one_sqlite_store_admit_exactly_the_limit(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "threads.db")
    assert hammer(Limiter("100/hour", store=store), 8, 50) == 100
    store.close()


HAMMER = """
import asyncio, sys, threading, time
from ratelimit_core import Limiter as AsyncLimiter, SqliteStore as AsyncSqliteStore
from ratelimit_core.sync import Limiter, SqliteStore
path, colour, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
if colour == "async":
    limiter = AsyncLimiter("100/hour", store=AsyncSqliteStore(path), name="shared")
    async def main():
        time.sleep(max(0.0, start - time.time()))
        return sum([d.allowed for d in await asyncio.gather(*(limiter.hit("k") for _ in range(60)))])
    print(asyncio.run(main()))
else:
    limiter, counts = Limiter("100/hour", store=SqliteStore(path), name="shared"), []
    def worker():
        time.sleep(max(0.0, start - time.time()))
        counts.append(sum(limiter.hit("k").allowed for _ in range(15)))
    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(sum(counts))
"""


def test_async_processes_and_threaded_sync_processes_on_one_file_admit_exactly_the_limit(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SqliteStore(path).close()  # the file and its schema, before the processes race for them
    start = time.time() + 2.0
    processes = [
        subprocess.Popen([sys.executable, "-c", HAMMER, path, colour, str(start)], stdout=subprocess.PIPE, text=True)
        for colour in ("async", "sync", "async", "sync")
    ]
    admitted = [int(p.communicate(timeout=60)[0]) for p in processes]
    assert sum(admitted) == 100, admitted  # 240 asked, two colours, four processes, eight threads


# -- what a limiter of the wrong colour is given ----------------------------------------


def test_a_store_of_the_other_colour_is_a_type_error_at_once() -> None:
    with pytest.raises(TypeError, match=r"ratelimit_core\.sync's Limiter needs a store of its own colour"):
        Limiter("1/second", store=AsyncMemoryStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ratelimit_core's Limiter needs a store of its own colour"):
        AsyncLimiter("1/second", store=MemoryStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fallback"):
        Limiter("1/second", store=MemoryStore(), fallback=AsyncMemoryStore())  # type: ignore[arg-type]


def test_limited_refuses_a_function_of_the_other_colour_when_it_decorates() -> None:
    async def coroutine() -> None: ...

    def plain() -> None: ...

    with pytest.raises(TypeError, match=r"ratelimit_core\.Limiter"):
        Limiter("1/second").limited("k")(coroutine)
    with pytest.raises(TypeError, match=r"ratelimit_core\.sync\.Limiter"):
        AsyncLimiter("1/second").limited("k")(plain)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be a str"):
        Limiter("1/second").limited(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost"):
        Limiter("1/second").limited("k", cost=-1)
    with pytest.raises(ValueError, match="timeout"):
        Limiter("1/second").limited("k", timeout=-1)


# -- the operations -------------------------------------------------------------------


def test_hit_peek_charge_refund_reserve_and_reset() -> None:
    clock = ManualClock()
    limiter = Limiter("5/minute", algorithm="fixed_window", store=MemoryStore(clock=clock))
    assert limiter.hit("k", 3).remaining == 2
    assert limiter.peek("k").remaining == 2
    assert not limiter.charge("k", 4).allowed  # an overdraft: 7 used of 5
    assert limiter.refund("k", 4).remaining == 2
    reservation = limiter.reserve("k", 2)
    assert reservation
    assert reservation.decision.remaining == 0
    assert reservation.settle(1).remaining == 1  # one unit given back
    with pytest.raises(RuntimeError, match="once"):
        reservation.cancel()
    limiter.reset("k")
    assert limiter.peek("k").remaining == 5
    with pytest.raises(TypeError, match="key must be a str"):
        limiter.hit(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost"):
        limiter.hit("k", -1)


def test_wait_blocks_until_admitted_or_gives_up_at_once() -> None:
    limiter = Limiter("20/second", algorithm="fixed_window")
    for _ in range(20):
        limiter.hit("k")
    assert limiter.wait("k", timeout=2.0).allowed
    with pytest.raises(RateLimitExceeded, match="exceeds the capacity"):
        limiter.wait("k", cost=21)
    for _ in range(20):
        limiter.hit("j")
    with pytest.raises(RateLimitExceeded):
        limiter.wait("j", timeout=0.0)


def test_limited_keys_a_call_on_its_arguments_and_refuses_without_running_it() -> None:
    limiter = Limiter("2/hour")
    ran: list[tuple[str, int]] = []

    @limiter.limited(key=lambda tenant, **_: tenant, cost=lambda tenant, rows: rows)
    def export(tenant: str, rows: int) -> int:
        ran.append((tenant, rows))
        return rows

    assert export("t1", rows=2) == 2
    with pytest.raises(RateLimitExceeded) as refused:
        export("t1", rows=1)
    assert refused.value.decision.remaining == 0
    assert export("t2", rows=1) == 1
    assert ran == [("t1", 2), ("t2", 1)]
    assert export.__name__ == "export"


def test_async_limited_keys_a_call_and_refuses_without_running_it() -> None:
    limiter = AsyncLimiter("1/hour")
    ran: list[str] = []

    @limiter.limited(key=lambda tenant: tenant)
    async def job(tenant: str) -> str:
        ran.append(tenant)
        return tenant

    async def run() -> None:
        assert await job("a") == "a"
        with pytest.raises(RateLimitExceeded):
            await job("a")
        assert await job("b") == "b"

    asyncio.run(run())
    assert ran == ["a", "b"]


def test_a_capped_limited_function_holds_its_slot_for_the_call() -> None:
    limiter = Limiter("1 concurrent")
    inside: list[int] = []

    @limiter.limited("k")
    def work() -> None:
        inside.append(limiter.peek("k").statuses[-1].remaining if limiter.peek("k").statuses else -1)
        with pytest.raises(RateLimitExceeded, match="no room"):
            work()

    work()
    assert inside == [0]
    assert limiter.peek("k").remaining == 1, "freed when the call ended"


def test_acquire_holds_a_slot_per_thread_and_a_waiter_takes_it_when_freed() -> None:
    limiter = Limiter("1 concurrent")
    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with limiter.acquire("k"):
            order.append("first in")
            entered.set()
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(5)
    with pytest.raises(RateLimitExceeded), limiter.acquire("k", timeout=0):
        pass
    threading.Timer(0.05, release.set).start()
    with limiter.acquire("k", timeout=5) as decision:
        order.append("second in")
        assert decision.allowed
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_a_held_slot_is_renewed_past_its_lease() -> None:
    limiter = Limiter("1 concurrent lease=0.3s")
    with limiter.acquire("k"):
        time.sleep(0.5)  # past one lease: renewed every 0.1 s meanwhile
        with pytest.raises(RateLimitExceeded), limiter.acquire("k"):
            pass
    assert limiter.peek("k").remaining == 1


class Broken:
    """A blocking store whose backend is down: every call raises."""

    def _fail(self, *args: object) -> Any:
        raise StoreError("backend down")

    def hit(self, *args: object) -> Any:
        self._fail()

    def peek(self, *args: object) -> Any:
        self._fail()

    def reset(self, *args: object) -> Any:
        self._fail()

    def charge(self, *args: object) -> Any:
        self._fail()

    def refund(self, *args: object) -> Any:
        self._fail()

    def reserve(self, *args: object) -> Any:
        self._fail()


def test_the_failure_policy_and_the_fallback_answer_as_in_the_async_limiter() -> None:
    with pytest.raises(StoreError, match="backend down"):
        Limiter("1/second", store=Broken()).hit("k")
    allowed = Limiter("1/second", store=Broken(), on_error="allow").hit("k")
    assert allowed.allowed
    assert allowed.degraded
    denied = Limiter("1/second", store=Broken(), on_error="deny").hit("k")
    assert not denied.allowed
    assert denied.degraded
    fallback = Limiter("1/second", store=Broken(), fallback=MemoryStore())
    first, second = fallback.hit("k"), fallback.hit("k")
    assert first.allowed
    assert first.degraded
    assert not second.allowed
    with pytest.raises(StoreError):
        Limiter("1/second", store=Broken(), on_error="allow").reset("k")


def test_the_observer_hears_every_decision_and_store_call() -> None:
    class Recorder(Observer):
        def __init__(self) -> None:
            self.outcomes: list[str] = []
            self.calls: list[str] = []

        def decision(self, report: DecisionReport) -> None:
            self.outcomes.append(report.outcome)

        def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
            self.calls.append(f"{store}:{operation}")

    recorder = Recorder()
    limiter = Limiter("1/hour", store=MemoryStore(), observer=recorder)
    limiter.hit("k")
    limiter.hit("k")
    limiter.peek("k")
    assert recorder.outcomes == ["allowed", "denied"]
    assert recorder.calls == ["memory:hit", "memory:hit", "memory:peek"]


def test_the_sqlite_store_closes_a_thread_s_connection_when_the_thread_ends(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "churn.db")
    limiter = Limiter("1000/hour", store=store)
    for _ in range(30):  # a server that makes a thread per request
        thread = threading.Thread(target=limiter.hit, args=("k",))
        thread.start()
        thread.join()
    gc.collect()
    assert len(store._holders) <= 1, "the ended threads' connections were closed and forgotten"
    assert limiter.peek("k").remaining == 970
    store.close()
