"""Charge, refund and reservations through the limiter and the memory store.

The algorithms' own guarantees for charge and refund are in test_algorithms.py.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_core import Algorithm, Limiter, MemoryStore
from ratelimit_core.testing import ManualClock

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples


@pytest.fixture
def limiter(clock: ManualClock) -> Limiter:
    return Limiter("10/second; 20/minute", store=MemoryStore(clock=clock))


async def test_charge_and_refund_cover_every_rate(limiter: Limiter) -> None:
    charged = await limiter.charge("k", 12)
    assert not charged.allowed, "the second the rate is 2 over"
    assert [s.remaining for s in charged.statuses] == [0, 8]
    refunded = await limiter.refund("k", 5)
    assert [s.remaining for s in refunded.statuses] == [3, 13]
    assert refunded.allowed
    assert (await limiter.peek("k")).remaining == 3


async def test_refund_never_beyond_full(limiter: Limiter) -> None:
    await limiter.hit("k", 2)
    decision = await limiter.refund("k", 50)
    assert [s.remaining for s in decision.statuses] == [10, 20]


async def test_a_reservation_settles_the_difference(limiter: Limiter) -> None:
    reservation = await limiter.reserve("k", 5)
    assert reservation
    assert reservation.consumed == 5
    assert (await reservation.settle(2)).remaining == 8, "3 of the estimate came back"
    with pytest.raises(RuntimeError, match="settled or cancelled once"):
        await reservation.settle(2)
    with pytest.raises(RuntimeError):
        await reservation.cancel()
    more = await limiter.reserve("k", 1)
    assert (await more.settle(4)).remaining == 4, "3 more were charged: 8 - 4"


async def test_a_cancelled_reservation_gives_everything_back(limiter: Limiter) -> None:
    reservation = await limiter.reserve("k", 7)
    assert (await reservation.cancel()).remaining == 10
    with pytest.raises(RuntimeError):
        await reservation.settle(1)


async def test_a_denied_reservation_consumed_nothing_and_settles_in_full(limiter: Limiter) -> None:
    await limiter.hit("k", 9)
    reservation = await limiter.reserve("k", 5)
    assert not reservation
    assert reservation.consumed == 0
    assert reservation.decision.retry_after is not None
    assert (await reservation.settle(3)).remaining == 0, "the work was done: charged in full"
    assert (await limiter.peek("k")).statuses[1].remaining == 20 - 12


async def test_an_unsettled_reservation_stays_charged(limiter: Limiter) -> None:
    reservation = await limiter.reserve("k", 4)
    del reservation
    assert (await limiter.peek("k")).remaining == 6


@pytest.mark.parametrize("actual", [-1, 1.5, True, "3", None])
async def test_settle_refuses_a_bad_actual(limiter: Limiter, actual: object) -> None:
    reservation = await limiter.reserve("k", 2)
    with pytest.raises(ValueError, match="actual must be an int"):
        await reservation.settle(actual)  # type: ignore[arg-type]
    assert (await reservation.settle(2)).remaining == 8, "a refused settle settles nothing"


@pytest.mark.parametrize("call", ["charge", "refund"])
async def test_charge_and_refund_check_key_and_cost(limiter: Limiter, call: str) -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        await getattr(limiter, call)(None)
    with pytest.raises(ValueError, match="cost must be an int"):
        await getattr(limiter, call)("k", -1)


async def test_decisions_are_truthy_only_when_allowed(limiter: Limiter) -> None:
    assert await limiter.hit("k", 10)
    assert not await limiter.hit("k")


# -- the guarantee of settle -------------------------------------------------------


@given(
    algorithm=st.sampled_from(list(Algorithm)),
    before=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200_000)), max_size=8),
    estimate=st.integers(0, 12),
    actual=st.integers(0, 30),
)
@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
def test_settling_an_admitted_reservation_is_charging_the_actual_cost(
    algorithm: Algorithm, before: list[tuple[int, int]], estimate: int, actual: int
) -> None:
    """Guarantee: reserve(e) then settle(a), when admitted, leaves exactly the state charge(a) would."""

    async def run() -> None:
        clocks = ManualClock(), ManualClock()
        settled, charged = (
            Limiter("10/second; 40/minute", algorithm=algorithm, store=MemoryStore(clock=c)) for c in clocks
        )
        for cost, gap_us in before:
            for clock in clocks:
                clock.us += gap_us
            await settled.hit("k", cost)
            await charged.hit("k", cost)
        reservation = await settled.reserve("k", estimate)
        if not reservation:
            return
        after = await reservation.settle(actual)
        assert after == await charged.charge("k", actual)
        assert await settled.peek("k", 3) == await charged.peek("k", 3)

    asyncio.run(run())
