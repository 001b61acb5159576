"""The store suite's cases for blocks (``Limiter.block``) and notes (``Noting``): a part of :class:`StoreTests`."""

from __future__ import annotations

import unittest
from collections.abc import Awaitable, Callable

from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.limiter import Limiter
from ratelimit_core.store import Noting, Store
from ratelimit_core.testing.cases import ALGORITHMS, as_blocking, as_holding, expect, new_limiter
from ratelimit_core.testing.clock import ManualClock

__all__ = ["BlockTests"]


class BlockTests:
    """The cases of blocks and notes; each is skipped on a store without the capability."""

    def _run(self, case: Callable[[Store, ManualClock], Awaitable[None]]) -> None:
        raise NotImplementedError  # StoreTests runs them

    # -- blocks (Limiter.block) -------------------------------------------------------------

    def test_a_block_denies_every_decision_until_it_ends(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            as_blocking(store)
            for algorithm in ALGORITHMS:
                limiter = new_limiter("5/minute; 50/hour", algorithm, store)
                await limiter.hit("k")
                expect(await limiter.block("k", 10) == 10, f"{algorithm}: blocked for 10 s")
                clock.advance(4)
                for decision in (await limiter.hit("k"), await limiter.peek("k", 0), await limiter.hit("k", 0)):
                    expect(not decision.allowed and decision.remaining == 0, f"{algorithm}: denied, got {decision}")
                    expect(decision.retry_after == 6, f"{algorithm}: the block's rest, got {decision.retry_after}")
                expect(not (await limiter.reserve("k")).decision.allowed, f"{algorithm}: a reservation too")
                expect((await limiter.hit("other")).allowed, f"{algorithm}: another key is free")
                same_name = Limiter("1/second", algorithm=algorithm, name=limiter.name, store=store)
                expect(not (await same_name.hit("k")).allowed, f"{algorithm}: every limiter of the name")
                clock.advance(6)
                after = await limiter.hit("k")
                expect(after.allowed and after.remaining == 3, f"{algorithm}: free at its end, nothing taken: {after}")

        self._run(case)

    def test_a_block_denies_an_acquire_and_takes_no_slot(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            as_blocking(store)
            holding = as_holding(store)
            limiter = new_limiter("10/second; 2 concurrent", Algorithm.TOKEN_BUCKET, store)
            await limiter.block("k", 3)
            denied = await holding.acquire(limiter.policy, "k", 1, "h")
            expect(not denied.allowed and denied.retry_after == 3, f"denied for the block's rest, got {denied}")
            clock.advance(3)
            expect((await holding.acquire(limiter.policy, "k", 1, "h")).allowed, "admitted at its end")
            expect((await limiter.peek("k")).statuses[-1].remaining == 1, "the denial took no slot")

        self._run(case)

    def test_a_block_waits_for_the_rates_never_shortens_and_reset_lifts_it(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            as_blocking(store)
            for algorithm in ALGORITHMS:
                limiter = new_limiter("2/minute", algorithm, store)
                await limiter.charge("k", 4)
                own = (await limiter.peek("k")).retry_after or 0
                await limiter.block("k", 1)
                expect((await limiter.hit("k")).retry_after == own, f"{algorithm}: the rates' longer wait stands")
                expect(await limiter.block("k", 0.25) == 1, f"{algorithm}: a shorter block leaves the longer")
                expect(await limiter.block("k", 0) == 1, f"{algorithm}: 0 s sets nothing and reports the block")
                await limiter.reset("k")
                expect((await limiter.hit("k")).allowed, f"{algorithm}: reset lifts the block and the rates")

        self._run(case)

    # -- notes (ratelimit_core.store.Noting) -------------------------------------------------

    def test_a_note_is_kept_for_its_name_and_key_until_it_expires(self) -> None:
        async def case(store: Store, clock: ManualClock) -> None:
            if not isinstance(store, Noting):
                raise unittest.SkipTest(f"{store!r} keeps no notes (ratelimit_core.store.Noting)")
            limiter = new_limiter("5/second", Algorithm.TOKEN_BUCKET, store)
            other = Limiter("9/minute", name=limiter.name, store=store).policy  # the same name, other rates
            expect(await store.read_note(limiter.policy, "k") is None, "no note yet")
            await store.write_note(limiter.policy, "k", b"20/1s", 10_000_000)
            await store.write_note(limiter.policy, "k", b"30/1s \x00", 10_000_000)
            expect(await store.read_note(other, "k") == b"30/1s \x00", "the newest, for every limiter of the name")
            expect(await store.read_note(limiter.policy, "other") is None, "another key has none")
            await limiter.reset("k")
            expect(await store.read_note(limiter.policy, "k") is not None, "a reset leaves the note")
            clock.advance(10)
            expect(await store.read_note(limiter.policy, "k") is None, "gone at its ttl")

        self._run(case)
