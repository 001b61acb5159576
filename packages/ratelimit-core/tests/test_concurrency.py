"""Concurrency caps: Concurrency, Limiter.acquire and the slots' guarantees on MemoryStore."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_core import Concurrency, Decision, Limiter, MemoryStore, Policy, Rate, RateLimitExceeded, parse_limits
from ratelimit_core.testing import FailingStore, LoopTime, ManualClock
from ratelimit_core.wrapper import WrapperStore

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples

# -- the cap and its text ------------------------------------------------------------------


def test_a_cap_reads_from_text_and_says_itself() -> None:
    assert Concurrency.parse("2 concurrent") == Concurrency(2)
    assert Concurrency.parse(" 3 CONCURRENT lease=30s ") == Concurrency(3, lease=30)
    assert Concurrency.parse("1 concurrent lease 0.5") == Concurrency(1, lease=0.5)
    assert str(Concurrency(2)) == "2 concurrent"
    assert str(Concurrency(2, lease=0.5)) == "2 concurrent lease=0.5s"
    assert Concurrency.parse(str(Concurrency(4, lease=12.5))) == Concurrency(4, lease=12.5)
    assert Concurrency(2, lease=1.5).lease_us == 1_500_000


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Concurrency(0), "limit"),
        (lambda: Concurrency(True), "limit"),
        (lambda: Concurrency(2.0), "limit"),  # type: ignore[arg-type]
        (lambda: Concurrency(2, lease=0), "lease"),
        (lambda: Concurrency(2, lease=float("inf")), "lease"),
        (lambda: Concurrency(2, lease="60"), "lease"),  # type: ignore[arg-type]
        (lambda: Concurrency.parse("2 concurrently"), "concurrency cap"),
        (lambda: parse_limits("1 concurrent; 2 concurrent"), "one concurrency cap"),
        (lambda: Limiter(["2 concurrent", Concurrency(3)]), "one concurrency cap"),
    ],
)
def test_bad_caps_are_value_errors(make: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make()  # type: ignore[operator]


def test_caps_go_among_the_rates() -> None:
    assert parse_limits("100/minute; 2 concurrent") == ((Rate(100, 60),), Concurrency(2))
    assert parse_limits(["100/minute", Concurrency(2)]) == ((Rate(100, 60),), Concurrency(2))
    assert parse_limits(Concurrency(2)) == ((), Concurrency(2))
    assert parse_limits("5/second") == ((Rate(5, 1),), None)
    limiter = Limiter("10/second; 3 concurrent")
    assert limiter.rates == (Rate(10, 1),)
    assert limiter.cap == Concurrency(3)
    assert "3 concurrent" in repr(limiter)


# -- what a limiter with a cap does, and refuses -------------------------------------------


async def test_a_capped_limiter_refuses_hits_and_says_to_acquire() -> None:
    limiter = Limiter("10/second; 2 concurrent")
    for call in (
        lambda: limiter.hit("k"),
        lambda: limiter.charge("k"),
        lambda: limiter.refund("k"),
        lambda: limiter.wait("k"),
        lambda: limiter.reserve("k"),
    ):
        with pytest.raises(TypeError, match="acquire"):
            await call()
    with pytest.raises(TypeError, match="acquire"):
        limiter.hit_nowait("k")
    assert not limiter.nowait
    with pytest.raises(TypeError, match="no concurrency cap"):
        Limiter("10/second").acquire("k")
    with pytest.raises(TypeError, match="key must be a str"):
        limiter.acquire(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost"):
        limiter.acquire("k", -1)
    with pytest.raises(ValueError, match="timeout"):
        limiter.acquire("k", timeout=-1)


def test_a_store_that_keeps_no_slots_is_refused_for_a_cap() -> None:
    class RatesOnly:
        async def hit(self, *args: object) -> None: ...
        async def peek(self, *args: object) -> None: ...
        async def reset(self, *args: object) -> None: ...
        async def charge(self, *args: object) -> None: ...
        async def refund(self, *args: object) -> None: ...
        async def reserve(self, *args: object) -> None: ...

    Limiter("1/second", store=RatesOnly())  # type: ignore[arg-type]  # fine without a cap
    with pytest.raises(ValueError, match="keeps no concurrency slots"):
        Limiter("1/second; 1 concurrent", store=RatesOnly())  # type: ignore[arg-type]


async def test_leaving_the_block_frees_the_slot_on_return_exception_and_cancellation() -> None:
    limiter = Limiter("1 concurrent")
    async with limiter.acquire("k") as decision:
        assert decision.allowed
        assert decision.remaining == 0
    assert (await limiter.peek("k")).remaining == 1

    with pytest.raises(ZeroDivisionError):
        async with limiter.acquire("k"):
            1 / 0  # noqa: B018
    assert (await limiter.peek("k")).remaining == 1

    inside = asyncio.Event()

    async def holder() -> None:
        async with limiter.acquire("k"):
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(holder())
    await inside.wait()
    assert (await limiter.peek("k")).remaining == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await limiter.peek("k")).remaining == 1


async def test_a_denied_acquire_raises_with_its_decision_and_the_block_never_runs() -> None:
    limiter = Limiter("1 concurrent")
    ran = False
    async with limiter.acquire("k"):
        with pytest.raises(RateLimitExceeded) as denied:
            async with limiter.acquire("k"):
                ran = True
    assert not ran
    assert not denied.value.decision.allowed
    assert denied.value.decision.retry_after is None, "no wait is known to free a slot"
    assert denied.value.decision.rate == Concurrency(1)


async def test_an_acquire_entered_twice_is_an_error() -> None:
    hold = Limiter("2 concurrent").acquire("k")
    async with hold:
        pass
    with pytest.raises(RuntimeError, match="already entered"):
        async with hold:
            pass


async def test_an_acquire_with_a_timeout_waits_for_a_slot(store: MemoryStore, loop_time: LoopTime) -> None:
    limiter = Limiter("1 concurrent", store=store)
    release = asyncio.Event()

    async def first() -> None:
        async with limiter.acquire("k"):
            await release.wait()

    task = asyncio.create_task(first())
    await asyncio.sleep(0)
    with pytest.raises(RateLimitExceeded):
        async with limiter.acquire("k", timeout=0.02):
            pass
    asyncio.get_running_loop().call_later(0.05, release.set)
    async with limiter.acquire("k", timeout=5) as decision:
        assert decision.allowed
    await task


async def test_a_slot_freed_here_goes_to_the_next_waiter_at_once_in_arrival_order(
    store: MemoryStore, loop_time: LoopTime
) -> None:
    """Five holders of one slot, each working 1 s: each starts the instant the one before leaves, in order."""

    class Counted(WrapperStore):
        acquires = 0

        async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
            Counted.acquires += 1
            return await super().acquire(policy, key, cost, holder)

    limiter = Limiter("1 concurrent", store=Counted(store))
    spans: list[tuple[int, float, float]] = []

    async def holder(number: int) -> None:
        async with limiter.acquire("k", timeout=None):
            started = loop_time.slept
            await asyncio.sleep(1)
            spans.append((number, started, loop_time.slept))

    await asyncio.gather(*(holder(n) for n in range(5)))
    assert [n for n, _, _ in spans] == list(range(5)), "in arrival order"
    assert [start for _, start, _ in spans] == [0.0, 1.0, 2.0, 3.0, 4.0], "no time between a release and the next"
    # The first acquire; then each waiter asks when its turn comes (the cap is full) and when the slot
    # freed here wakes it. A MemoryStore's slots are freed here only: nobody polls.
    assert Counted.acquires == 1 + 4 * 2, Counted.acquires


async def test_a_slot_freed_elsewhere_is_found_by_the_head_alone_polling(
    store: MemoryStore, loop_time: LoopTime
) -> None:
    """A shared store's slot freed by another process: the head alone polls, backing off to 0.1 s."""

    class Counted(WrapperStore):
        acquires = 0

        async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
            Counted.acquires += 1
            return await super().acquire(policy, key, cost, holder)

    class Shared(MemoryStore):
        local = False  # as a store other processes share: SQLite, Redis

    store = Shared(clock=loop_time.clock)
    limiter = Limiter("1 concurrent", store=Counted(store))
    assert (await store.acquire(limiter.policy, "k", 1, "elsewhere")).allowed
    asyncio.get_running_loop().call_later(1.0, asyncio.ensure_future, store.release(limiter.policy, "k", "elsewhere"))

    async def waiter() -> float:
        async with limiter.acquire("k", timeout=None):
            return loop_time.slept

    starts = await asyncio.gather(*(waiter() for _ in range(10)))
    assert min(starts) <= 1.1, "found within one poll at most"
    # One head polls (5 ms doubling to 100 ms: about 14 polls in a second), not ten waiters each.
    assert Counted.acquires < 10 + 20, Counted.acquires


async def test_a_running_holder_renews_its_lease(store: MemoryStore, loop_time: LoopTime) -> None:
    limiter = Limiter("1 concurrent lease=0.06s", store=store)
    async with limiter.acquire("k"):
        await asyncio.sleep(0.25)  # four leases: held all along by the renewals
        with pytest.raises(RateLimitExceeded):
            async with limiter.acquire("k"):
                pass
    async with limiter.acquire("k"):
        pass


async def test_a_holder_whose_slot_lapsed_is_warned_about(
    caplog: pytest.LogCaptureFixture, store: MemoryStore, clock: ManualClock, loop_time: LoopTime
) -> None:
    limiter = Limiter("1 concurrent lease=0.03s", store=store)
    with caplog.at_level(logging.WARNING, logger="ratelimit_core"):
        async with limiter.acquire("k"):
            clock.advance(1)  # the store's clock passes the lease before the first renewal
            await asyncio.sleep(0.05)
    assert "lapsed while held" in caplog.text


async def test_a_cap_composes_with_rates_all_or_nothing() -> None:
    limiter = Limiter("3/minute; 2 concurrent")
    async with limiter.acquire("k"), limiter.acquire("k"):
        with pytest.raises(RateLimitExceeded) as full:
            async with limiter.acquire("k"):
                pass
        assert full.value.decision.statuses[0].remaining == 1, "the cap denied: no unit taken"
    async with limiter.acquire("k"):
        pass  # the third unit
    with pytest.raises(RateLimitExceeded) as spent:
        async with limiter.acquire("k"):
            pass
    assert spent.value.decision.rate == Rate(3, 60)
    assert spent.value.decision.retry_after
    assert (await limiter.peek("k", 0)).statuses[1].remaining == 2, "the rate denied: no slot taken"


async def test_the_failure_policy_answers_an_acquire() -> None:
    allowing = Limiter("1 concurrent", store=FailingStore(), on_error="allow")
    async with allowing.acquire("k") as decision:
        assert decision.allowed
        assert decision.degraded
    denying = Limiter("1 concurrent", store=FailingStore(), on_error="deny")
    with pytest.raises(RateLimitExceeded) as denied:
        async with denying.acquire("k"):
            pass
    assert denied.value.decision.degraded
    fallback = MemoryStore()
    backed = Limiter("1 concurrent", store=FailingStore(), fallback=fallback)
    async with backed.acquire("k") as decision:
        assert decision.degraded
        assert (await fallback.peek(backed.policy, "k", 1)).remaining == 0, "the fallback holds the slot"
    assert (await fallback.peek(backed.policy, "k", 1)).remaining == 1, "and frees it there"


# -- the guarantee, as a property -----------------------------------------------------------

ACTIONS = st.lists(
    st.tuples(st.sampled_from(["acquire", "acquire", "release", "renew", "advance"]), st.integers(0, 5)),
    max_size=60,
)


@settings(max_examples=EXAMPLES * 150 // 100, deadline=None)
@given(limit=st.integers(1, 4), actions=ACTIONS)
def test_never_more_holders_than_the_cap_and_slots_lapse_on_time(limit: int, actions: list[tuple[str, int]]) -> None:
    """Against a model: at most ``limit`` live slots; an acquire is admitted exactly when one is free
    and every unit fits; a slot lapses exactly ``lease`` after it was taken or renewed; a release or a
    renewal touches its own slot only."""

    async def run() -> None:
        clock = ManualClock()
        store = MemoryStore(clock=clock)
        # Ten units a day: the timeline (at most a few minutes) stays in one window.
        limiter = Limiter([Rate(10, 86_400), Concurrency(limit, lease=1.0)], algorithm="fixed_window", store=store)
        policy, lease = limiter.policy, 1_000_000
        model: dict[str, int] = {}  # holder -> lapse, µs
        units = 0

        def lapse() -> None:
            for gone in [h for h, until in model.items() if until <= clock.us]:
                del model[gone]

        for n, (action, who) in enumerate(actions):
            lapse()
            now = clock.us
            holder = f"h{who}"
            if action == "advance":
                clock.us += 250_000 * who + 1
            elif action == "acquire":
                decision = await store.acquire(policy, "k", 1, f"{holder}-{n}")
                fits = len(model) < limit and units < 10
                assert decision.allowed == fits, (n, decision, model)
                if fits:
                    model[f"{holder}-{n}"] = now + lease
                    units += 1
            elif action == "release" and model:
                victim = sorted(model)[who % len(model)]
                await store.release(policy, "k", victim)
                del model[victim]
            elif action == "renew":
                target = sorted(model)[who % len(model)] if model and who % 2 else f"gone-{n}"
                assert await store.renew(policy, "k", target) == (target in model)
                if target in model:
                    model[target] = now + lease
            lapse()
            peeked = await limiter.peek("k", 0)
            assert peeked.statuses[-1].remaining == limit - len(model), (n, peeked, model)
            assert peeked.statuses[0].remaining == 10 - units, (n, peeked, units)

    asyncio.run(run())


async def test_an_acquire_cancelled_before_its_answer_frees_what_it_may_have_taken() -> None:
    class SlowAnswer(MemoryStore):
        """Takes the slot, then loses the answer (the caller is cancelled while it waits)."""

        async def acquire(self, policy: Any, key: str, cost: int, holder: str) -> Any:
            decision = await super().acquire(policy, key, cost, holder)
            await asyncio.sleep(60)
            return decision

    store = SlowAnswer()
    limiter = Limiter("1 concurrent", store=store)

    async def enter() -> None:
        async with limiter.acquire("k"):
            pass

    task = asyncio.create_task(enter())
    for _ in range(5):
        await asyncio.sleep(0)
    assert (await limiter.peek("k")).remaining == 0, "the store gave the slot"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(5):
        await asyncio.sleep(0)
    assert (await limiter.peek("k")).remaining == 1, "and it was freed"
