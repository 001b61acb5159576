"""The pytest plugin, as a user's test suite meets it: an app made at import, tests that never rebuild it.

Each suite runs in a pytest of its own (``pytester``, in a subprocess), with
the plugin loaded by its entry point as in a user's project.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_core import Decision, Limiter, MemoryStore, SqliteStore
from ratelimit_core.sync import Limiter as SyncLimiter
from ratelimit_core.sync import MemoryStore as SyncMemoryStore
from ratelimit_core.testing import LimitsOffWarning, ManualClock, limits_off, reset_limits, use_clock

pytest_plugins = ["pytester"]

APP = """
from ratelimit_core import Limiter, SqliteStore
from ratelimit_core.sync import Limiter as SyncLimiter, SqliteStore as SyncSqliteStore

login = Limiter("2/minute", name="login")                       # its own MemoryStore, made at import
shared = Limiter("1/minute", name="shared", store=SqliteStore("{db}"))
jobs = SyncLimiter("1/minute; 1 concurrent", name="jobs", store=SyncSqliteStore("{db}"))
"""


def run(pytester: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(app=APP.format(db=pytester.path / "limits.db"), test_app=tests)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args)


def test_the_clock_moves_every_store_of_an_app_made_at_import(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from app import jobs, login, shared

async def test_async(ratelimit_clock):
    assert [(await login.hit("u")).allowed for _ in range(3)] == [True, True, False]
    assert (await shared.hit("u")).allowed and not (await shared.hit("u")).allowed
    ratelimit_clock.advance(30)
    assert (await login.hit("u")).allowed and not (await login.hit("u")).allowed  # one token back, exactly
    ratelimit_clock.advance(60)
    assert (await shared.hit("u")).allowed

def test_sync(ratelimit_clock):
    with jobs.acquire("u"):
        pass
    assert not jobs.peek("u").allowed
    ratelimit_clock.advance(60)
    assert jobs.peek("u").allowed
""",
    )
    result.assert_outcomes(passed=2)


def test_without_the_clock_the_same_suite_waits_for_real_time(pytester: pytest.Pytester) -> None:
    """The control: the first suite passes because of the fixture, not in spite of it."""
    result = run(
        pytester,
        """
from ratelimit_core.testing import ManualClock
from app import login

async def test_async():
    assert [(await login.hit("u")).allowed for _ in range(3)] == [True, True, False]
    ManualClock().advance(30)   # a clock nobody reads
    assert (await login.hit("u")).allowed
""",
    )
    result.assert_outcomes(failed=1)


def test_reset_forgets_every_limiter_between_tests(pytester: pytest.Pytester) -> None:
    tests = """
import pytest
from app import jobs, login, shared

@pytest.fixture(autouse={autouse})
def _fresh(request):
    if {autouse}:
        request.getfixturevalue("ratelimit_reset")

@pytest.mark.parametrize("n", range(3))
async def test_each_starts_full(n):
    assert (await login.hit("u", cost=2)).allowed
    assert (await shared.hit("u")).allowed
    with jobs.acquire("u"):   # a slot of the sync limiter's cap, and its one unit a minute
        pass
"""
    run(pytester, tests.format(autouse=True)).assert_outcomes(passed=3)
    run(pytester, tests.format(autouse=False)).assert_outcomes(passed=1, failed=2)


def test_off_admits_everything_for_the_test_and_then_limits_again(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from app import jobs, login, shared

async def test_off(ratelimit_off):
    assert all([(await login.hit("u")).allowed for _ in range(10)])
    assert all([(await shared.hit("u")).allowed for _ in range(10)])
    assert await shared.block("u", 60) == 0.0
    with jobs.acquire("u"), jobs.acquire("u"):      # a cap of 1, held twice
        assert jobs.peek("u").allowed

async def test_on_again_and_nothing_was_counted():
    assert [(await login.hit("u")).allowed for _ in range(3)] == [True, True, False]
    assert (await shared.hit("u")).allowed and not (await shared.hit("u")).allowed
""",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["ratelimit: limits were switched off (ratelimit_off) in 1 test(s)"])


def test_a_store_that_keeps_its_own_time_makes_the_clock_and_the_reset_fail_loudly(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from ratelimit_core import Limiter, MemoryStore

class ServerTimeStore:     # a store of the user's own, deciding on a server's clock
    def __init__(self):
        self.server = MemoryStore()
    async def hit(self, policy, key, cost):
        return await self.server.hit(policy, key, cost)
    async def peek(self, policy, key, cost):
        return await self.server.peek(policy, key, cost)
    async def reset(self, policy, key):
        await self.server.reset(policy, key)
    async def charge(self, policy, key, cost):
        return await self.server.charge(policy, key, cost)
    async def refund(self, policy, key, cost, until=None):
        return await self.server.refund(policy, key, cost, until)
    async def reserve(self, policy, key, cost):
        return await self.server.reserve(policy, key, cost)

remote = Limiter("1/minute", name="remote", store=ServerTimeStore())

def test_clock(ratelimit_clock):
    pass

def test_reset(ratelimit_reset):
    pass
""",
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*keeps its own time, which a test's clock cannot move*"])
    result.stdout.fnmatch_lines(["*cannot forget every key at once*"])


def test_limits_off_outside_a_test_run_warns_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    limiter = SyncLimiter("1/minute", name="off-outside")
    with pytest.warns(LimitsOffWarning, match="outside a test run"), limits_off():
        assert [limiter.hit("k").allowed for _ in range(2)] == [True, True]
    assert caplog.record_tuples == [
        (
            "ratelimit_core",
            logging.ERROR,
            "rate limits are switched off outside a test run: every limiter admits everything "
            "(ratelimit_core.testing.limits_off)",
        )
    ]
    assert [limiter.hit("k").allowed for _ in range(2)] == [True, False]


def test_limits_off_inside_a_test_is_quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with limits_off():
            pass


async def test_limiters_made_while_a_switch_is_on_follow_it_and_are_let_go_after(tmp_path: Path) -> None:
    clock = ManualClock()
    with use_clock(clock):
        limiter = Limiter("1/minute", name="made-inside", store=SqliteStore(tmp_path / "a.db"))
        assert [(await limiter.hit("k")).allowed for _ in range(2)] == [True, False]
        clock.advance(60)
        assert (await limiter.hit("k")).allowed
    assert (await limiter.hit("k")).allowed  # the test clock's state was forgotten at its end
    with limits_off():
        later = Limiter("1/minute", name="made-off")
        assert all([(await later.hit("k")).allowed for _ in range(3)])
    assert [(await later.hit("k")).allowed for _ in range(2)] == [True, False]


async def test_a_store_given_its_own_clock_keeps_it() -> None:
    own = ManualClock()
    limiter = Limiter("1/minute", name="own-clock", store=MemoryStore(clock=own))
    with use_clock(ManualClock()) as test_clock:
        assert (await limiter.hit("k")).allowed
        test_clock.advance(60)
        assert not (await limiter.hit("k")).allowed
    assert not (await limiter.hit("k")).allowed  # its state was its own: not forgotten either


def test_one_clock_at_a_time() -> None:
    with use_clock(ManualClock()), pytest.raises(RuntimeError, match="one clock at a time"), use_clock(ManualClock()):
        pass


OPS = st.lists(st.tuples(st.sampled_from(["hit", "charge", "refund", "block", "reserve"]), st.integers(0, 7)))


@settings(max_examples=60, deadline=None)
@given(before=OPS, during=OPS)
def test_limits_off_admits_everything_and_leaves_every_state_as_it_was(
    before: list[tuple[str, int]], during: list[tuple[str, int]]
) -> None:
    """Guarantee: with limits off every operation admits, and afterwards each limiter decides as if it never ran."""
    clock = ManualClock()
    limiter = SyncLimiter("5/minute; 9/hour", name="prop", store=SyncMemoryStore(clock=clock))
    twin = SyncLimiter("5/minute; 9/hour", name="prop", store=SyncMemoryStore(clock=clock))
    for op, n in before:
        apply(limiter, op, n)
        apply(twin, op, n)
    with limits_off():
        for op, n in during:
            decision = apply(limiter, op, n)
            assert decision is None or decision.allowed
    assert limiter.peek("k") == twin.peek("k")
    assert [limiter.hit("k", cost) for cost in (1, 3, 9)] == [twin.hit("k", cost) for cost in (1, 3, 9)]


def apply(limiter: SyncLimiter, op: str, n: int) -> Decision | None:
    if op == "block":
        limiter.block("k", n)
        return None
    if op == "reserve":
        return limiter.reserve("k", n).decision
    decision: Decision = getattr(limiter, op)("k", n)
    return decision


def test_reset_limits_forgets_states_blocks_and_slots(tmp_path: Path) -> None:
    limiter = SyncLimiter("1/minute; 1 concurrent", name="reset-all", store=SyncMemoryStore(clock=ManualClock()))
    held = limiter.acquire("k")
    held.__enter__()
    limiter.block("other", 60)
    reset_limits()
    assert limiter.peek("k").allowed
    assert limiter.peek("other").allowed
    with limiter.acquire("k"):
        pass


def test_reset_waits_for_a_thread_deciding_on_the_sync_memory_store() -> None:
    """The app's threads may be deciding: the store is forgotten under its lock, never mid-decision."""
    store = SyncMemoryStore(clock=ManualClock())
    limiter = SyncLimiter("1/minute", name="reset-locked", store=store)
    limiter.hit("k")
    store._lock.acquire()  # a decision in progress on another thread
    resetting = threading.Thread(target=reset_limits)
    resetting.start()
    resetting.join(0.2)
    assert resetting.is_alive()  # it waits for the decision
    assert store.size == 1
    store._lock.release()
    resetting.join()
    assert store.size == 0
