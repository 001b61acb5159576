from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_core import (
    Algorithm,
    Decision,
    Limiter,
    MemoryStore,
    Policy,
    Rate,
    RateLimitExceeded,
    StoreError,
    failures,
    throttled,
)
from ratelimit_core.limiter import OnError
from ratelimit_core.testing import FailingStore, LoopTime, ManualClock
from ratelimit_core.wrapper import WrapperStore

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples

ALGORITHMS = list(Algorithm)


# -- construction -----------------------------------------------------------------


def test_defaults() -> None:
    limiter = Limiter("100/minute")
    assert limiter.algorithm is Algorithm.TOKEN_BUCKET
    assert limiter.rates == (Rate(100, 60),)
    assert limiter.name == "default"
    assert isinstance(limiter.store, MemoryStore)
    assert "100/minute" in repr(limiter)
    assert "token_bucket" in repr(limiter)


def test_each_limiter_gets_its_own_default_store() -> None:
    assert Limiter("1/s").store is not Limiter("1/s").store


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rates": "lots/second"}, "lots/second"),
        ({"rates": []}, "no rate"),
        ({"rates": "1/s", "algorithm": "leaky"}, "leaky"),
        ({"rates": "1/s", "name": ""}, "name"),
        ({"rates": "1/s", "on_error": "ignore"}, "ignore"),
        ({"rates": "1/s", "store": object()}, "store"),
        ({"rates": "1/s", "store": MemoryStore}, "store"),
        ({"rates": 5}, "5"),
        ({"rates": "1/s", "fallback": "memory"}, "fallback"),
        ({"rates": "1/s; 1/s"}, "duplicate"),
        ({"rates": Rate(1, 1, burst=3), "algorithm": "fixed_window"}, "burst"),
    ],
)
def test_bad_configuration_is_a_value_error(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Limiter(**kwargs)


@pytest.mark.parametrize("cost", [-1, 1.0, 1.5, "1", None, True])
async def test_bad_cost_is_a_value_error(cost: object) -> None:
    limiter = Limiter("10/second")
    for method in (limiter.hit, limiter.peek, limiter.wait):
        with pytest.raises(ValueError, match="cost") as info:
            await method("k", cost)  # type: ignore[arg-type]
        assert repr(cost) in str(info.value)


# -- hit, peek, reset -------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_hit_counts_down_then_denies(algorithm: Algorithm, store: MemoryStore) -> None:
    limiter = Limiter("3/minute", algorithm=algorithm, store=store)
    remaining = [(await limiter.hit("k")).remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    denied = await limiter.hit("k")
    assert not denied.allowed
    assert denied.remaining == 0
    assert denied.retry_after is not None
    assert denied.retry_after > 0
    assert denied.limit == 3
    assert not denied.degraded


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_peek_consumes_nothing(algorithm: Algorithm, store: MemoryStore) -> None:
    limiter = Limiter("3/minute", algorithm=algorithm, store=store)
    fresh = await limiter.peek("k")
    assert fresh.allowed
    assert fresh.remaining == 3
    assert fresh.reset_after == 0.0
    for _ in range(5):
        await limiter.peek("k")
    assert (await limiter.hit("k", 3)).allowed
    peeked = await limiter.peek("k")
    assert not peeked.allowed
    assert peeked.remaining == 0
    assert peeked.retry_after is not None
    assert peeked.retry_after > 0
    assert (await limiter.peek("k", 0)).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_zero_cost_is_admitted_and_consumes_nothing(algorithm: Algorithm, store: MemoryStore) -> None:
    limiter = Limiter("3/minute", algorithm=algorithm, store=store)
    await limiter.hit("k", 2)
    for _ in range(3):
        report = await limiter.hit("k", 0)
        assert report.allowed
        assert report.remaining == 1
    await limiter.hit("k")
    report = await limiter.hit("k", 0)
    assert report.allowed
    assert report.remaining == 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_cost_above_capacity_is_never_admitted(algorithm: Algorithm, store: MemoryStore) -> None:
    limiter = Limiter("3/minute", algorithm=algorithm, store=store)
    denied = await limiter.hit("k", 4)
    assert not denied.allowed
    assert denied.retry_after is None
    assert (await limiter.peek("k")).remaining == 3, "the denial consumed nothing"
    assert store.size == 0, "the denial wrote nothing"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_reset_forgets_the_key_only(algorithm: Algorithm, store: MemoryStore) -> None:
    limiter = Limiter("2/minute", algorithm=algorithm, store=store)
    await limiter.hit("a", 2)
    await limiter.hit("b", 2)
    await limiter.reset("a")
    assert (await limiter.peek("a")).remaining == 2
    assert (await limiter.peek("b")).remaining == 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_time_restores_the_limit(algorithm: Algorithm, store: MemoryStore, clock: ManualClock) -> None:
    limiter = Limiter("2/second", algorithm=algorithm, store=store)
    await limiter.hit("k", 2)
    denied = await limiter.hit("k")
    assert denied.retry_after is not None
    clock.advance(denied.retry_after)
    assert (await limiter.hit("k")).allowed
    clock.advance(10)
    assert (await limiter.peek("k")).remaining == 2


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_fifty_concurrent_hits_on_a_limit_of_ten_admit_exactly_ten(algorithm: Algorithm) -> None:
    limiter = Limiter("10/hour", algorithm=algorithm)
    decisions = await asyncio.gather(*(limiter.hit("hot") for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


async def test_limiters_differing_in_name_algorithm_or_rate_never_share_state(store: MemoryStore) -> None:
    base = Limiter("2/minute", store=store, name="a")
    others = [
        Limiter("2/minute", store=store, name="b"),
        Limiter("2/minute", store=store, name="a", algorithm="fixed_window"),
        Limiter("3/minute", store=store, name="a"),
        Limiter(Rate(2, 60, burst=5), store=store, name="a"),
    ]
    await base.hit("k", 2)
    for other in others:
        assert (await other.peek("k")).remaining == other.rates[0].capacity
    same = Limiter("2/minute", store=store, name="a")
    assert (await same.peek("k")).remaining == 0, "same name, algorithm and rates share state"


# -- several rates: all or nothing ----------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_denial_by_one_rate_consumes_from_none(algorithm: Algorithm, store: MemoryStore) -> None:
    limiter = Limiter("2/second; 5/minute", algorithm=algorithm, store=store)
    assert (await limiter.hit("k", 2)).allowed
    denied = await limiter.hit("k")
    assert not denied.allowed
    assert denied.rate == Rate(2, 1)
    per_rate = {s.rate: s for s in denied.statuses}
    assert not per_rate[Rate(2, 1)].allowed
    assert per_rate[Rate(5, 60)].allowed
    assert per_rate[Rate(5, 60)].remaining == 3, "the minute rate kept what it had"
    peek = await limiter.peek("k")
    assert [s.remaining for s in peek.statuses] == [0, 3]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_binding_rate_is_the_one_with_least_room(
    algorithm: Algorithm, store: MemoryStore, clock: ManualClock
) -> None:
    limiter = Limiter("10/second; 12/minute", algorithm=algorithm, store=store)
    first = await limiter.hit("k", 5)
    assert first.allowed
    assert (first.limit, first.remaining) == (10, 5)
    clock.advance(2)
    second = await limiter.hit("k", 5)
    assert second.allowed
    assert (second.limit, second.remaining) == (12, 2)
    assert len(second.statuses) == 2
    clock.advance(2)
    denied = await limiter.hit("k", 3)
    assert not denied.allowed
    assert denied.limit == 12
    assert denied.retry_after is not None
    assert denied.retry_after >= 1.0  # token bucket: 0.2 of a token at 12/minute; windows: longer


async def test_denial_reports_the_longest_wait(store: MemoryStore) -> None:
    limiter = Limiter("1/second; 1/hour", algorithm="fixed_window", store=store)
    await limiter.hit("k")
    denied = await limiter.hit("k")
    # Both rates deny: the hour keeps the caller waiting longest, so it binds.
    assert denied.rate == Rate(1, 3600)
    assert denied.retry_after == 3600.0
    assert [s.retry_after for s in denied.statuses] == [1.0, 3600.0]


# -- wait --------------------------------------------------------------------------


async def test_wait_sleeps_until_admitted(store: MemoryStore, loop_time: LoopTime) -> None:
    limiter = Limiter("2/second", store=store)
    await limiter.hit("k", 2)
    decision = await limiter.wait("k")
    assert decision.allowed
    assert loop_time.slept == 0.5
    assert (await limiter.wait("k", timeout=0.5)).allowed
    assert loop_time.slept == 1.0


async def test_wait_raises_when_the_wait_exceeds_the_timeout(store: MemoryStore, loop_time: LoopTime) -> None:
    limiter = Limiter("1/minute", store=store)
    await limiter.hit("k")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.wait("k", timeout=10)
    assert info.value.decision.retry_after == 60.0
    assert loop_time.slept == 0, "gave up at once: the wait needed is longer than the timeout"


async def test_wait_raises_at_once_when_the_cost_never_fits(store: MemoryStore, loop_time: LoopTime) -> None:
    limiter = Limiter("1/minute", store=store)
    with pytest.raises(RateLimitExceeded, match="capacity"):
        await limiter.wait("k", 2)
    assert loop_time.slept == 0


async def test_waiters_are_served_in_arrival_order_by_one_timer(store: MemoryStore, loop_time: LoopTime) -> None:
    """Ten waiters of one key, a unit a second: they get in one a second, in the order they came."""

    class Counted(WrapperStore):
        calls = 0

        async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
            Counted.calls += 1
            return await super().hit(policy, key, cost)

    limiter = Limiter("1/second", name="queue", store=Counted(store))
    await limiter.hit("k")
    admitted: list[tuple[int, float]] = []

    async def waiter(number: int) -> None:
        await limiter.wait("k")
        admitted.append((number, loop_time.slept))

    await asyncio.gather(*(waiter(n) for n in range(10)))
    assert admitted == [(n, float(n + 1)) for n in range(10)], "in arrival order, one a second"
    # The first hit; then each waiter asks when its turn comes (denied: the previous one just took the unit)
    # and when its wait is over: no polling, whatever the number of waiters.
    assert Counted.calls == 1 + 2 * 10


async def test_a_waiter_that_times_out_behind_others_leaves_its_place(store: MemoryStore, loop_time: LoopTime) -> None:
    limiter = Limiter("1/second", name="queue", store=store)
    await limiter.hit("k")
    first = asyncio.create_task(limiter.wait("k"))
    await asyncio.sleep(0)
    with pytest.raises(RateLimitExceeded, match="waiting behind"):
        await limiter.wait("k", timeout=0.5)  # behind the first, whose turn is at 1 s
    assert (await first).allowed
    assert (await limiter.wait("k")).allowed, "the queue goes on without it"
    assert loop_time.slept == 2.0


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), "1", True])
async def test_wait_rejects_bad_timeouts(timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await Limiter("1/s").wait("k", timeout=timeout)  # type: ignore[arg-type]


async def test_wait_really_sleeps_on_the_event_loop() -> None:
    limiter = Limiter("1/0.02s")
    await limiter.hit("k")
    loop = asyncio.get_running_loop()
    started = loop.time()
    decision = await limiter.wait("k", timeout=5)
    assert decision.allowed
    assert loop.time() - started >= 0.015


# -- failure policy ---------------------------------------------------------------


async def test_on_error_raise_wraps_in_store_error() -> None:
    limiter = Limiter("1/s", store=FailingStore())
    for call in (limiter.hit("k"), limiter.peek("k"), limiter.reset("k")):
        with pytest.raises(StoreError) as info:
            await call
        assert isinstance(info.value.__cause__, ConnectionError)


async def test_store_error_is_not_wrapped_twice() -> None:
    with pytest.raises(StoreError, match="already wrapped") as info:
        await Limiter("1/s", store=FailingStore(StoreError("already wrapped"))).hit("k")
    assert info.value.__cause__ is None


async def test_on_error_allow_fails_open() -> None:
    limiter = Limiter("5/s", store=FailingStore(), on_error="allow")
    decision = await limiter.hit("k")
    assert decision.allowed
    assert decision.degraded
    assert decision.limit == 5
    assert (await limiter.peek("k")).degraded


async def test_on_error_deny_fails_closed() -> None:
    limiter = Limiter("5/s", store=FailingStore(), on_error="deny")
    decision = await limiter.hit("k")
    assert not decision.allowed
    assert decision.degraded
    assert decision.retry_after == failures.DEGRADED_RETRY_AFTER


async def test_fallback_store_answers_while_the_primary_fails(clock: ManualClock) -> None:
    fallback = MemoryStore(clock=clock)
    limiter = Limiter("2/minute", store=FailingStore(), fallback=fallback)
    decisions = [await limiter.hit("k") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert all(d.degraded for d in decisions)
    assert decisions[1].remaining == 0
    with pytest.raises(StoreError):
        await limiter.reset("k")
    assert (await fallback.peek(limiter.policy, "k", 1)).remaining == 2, "the fallback was reset too"


async def test_when_the_fallback_fails_too_on_error_applies() -> None:
    limiter = Limiter("2/minute", store=FailingStore(), fallback=FailingStore(), on_error="allow")
    decision = await limiter.hit("k")
    assert decision.allowed
    assert decision.degraded
    with pytest.raises(StoreError):
        await Limiter("2/minute", store=FailingStore(), fallback=FailingStore()).hit("k")


async def test_failures_are_logged_at_most_every_ten_seconds(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    monkeypatch.setattr(throttled, "_monotonic", clock)
    limiter = Limiter("5/s", store=FailingStore(), on_error="allow")
    with caplog.at_level(logging.WARNING, logger="ratelimit_core"):
        for _ in range(100):
            await limiter.hit("k")
        clock.advance(10)
        await limiter.hit("k")
    assert len(caplog.records) == 2
    assert "backend unreachable" in caplog.records[0].getMessage()
    assert "(101 failures so far)" in caplog.records[1].getMessage(), "every failure is counted, logged or not"


async def test_cancellation_is_not_a_store_failure() -> None:
    class Slow(FailingStore):
        async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    limiter = Limiter("1/s", store=Slow(), on_error="allow")
    task = asyncio.create_task(limiter.hit("k"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_worked_burst_example_of_the_docs(store: MemoryStore, clock: ManualClock) -> None:
    """docs/algorithms.md, "A worked burst": every row."""
    limiter = Limiter(Rate(10, 60, burst=3), store=store)
    rows = []
    for at, cost in [(0, 1), (0, 1), (0, 1), (0, 1), (6, 1), (20, 2), (20, 1)]:
        clock.us = ManualClock().us + at * 1_000_000
        d = await limiter.hit("k", cost)
        rows.append((at, cost, d.allowed, d.remaining, d.retry_after))
    assert rows == [
        (0, 1, True, 2, 0.0),
        (0, 1, True, 1, 0.0),
        (0, 1, True, 0, 0.0),
        (0, 1, False, 0, 6.0),
        (6, 1, True, 0, 0.0),
        (20, 2, True, 0, 0.0),
        (20, 1, False, 0, 4.0),
    ]


# -- keys that are not strings, and errors that are not outages ------------------------


@pytest.mark.parametrize("key", [None, 42, ["user"], b"user", 4.2])
async def test_a_key_that_is_not_a_string_is_a_type_error_naming_it(key: object) -> None:
    limiter = Limiter("3/minute", on_error="allow")  # not an outage: failing open must not hide it
    for call in (limiter.hit, limiter.peek, limiter.reset, limiter.wait):
        with pytest.raises(TypeError, match="key must be a str") as info:
            await call(key)  # type: ignore[arg-type]
        assert type(key).__name__ in str(info.value)
    with pytest.raises(TypeError, match="fallback key"):
        await limiter.hit(None)  # type: ignore[arg-type]


class BuggyStore(FailingStore):
    """A store with a bug in it: its error is not a backend failure."""


@pytest.mark.parametrize("error", [KeyError("k"), AttributeError("no such thing"), ZeroDivisionError()])
@pytest.mark.parametrize("on_error", ["allow", "deny", "raise"])
async def test_a_bug_in_a_store_propagates_whatever_the_failure_policy(error: Exception, on_error: OnError) -> None:
    limiter = Limiter("3/minute", store=BuggyStore(error), on_error=on_error, fallback=MemoryStore())
    with pytest.raises(type(error)):
        await limiter.hit("k")
    with pytest.raises(type(error)):
        await limiter.peek("k")


@pytest.mark.parametrize("error", [StoreError("down"), ConnectionError("refused"), TimeoutError(), OSError("reset")])
async def test_backend_failures_go_to_the_failure_policy(error: Exception) -> None:
    decision = await Limiter("3/minute", store=FailingStore(error), on_error="allow").hit("k")
    assert decision.allowed
    assert decision.degraded


# -- hit_nowait: the same decisions without a coroutine ------------------------------------

TIMELINE = st.lists(
    st.tuples(st.integers(0, 400_000), st.integers(0, 4), st.sampled_from(["a", "b"]), st.booleans()),
    min_size=1,
    max_size=40,
)


@given(algorithm=st.sampled_from(ALGORITHMS), rates=st.sampled_from(["3/s", "7/s", "3/s; 5/minute"]), steps=TIMELINE)
@settings(max_examples=EXAMPLES * 150 // 100, deadline=None)
def test_hit_nowait_decides_exactly_as_hit_does(algorithm: Algorithm, rates: str, steps: list[Any]) -> None:
    """Guarantee: on the same timeline, ``hit_nowait`` and ``hit`` give equal decisions and leave equal state."""

    async def run() -> None:
        clocks = ManualClock(), ManualClock()
        awaited, direct = (Limiter(rates, algorithm=algorithm, store=MemoryStore(clock=c)) for c in clocks)
        for advance_us, cost, key, nowait in steps:
            for clock in clocks:
                clock.us += advance_us
            expected = await awaited.hit(key, cost)
            assert (direct.hit_nowait(key, cost) if nowait else await direct.hit(key, cost)) == expected
            assert await direct.peek(key) == await awaited.peek(key)

    asyncio.run(run())


def test_nowait_says_whether_the_store_decides_without_io() -> None:
    assert Limiter("3/s").nowait
    assert Limiter("3/s", fallback=MemoryStore()).nowait
    assert not Limiter("3/s", store=FailingStore()).nowait
    assert not Limiter("3/s", fallback=FailingStore()).nowait, "a fallback that awaits would have to be awaited"
    for limiter in (Limiter("3/s", store=FailingStore()), Limiter("3/s", fallback=FailingStore())):
        with pytest.raises(TypeError, match=r"await limiter\.hit"):
            limiter.hit_nowait("k")


def test_hit_nowait_checks_key_and_cost_as_hit_does() -> None:
    limiter = Limiter("3/minute", on_error="allow")
    with pytest.raises(TypeError, match=r"key must be a str.*fallback key"):
        limiter.hit_nowait(None)  # type: ignore[arg-type]
    for cost in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="cost must be an int"):
            limiter.hit_nowait("k", cost)  # type: ignore[arg-type]


class BoundFailingStore(FailingStore):
    """A store that decides without I/O (it has ``bind``), and whose decisions fail."""

    def bind(self, policy: Policy) -> Any:
        def decide(key: str, cost: int) -> Decision:
            self.calls += 1
            raise self.error

        return decide


def test_hit_nowait_applies_the_failure_policy() -> None:
    assert Limiter("5/s", store=BoundFailingStore(), on_error="allow").hit_nowait("k").degraded
    denied = Limiter("5/s", store=BoundFailingStore(), on_error="deny").hit_nowait("k")
    assert (denied.allowed, denied.degraded, denied.retry_after) == (False, True, failures.DEGRADED_RETRY_AFTER)
    with pytest.raises(StoreError) as info:
        Limiter("5/s", store=BoundFailingStore()).hit_nowait("k")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_hit_nowait_falls_back_and_lets_bugs_through(clock: ManualClock) -> None:
    limiter = Limiter("2/minute", store=BoundFailingStore(), fallback=MemoryStore(clock=clock))
    decisions = [limiter.hit_nowait("k") for _ in range(3)]
    assert [(d.allowed, d.degraded) for d in decisions] == [(True, True), (True, True), (False, True)]
    failing_fallback = Limiter("2/minute", store=BoundFailingStore(), fallback=BoundFailingStore(), on_error="allow")
    assert failing_fallback.hit_nowait("k").allowed
    buggy = Limiter("2/minute", store=BoundFailingStore(KeyError("k")), on_error="allow", fallback=MemoryStore())
    with pytest.raises(KeyError):
        buggy.hit_nowait("k")


@pytest.mark.parametrize(("on_error", "allowed"), [("allow", True), ("deny", False)])
async def test_a_degraded_decision_has_a_status_per_rate(on_error: OnError, allowed: bool) -> None:
    limiter = Limiter("5/second; 100/hour", store=FailingStore(), on_error=on_error)
    decision = await limiter.hit("k")
    assert decision.degraded
    assert [s.rate for s in decision.statuses] == list(limiter.rates)
    assert all(s.allowed is allowed for s in decision.statuses)
    assert [s.remaining for s in decision.statuses] == ([5, 100] if allowed else [0, 0])
