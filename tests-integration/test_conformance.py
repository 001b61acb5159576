"""One semantics, every store: each decides exactly as MemoryStore does, step by step.

Random timelines of the one generator (``ratelimit_core.testing.timelines``:
hits, peeks, charges past the limit, refunds, reservations settled later,
resets, waits on a ``retry_after``, costs no store can hold, a key with a lone
surrogate; with the clock stepping back and forth by up to forty days; and
concurrency slots) run on MemoryStore and on each store of the backend table
(SQLite, Redis and Valkey standalone and Cluster) on one clock, and every
answer must be equal: allowed, remaining, reset_after, retry_after and each
rate's status. Hypothesis chooses the seeds, the algorithm and the rates.
"""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import OTHERS, StoreFor
from ratelimit_core import Algorithm, Limiter, MemoryStore, Rate
from ratelimit_core.testing import ManualClock
from ratelimit_core.testing.timelines import decide_alike, timeline

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples

RATES = [
    Rate(3, 1),
    Rate(7, 1),
    Rate(5, 0.5),
    Rate(10, 60),
    Rate(2, 3.3),
    Rate(1000, 3600),
    Rate(4, 1, burst=2),
    Rate(7, 1, burst=9),
]
LONG_RATES = [Rate(3, 60), Rate(200_000, 86_400), Rate(10_000, 30 * 86_400), Rate(5, 7 * 86_400), Rate(2, 1)]
SEEDS = st.integers(0, 2**64)
ON_EVERY_STORE = settings(
    max_examples=EXAMPLES * 25 // 100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def twins(store_for: StoreFor, limits: str | list[Rate], algorithm: Algorithm) -> tuple[ManualClock, Limiter, Limiter]:
    """One limiter on MemoryStore and one on the store under test: one clock, one fresh name."""
    clock = ManualClock()
    name = uuid.uuid4().hex[:8]
    reference = Limiter(limits, algorithm=algorithm, name=name, store=MemoryStore(clock=clock))
    return clock, reference, Limiter(limits, algorithm=algorithm, name=name, store=store_for(clock))


def fit(algorithm: Algorithm, rates: list[Rate]) -> list[Rate] | None:
    """``rates`` as ``algorithm`` takes them (a burst is the token bucket's), or ``None`` when two become one."""
    if algorithm is Algorithm.TOKEN_BUCKET:
        return rates
    plain = [Rate(r.limit, r.period) for r in rates]
    return plain if len({(r.limit, r.period) for r in plain}) == len(plain) else None


@pytest.mark.parametrize("store_for", OTHERS, indirect=True)
@ON_EVERY_STORE
@given(
    seed=SEEDS,
    rates=st.lists(st.sampled_from(RATES), min_size=1, max_size=3, unique_by=lambda r: (r.limit, r.period)),
)
async def test_decides_as_the_memory_store_does(store_for: StoreFor, seed: int, rates: list[Rate]) -> None:
    for algorithm in Algorithm:  # every algorithm, each example
        if (usable := fit(algorithm, rates)) is not None:
            clock, reference, tested = twins(store_for, usable, algorithm)
            await decide_alike(reference, tested, clock, timeline(random.Random(seed)))


@pytest.mark.parametrize("store_for", OTHERS, indirect=True)
@ON_EVERY_STORE
@given(
    seed=SEEDS,
    rates=st.lists(st.sampled_from(LONG_RATES), min_size=1, max_size=2, unique_by=lambda r: (r.limit, r.period)),
)
async def test_decides_as_the_memory_store_does_while_the_clock_steps(
    store_for: StoreFor, seed: int, rates: list[Rate]
) -> None:
    """Daily to monthly quotas, the clock stepped back and forth: alike, and every ``retry_after`` comes true."""
    for algorithm in Algorithm:
        clock, reference, tested = twins(store_for, rates, algorithm)
        await decide_alike(reference, tested, clock, timeline(random.Random(seed), stepping=True))


@pytest.mark.parametrize("store_for", OTHERS, indirect=True)
@pytest.mark.parametrize("limits", ["2 concurrent lease=1s", "5/second; 2 concurrent lease=2s"])
@ON_EVERY_STORE
@given(seed=SEEDS)
async def test_holds_slots_as_the_memory_store_does(store_for: StoreFor, limits: str, seed: int) -> None:
    """Acquires, releases, renewals, peeks and resets of a few holders: the same answers."""
    clock, reference, tested = twins(store_for, limits, Algorithm.TOKEN_BUCKET)
    await decide_alike(reference, tested, clock, timeline(random.Random(seed), slots=True))
