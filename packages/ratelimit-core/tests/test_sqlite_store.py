"""SqliteStore: the shipped store suite, on a file of its own per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ratelimit_core import Algorithm, Limiter, MemoryStore, Store, StoreError
from ratelimit_core.sqlite import SqliteStore
from ratelimit_core.testing import ManualClock, StoreTests


class TestSqliteStore(StoreTests):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "limits.db"

    async def make_store(self, clock: Callable[[], float]) -> Store:
        return SqliteStore(self.path, clock=clock)


#: One process: wait for the common start, then 100 concurrent hits on one key; print how many were admitted.
HAMMER = """
import asyncio, sys, time
from ratelimit_core import Limiter
from ratelimit_core.sqlite import SqliteStore

path, algorithm, rates, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

async def run():
    async with SqliteStore(path, timeout=5) as store:
        limiter = Limiter(rates, algorithm=algorithm, name="exact", store=store)
        time.sleep(max(0.0, start - time.time()))
        decisions = await asyncio.gather(*(limiter.hit("shared") for _ in range(100)))
    return sum(d.allowed for d in decisions)

print(asyncio.run(run()))
"""


@pytest.mark.parametrize(
    ("algorithm", "rates"),
    [
        ("token_bucket", "100/hour"),
        ("fixed_window", "100/hour"),
        ("sliding_window_log", "100/hour"),
        ("sliding_window_counter", "100/hour"),
        ("token_bucket", "100/hour; 500/day"),
    ],
)
def test_four_processes_admit_exactly_the_limit(tmp_path: Path, algorithm: str, rates: str) -> None:
    path = str(tmp_path / "shared.db")
    SqliteStore(path).close()  # the file and its schema, before the processes race for them
    start = time.time() + 2.0  # every process is up by then: they hit at once
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, path, algorithm, rates, str(start)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    admitted = [int(p.communicate(timeout=60)[0]) for p in processes]
    assert sum(admitted) == 100, admitted
    assert all(p.returncode == 0 for p in processes)


# -- one semantics: a clock that steps back under a logged state ---------------------------
#
# (Random timelines, the clock stepping too, are the shipped suite's and tests-integration/test_conformance.py's.)


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_a_clock_that_steps_back_under_logged_state_decides_as_memory_does(
    tmp_path: Path, algorithm: Algorithm
) -> None:
    """State written in the clock's future (it stepped back) is read as now, as MemoryStore reads it."""

    async def run() -> None:
        clock = ManualClock()
        sqlite = SqliteStore(tmp_path / "back.db", clock=clock)
        twins = [Limiter("5/minute", algorithm=algorithm, store=s) for s in (MemoryStore(clock=clock), sqlite)]
        for advance, action, cost in [
            (0, "hit", 2), (20_000_000, "hit", 2), (-30_000_000, "hit", 1), (0, "peek", 1),
            (-5_000_000, "refund", 1), (1_000_000, "charge", 3), (0, "hit", 1), (70_000_000, "hit", 5),
        ]:  # fmt: skip
            clock.us += advance
            expected, got = [await getattr(limiter, action)("k", cost) for limiter in twins]
            assert got == expected, f"{action} {cost} after {advance} µs"
        sqlite.close()

    asyncio.run(run())


# -- errors, locks, bounds ------------------------------------------------------------------


def test_a_missing_directory_or_a_file_that_is_not_a_database_is_an_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no directory"):
        SqliteStore(tmp_path / "nowhere" / "limits.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(StoreError, match="cannot use"):
        SqliteStore(garbage)


@pytest.mark.parametrize(("value", "fragment"), [({"max_keys": 0}, "max_keys"), ({"timeout": 0}, "timeout")])
def test_bad_arguments_are_value_errors(tmp_path: Path, value: dict[str, float], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SqliteStore(tmp_path / "x.db", **value)  # type: ignore[arg-type]


def test_a_database_another_process_holds_is_retried_then_a_store_error_and_the_loop_runs_meanwhile(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.db"
    store = SqliteStore(path, timeout=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction

    async def run() -> tuple[float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        running = asyncio.ensure_future(ticker())
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreError, match="locked by another process"):
            await Limiter("5/minute", store=store).hit("k")
        elapsed = asyncio.get_running_loop().time() - started
        running.cancel()
        return elapsed, ticks

    elapsed, ticks = asyncio.run(run())
    assert 0.09 <= elapsed < 0.5
    assert ticks >= 20, "the event loop went on while the store waited"
    other.execute("ROLLBACK")
    assert asyncio.run(Limiter("5/minute", store=store).hit("k")).allowed, "free again: decided at once"
    other.close()
    store.close()


def test_max_keys_bounds_the_file_and_expired_states_go(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "bounded.db"
    store = SqliteStore(path, max_keys=50, clock=clock)
    limiter = Limiter("1/second", store=store)

    async def flood() -> None:
        for i in range(500):
            await limiter.hit(f"client-{i}")

    asyncio.run(flood())
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM ratelimit_state").fetchone()[0]
    assert rows <= 50
    clock.advance(2)  # every state has expired: the purge as it goes takes them
    asyncio.run(flood())
    assert sqlite3.connect(path).execute("SELECT count(*) FROM ratelimit_state").fetchone()[0] <= 50
    store.close()


def test_a_denied_key_that_is_hammered_is_the_last_to_be_evicted(tmp_path: Path) -> None:
    """A brute-forcer that alternates guesses with new usernames never gets a fresh window."""
    clock = ManualClock()
    store = SqliteStore(tmp_path / "evict.db", max_keys=20, clock=clock)
    limiter = Limiter("3/hour", algorithm="fixed_window", store=store)

    async def attack() -> None:
        for _ in range(3):
            assert (await limiter.hit("victim")).allowed
        for i in range(200):
            clock.advance(0.25)
            await limiter.hit(f"junk-{i}")
            assert not (await limiter.hit("victim")).allowed, f"the victim's window was evicted after {i} junk keys"

    asyncio.run(attack())
    store.close()


def test_the_log_is_checkpointed_off_the_event_loop_and_stays_bounded(tmp_path: Path) -> None:
    """SQLite's own checkpoints are off (they would sync the disk inside a COMMIT); the store's keep the log short."""
    path = tmp_path / "wal.db"

    async def run() -> None:
        async with SqliteStore(path) as store:
            limiter = Limiter("1000000/hour", store=store)
            for n in range(6_000):  # a page each: 24 MB of log if nothing checkpointed it
                await limiter.hit(f"k{n % 50}")
                if n % 100 == 0:
                    await asyncio.sleep(0.001)  # the worker thread's checkpoint ends
            check = sqlite3.connect(path)
            assert check.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,), "a new connection's default"
            check.close()
            assert store._con.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
            size = Path(f"{path}-wal").stat().st_size  # measured open: the last close removes the log
            assert size < 10 * 1024 * 1024, f"the log grew to {size:,} bytes"

    asyncio.run(run())


#: A process that takes the write lock, writes half a decision, says so, and waits to be killed.
DIES_MID_TRANSACTION = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE ratelimit_state SET value = CAST('999999999999999999' AS BLOB)")
con.execute("UPDATE ratelimit_meta SET value = value + 1000")
print("holding", flush=True)
time.sleep(60)
"""


def test_a_process_killed_mid_transaction_leaves_a_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    store = SqliteStore(path, timeout=2)
    limiter = Limiter("5/minute", store=store)
    assert [asyncio.run(limiter.hit("k")).remaining for _ in range(2)] == [4, 3]
    victim = subprocess.Popen(
        [sys.executable, "-c", DIES_MID_TRANSACTION, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert victim.stdout is not None
    assert victim.stdout.readline().strip() == "holding"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    victim.stdout.close()
    # Its half-written transaction never happened: the state and the count are as before, and decisions go on.
    assert [asyncio.run(limiter.hit("k")).remaining for _ in range(2)] == [2, 1]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert check.execute("SELECT value FROM ratelimit_meta WHERE name = 'rows'").fetchone() == (1,)
    check.close()
    store.close()


def test_a_file_deleted_under_a_running_store_gives_the_failure_policy_then_a_restart_starts_clean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deleted.db"
    store = SqliteStore(path)
    limiter = Limiter("5/minute", store=store, on_error="deny")
    assert asyncio.run(limiter.hit("k")).remaining == 4
    path.unlink()  # the -wal and -shm stay, as a cleaner that removes one file leaves them
    for _ in range(2):  # it keeps failing: a new file would not be shared with the processes still on the old one
        decision = asyncio.run(limiter.hit("k"))
        assert decision.degraded
        assert not decision.allowed
    with pytest.raises(StoreError, match="deleted or replaced"):
        asyncio.run(store.hit(limiter.policy, "k", 1))
    store.close()
    # A restarted process finds no database: the old one's log is not paired with the new file.
    assert (tmp_path / "deleted.db-wal").exists()
    fresh = SqliteStore(path)
    assert asyncio.run(Limiter("5/minute", store=fresh).hit("k")).remaining == 4
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    fresh.close()


def test_a_file_replaced_under_a_running_store_gives_the_failure_policy(tmp_path: Path) -> None:
    path = tmp_path / "replaced.db"
    store = SqliteStore(path)
    limiter = Limiter("5/minute", store=store)
    assert asyncio.run(limiter.hit("k")).remaining == 4
    other = tmp_path / "other.db"
    SqliteStore(other).close()
    other.replace(path)
    with pytest.raises(StoreError, match="deleted or replaced"):
        asyncio.run(limiter.hit("k"))
    store.close()


def _immutable(on: bool, *paths: Path) -> None:
    """``chattr +i``: even root's open descriptors can no longer write (a chmod does not stop root)."""
    chattr = shutil.which("chattr")
    done = chattr and subprocess.run(
        [chattr, "+i" if on else "-i", *map(str, paths)], capture_output=True, text=True, check=False
    )
    if not done or done.returncode != 0:
        reason = f"chattr cannot freeze {paths[0].parent}: {done.stderr.strip() if done else 'not on PATH'}"
        if os.environ.get("RATELIMIT_REQUIRE_FAULTS"):
            pytest.fail(reason)
        pytest.skip(reason)


def test_a_file_made_read_only_under_a_running_store_gives_the_failure_policy_and_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "frozen.db"
    store = SqliteStore(path)
    limiter = Limiter("5/minute", store=store, on_error="deny")
    assert asyncio.run(limiter.hit("k")).remaining == 4
    files = (path, tmp_path / "frozen.db-wal")
    _immutable(True, *files)
    try:
        decision = asyncio.run(limiter.hit("k"))
        assert decision.degraded
        assert not decision.allowed
        with pytest.raises(StoreError, match=r"frozen\.db"):
            asyncio.run(store.hit(limiter.policy, "k", 1))
        with pytest.raises(StoreError, match="cannot use"):
            SqliteStore(path)
    finally:
        _immutable(False, *files)
    # Writable again: the failed decisions consumed nothing.
    assert asyncio.run(limiter.hit("k")).remaining == 3
    store.close()


def test_a_read_only_directory_is_an_error_at_construction(tmp_path: Path) -> None:
    folder = tmp_path / "frozen"
    folder.mkdir()
    _immutable(True, folder)
    try:
        with pytest.raises(StoreError, match=r"cannot (use|create)"):
            SqliteStore(folder / "limits.db")
    finally:
        _immutable(False, folder)
