"""The store contract as tests: subclass :class:`StoreTests` to check a store.

Every store in this repository runs it, and so can yours::

    from ratelimit_core.testing import StoreTests

    class TestMyStore(StoreTests):
        async def make_store(self, clock):
            return MyStore(dsn, clock=clock)   # decisions on the given clock

        async def close_store(self, store):    # optional
            await store.aclose()

pytest collects the inherited ``test_*`` methods. Each runs on an event loop
of its own (``asyncio.run``), so no async plugin is needed, and uses limiter
names of its own, so one server can serve every test. The standard library
only: nothing here imports pytest.

The concurrency cases run on a store that keeps slots
(:class:`~ratelimit_core.store.Holding`), the block cases on one that keeps
blocks (:class:`~ratelimit_core.store.Blocking`); each is skipped
(``unittest.SkipTest``) on a store that does not.

Beyond the single cases, :meth:`StoreTests.test_decides_as_the_memory_store_does`
drives the store and a :class:`~ratelimit_core.MemoryStore` through the same
timelines (:mod:`ratelimit_core.testing.timelines`: hits, peeks, charges past
the limit, refunds, reservations settled later, resets, several rates, every
algorithm; a clock that steps; concurrency slots) and compares every answer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.errors import RateLimitExceeded
from ratelimit_core.limiter import Limiter
from ratelimit_core.memory import MemoryStore
from ratelimit_core.store import Store
from ratelimit_core.testing.cases import ALGORITHMS, as_holding, expect, new_limiter, new_name
from ratelimit_core.testing.clock import ManualClock
from ratelimit_core.testing.suite_blocks import BlockTests
from ratelimit_core.testing.timelines import decide_alike, timeline

__all__ = ["StoreTests"]


class StoreTests(BlockTests):
    """The store contract, as test methods to inherit. Implement :meth:`make_store`."""

    async def make_store(self, clock: Callable[[], float]) -> Store:
        """A store deciding on ``clock`` (seconds); called on the test's event loop."""
        raise NotImplementedError("a StoreTests subclass makes its store: async def make_store(self, clock)")

    async def close_store(self, store: Store) -> None:
        """Release what :meth:`make_store` opened (called on the same loop)."""
        close = getattr(store, "aclose", None)
        if close is not None:
            await close()

    # -- one store call at a time -------------------------------------------------------

    def test_counts_down_denies_and_recovers(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("3/second", algorithm, store)
                left = [(await limiter.hit("k")).remaining for _ in range(3)]
                expect(left == [2, 1, 0], f"{algorithm}: counts down, got {left}")
                denied = await limiter.hit("k")
                expect(not denied.allowed and denied.retry_after, f"{algorithm}: denied with a wait, got {denied}")
                clock.advance(denied.retry_after or 0)
                expect((await limiter.hit("k")).allowed, f"{algorithm}: admitted at retry_after")
                expect((await limiter.peek("fresh")).remaining == 3, f"{algorithm}: a fresh key is full")

        self._run(case)

    def test_all_rates_or_none(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("2/second; 5/minute", algorithm, store)
                expect((await limiter.hit("k", 2)).allowed, f"{algorithm}: 2 fit")
                denied = await limiter.hit("k")
                expect(not denied.allowed, f"{algorithm}: the second rate denies")
                expect([s.remaining for s in denied.statuses] == [0, 3], f"{algorithm}: nothing consumed")

        self._run(case)

    def test_a_cost_above_capacity_is_denied_and_writes_nothing(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("3/minute", algorithm, store)
                denied = await limiter.hit("k", 4)
                expect(not denied.allowed and denied.retry_after is None, f"{algorithm}: never fits, got {denied}")
                expect((await limiter.peek("k")).remaining == 3, f"{algorithm}: nothing written")

        self._run(case)

    def test_peek_consumes_nothing_and_reset_forgets(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("5/minute", algorithm, store)
                await limiter.hit("k", 2)
                peeked = [(await limiter.peek("k")).remaining for _ in range(3)]
                expect(peeked == [3, 3, 3], f"{algorithm}: a peek consumes nothing, got {peeked}")
                await limiter.reset("k")
                expect((await limiter.peek("k")).remaining == 5, f"{algorithm}: reset forgets")

        self._run(case)

    def test_a_charge_past_the_limit_is_waited_out(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("10/minute", algorithm, store)
                charged = await limiter.charge("k", 25)
                expect(not charged.allowed, f"{algorithm}: no room after an overdraft")
                expect(charged.remaining == 0 and charged.retry_after, f"{algorithm}: empty, with a wait: {charged}")
                clock.advance((charged.retry_after or 0) - 0.000_001)
                expect(not (await limiter.hit("k")).allowed, f"{algorithm}: not a microsecond early")
                clock.advance(0.000_001)
                expect((await limiter.hit("k")).allowed, f"{algorithm}: admitted when the overdraft is waited out")

        self._run(case)

    def test_a_refund_gives_back_never_beyond_full(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("10/minute; 100/day", algorithm, store)
                await limiter.hit("k", 6)
                refunded = await limiter.refund("k", 4)
                expect([s.remaining for s in refunded.statuses] == [8, 98], f"{algorithm}: 4 of 6 given back")
                full = await limiter.refund("k", 50)
                expect([s.remaining for s in full.statuses] == [10, 100], f"{algorithm}: never beyond full")
                expect((await limiter.refund("never-seen", 3)).remaining == 10, f"{algorithm}: a fresh key is full")

        self._run(case)

    def test_limiters_share_state_only_when_equal(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            name = new_name()
            await Limiter("2/minute", name=name, store=store).hit("k", 2)
            for other in [
                Limiter("2/minute", name=new_name(), store=store),
                Limiter("2/minute", name=name, algorithm="fixed_window", store=store),
                Limiter("3/minute", name=name, store=store),
            ]:
                expect((await other.peek("k")).remaining == other.rates[0].capacity, f"{other!r} shares no state")
            same = Limiter("2/minute", name=name, store=store)
            expect((await same.peek("k")).remaining == 0, "an equal limiter shares the state")

        self._run(case)

    def test_odd_keys_work_and_stay_distinct(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            limiter = new_limiter("1/minute", Algorithm.TOKEN_BUCKET, store)
            for key in ["", "{", "}", "{braces}", "*", "a:b", "ключ", "\x00bytes", "x" * 10_000]:
                expect((await limiter.hit(key)).allowed, f"{key[:20]!r}: admitted")
                expect(not (await limiter.hit(key)).allowed, f"{key[:20]!r}: then denied")
                expect((await limiter.hit(key + "2")).allowed, "a neighbouring key is another client")

        self._run(case)

    def test_concurrent_hits_admit_exactly_the_limit(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            for algorithm in ALGORITHMS:
                limiter = new_limiter("10/minute", algorithm, store)
                decisions = await asyncio.gather(*(limiter.hit("k") for _ in range(50)))
                admitted = sum(d.allowed for d in decisions)
                expect(admitted == 10, f"{algorithm}: 50 at once on a limit of 10 admitted {admitted}")

        self._run(case)

    # -- concurrency caps (a store that keeps slots) ------------------------------------------

    def test_a_cap_admits_up_to_its_limit_and_frees_a_slot_on_leaving(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            as_holding(store)
            limiter = new_limiter("10/minute; 2 concurrent", Algorithm.TOKEN_BUCKET, store)
            async with limiter.acquire("k") as first, limiter.acquire("k") as second:
                expect(first.allowed and second.allowed, "two slots")
                expect([s.remaining for s in second.statuses] == [8, 0], f"units and slots taken: {second}")
                try:
                    async with limiter.acquire("k"):
                        expect(False, "a third holder got in")
                except RateLimitExceeded as denied:
                    cap = denied.decision.statuses[-1]
                    expect(not cap.allowed and cap.retry_after is None, f"the cap denies: {denied.decision}")
                    expect(denied.decision.statuses[0].remaining == 8, "a denial consumes no unit")
                expect((await limiter.peek("k")).statuses[-1].remaining == 0, "peek: no free slot")
            expect((await limiter.peek("k")).statuses[-1].remaining == 2, "both slots freed on leaving")
            try:
                async with limiter.acquire("k"):
                    raise KeyError("the block failed")
            except KeyError:
                pass
            expect((await limiter.peek("k")).statuses[-1].remaining == 2, "freed when the block raises")

        self._run(case)

    def test_an_acquire_takes_the_units_and_the_slot_or_neither(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            holding = as_holding(store)
            few_units = new_limiter("2/minute; 5 concurrent", Algorithm.FIXED_WINDOW, store)
            policy = few_units.policy
            for holder in ("a", "b"):
                expect((await holding.acquire(policy, "k", 1, holder)).allowed, "within both")
            denied = await holding.acquire(policy, "k", 1, "c")
            expect(not denied.allowed and denied.rate == few_units.rates[0], f"the rate denies: {denied}")
            expect((await few_units.peek("k")).statuses[-1].remaining == 3, "no slot taken by the denial")
            one_slot = new_limiter("10/minute; 1 concurrent", Algorithm.SLIDING_WINDOW_LOG, store)
            expect((await holding.acquire(one_slot.policy, "k", 3, "a")).allowed, "the slot")
            full = await holding.acquire(one_slot.policy, "k", 3, "b")
            expect(not full.allowed and full.rate == one_slot.cap, f"the cap denies: {full}")
            expect((await one_slot.peek("k", 0)).statuses[0].remaining == 7, "no units taken by the denial")

        self._run(case)

    def test_a_slot_lapses_at_its_lease_and_a_late_release_frees_no_other(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            holding = as_holding(store)
            limiter = new_limiter("1 concurrent lease=10s", Algorithm.TOKEN_BUCKET, store)
            policy = limiter.policy
            expect((await holding.acquire(policy, "k", 1, "dead")).allowed, "the first holder")
            clock.advance(9.999_999)
            expect(not (await holding.acquire(policy, "k", 1, "b")).allowed, "held until its lease ends")
            clock.advance(0.000_001)
            expect((await holding.acquire(policy, "k", 1, "b")).allowed, "lapsed at its lease")
            await holding.release(policy, "k", "dead")
            expect(not await holding.renew(policy, "k", "dead"), "a lapsed slot is not renewed")
            expect(not (await holding.acquire(policy, "k", 1, "c")).allowed, "the late release freed no other")
            clock.advance(8)
            expect(await holding.renew(policy, "k", "b"), "a live slot is renewed")
            clock.advance(8)
            expect(not (await holding.acquire(policy, "k", 1, "c")).allowed, "renewed: held 10 s from the renewal")
            await holding.release(policy, "k", "b")
            await holding.release(policy, "k", "b")  # twice: nothing
            expect((await holding.acquire(policy, "k", 1, "c")).allowed, "freed")
            await limiter.reset("k")
            expect((await limiter.peek("k")).remaining == 1, "reset frees every slot")

        self._run(case)

    def test_concurrent_acquires_take_exactly_the_cap(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            holding = as_holding(store)
            limiter = new_limiter("100/minute; 5 concurrent", Algorithm.TOKEN_BUCKET, store)
            decisions = await asyncio.gather(*(holding.acquire(limiter.policy, "k", 1, f"h{i}") for i in range(50)))
            admitted = sum(d.allowed for d in decisions)
            expect(admitted == 5, f"50 at once on 5 slots admitted {admitted}")
            expect((await limiter.peek("k")).statuses[0].remaining == 95, "units taken by the admitted only")

        self._run(case)

    # -- one semantics: the memory store's -------------------------------------------------

    def test_decides_as_the_memory_store_does(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            reference = MemoryStore(clock=clock)
            for algorithm in ALGORITHMS:
                for rates in ("3/second", "7/second; 20/minute", "2/3.3s"):
                    for seed in range(3):
                        name = new_name()
                        first, second = (
                            Limiter(rates, algorithm=algorithm, name=name, store=s) for s in (reference, store)
                        )
                        steps = timeline(random.Random(f"{algorithm} {rates} {seed}"))
                        await decide_alike(first, second, clock, steps)

        self._run(case)

    def test_decides_as_the_memory_store_does_while_the_clock_steps(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            reference = MemoryStore(clock=clock)
            for algorithm in ALGORITHMS:
                for rates in ("3/minute; 200000/day", "5/7day", "2/second"):
                    name = new_name()
                    first, second = (
                        Limiter(rates, algorithm=algorithm, name=name, store=s) for s in (reference, store)
                    )
                    await decide_alike(
                        first, second, clock, timeline(random.Random(f"{algorithm} {rates}"), stepping=True)
                    )

        self._run(case)

    def test_holds_slots_as_the_memory_store_does(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            as_holding(store)
            reference = MemoryStore(clock=clock)
            for limits in ("2 concurrent lease=1s", "5/second; 2 concurrent lease=2s"):
                for seed in range(3):
                    name = new_name()
                    first, second = (Limiter(limits, name=name, store=s) for s in (reference, store))
                    await decide_alike(first, second, clock, timeline(random.Random(f"{limits} {seed}"), slots=True))

        self._run(case)

    # -- the harness ------------------------------------------------------------------------

    def _run(self, case: Callable[[Store, ManualClock], Awaitable[None]]) -> None:
        async def main() -> None:
            clock = ManualClock()
            store = await self.make_store(clock)
            try:
                await case(store, clock)
            finally:
                await self.close_store(store)

        asyncio.run(main())
