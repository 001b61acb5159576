"""One semantics, three executors: MemoryStore, RedisStore and SqliteStore decide alike.

The same timelines (several keys, costs and rates, an injected clock; hits,
peeks, charges past the limit, refunds, reservations settled later, costs
no store can hold, a key with a lone surrogate) are driven through MemoryStore
and each other store (Redis standalone, Redis Cluster, a SQLite file), and
every decision must be equal: allowed, remaining, reset_after, retry_after and
each rate's status.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from ratelimit_core import (
    Algorithm,
    Decision,
    Limiter,
    MemoryStore,
    Rate,
    RateLimitExceeded,
    Reservation,
    SqliteStore,
    Store,
)
from ratelimit_core.testing import ManualClock
from ratelimit_redis import RedisStore

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

#: The keys of a timeline: a lone surrogate (a JSON body can carry one) is a key like any other.
IDENTITIES = ["client-0", "client-1", "\ud800 odd"]

ops = st.lists(
    st.tuples(
        st.sampled_from(["hit", "hit", "hit", "peek", "reset", "charge", "refund", "reserve", "settle", "settle"]),
        st.integers(0, 2),  # key
        # cost (a charge this big is an overdraft; the huge ones no store can hold: they saturate)
        st.one_of(st.integers(0, 12), st.integers(0, 12), st.sampled_from([2**53, 10**30, 10**400])),
        st.one_of(st.just(0), st.integers(0, 300_000), st.integers(0, 5_000_000)),  # µs to advance first
    ),
    min_size=8,
    max_size=40,
)


StoreFor = Callable[[ManualClock], Store]


async def new_client(backend: str, redis_url: str, cluster: Any) -> Redis | ClusterClient:
    if backend == "redis":
        return Redis.from_url(redis_url)
    client = ClusterClient(host="127.0.0.1", port=cluster.ports[0])
    await client.initialize()
    return client


@pytest.fixture(params=["redis", "cluster"])
async def client(
    request: pytest.FixtureRequest, redis_url: str, redis_cluster: Any
) -> AsyncIterator[Redis | ClusterClient]:
    client = await new_client(request.param, redis_url, redis_cluster)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def redis_store_for(client: Redis | ClusterClient) -> StoreFor:
    """Makes a RedisStore on a given clock, on each Redis deployment (``client``)."""
    return lambda clock: RedisStore(client, clock=clock, timeout=5)


@pytest.fixture
def sqlite_store_for(tmp_path: Path) -> Iterator[StoreFor]:
    """Makes a SqliteStore on a given clock, in a fresh file each time."""
    opened: list[SqliteStore] = []

    def make(clock: ManualClock) -> Store:
        opened.append(SqliteStore(tmp_path / f"{uuid.uuid4().hex}.db", clock=clock))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def twins(store_for: StoreFor, algorithm: Algorithm, rates: list[Rate]) -> tuple[ManualClock, Limiter, Limiter]:
    """One limiter on memory and one on the store under test, under one clock and a fresh name."""
    clock = ManualClock()
    name = uuid.uuid4().hex[:8]
    memory = Limiter(rates, algorithm=algorithm, name=name, store=MemoryStore(clock=clock))
    other = Limiter(rates, algorithm=algorithm, name=name, store=store_for(clock))
    return clock, memory, other


async def decide_alike(memory: Limiter, other: Limiter, action: str, identity: str, cost: int, step: int) -> Decision:
    """``action`` (hit, peek, charge or refund) on both; every number, and each rate's status, must be equal."""
    expected = await getattr(memory, action)(identity, cost)
    got: Decision = await getattr(other, action)(identity, cost)
    assert got == expected, f"step {step}: {action} {identity} cost {cost}"
    assert got.statuses == expected.statuses, f"step {step}"
    return got


async def decide_timeline_alike(
    store_for: StoreFor, algorithm: Algorithm, rates: list[Rate], timeline: list[tuple[str, int, int, int]]
) -> None:
    if algorithm is not Algorithm.TOKEN_BUCKET:
        rates = [Rate(r.limit, r.period) for r in rates]
        if len({(r.limit, r.period) for r in rates}) != len(rates):
            return
    clock, memory, other = twins(store_for, algorithm, rates)
    open_: dict[str, list[tuple[Reservation, Reservation]]] = {}
    for step, (action, key, cost, advance) in enumerate(timeline):
        clock.us += advance
        identity = IDENTITIES[key]
        if action == "reset":
            await memory.reset(identity)
            await other.reset(identity)
        elif action == "reserve":
            pair = await memory.reserve(identity, cost), await other.reserve(identity, cost)
            assert pair[1].decision == pair[0].decision, f"step {step}: reserve {identity!r} cost {cost}"
            assert pair[1].decision.statuses == pair[0].decision.statuses, f"step {step}"
            open_.setdefault(identity, []).append(pair)
        elif action == "settle":
            if open_.get(identity):  # the oldest reservation of the key, settled at cost
                expected, got = open_[identity].pop(0)
                settled = await expected.settle(cost), await got.settle(cost)
                assert settled[1] == settled[0], f"step {step}: settle {identity!r} at {cost}"
                assert settled[1].statuses == settled[0].statuses, f"step {step}"
        else:
            await decide_alike(memory, other, action, identity, cost, step)


TIMELINES = {
    "algorithm": st.sampled_from(list(Algorithm)),
    "rates": st.lists(st.sampled_from(RATES), min_size=1, max_size=3, unique_by=lambda r: (r.limit, r.period)),
    "timeline": ops,
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**TIMELINES)
async def test_memory_and_redis_decide_alike(
    redis_store_for: StoreFor, algorithm: Algorithm, rates: list[Rate], timeline: list[tuple[str, int, int, int]]
) -> None:
    await decide_timeline_alike(redis_store_for, algorithm, rates, timeline)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**TIMELINES)
async def test_memory_and_sqlite_decide_alike(
    sqlite_store_for: StoreFor, algorithm: Algorithm, rates: list[Rate], timeline: list[tuple[str, int, int, int]]
) -> None:
    await decide_timeline_alike(sqlite_store_for, algorithm, rates, timeline)


# -- Redis only: what the store writes ------------------------------------------------
#
# The behaviour every store shares is the shipped suite (ratelimit_core.testing.StoreTests),
# run on every Redis store in test_store_contract.py.


async def test_every_key_written_is_short(client: Redis | ClusterClient) -> None:
    await client.flushall()
    store = RedisStore(client, timeout=5)
    names = ["default", "n" * 300, "with{brace}"]
    for algorithm in Algorithm:
        for name in names:
            limiter = Limiter("10/second; 1000/day", algorithm=algorithm, name=name, store=store)
            for identity in ["", "x" * 10_000, "{a}", "a:b"]:
                await limiter.hit(identity)
    keys = [key async for key in client.scan_iter(count=1000)]
    assert len(keys) == len(Algorithm) * len(names) * 4 * 2
    assert max(len(key) for key in keys) <= 128


# -- clocks that step, and long quotas ---------------------------------------------

LONG_RATES = [Rate(3, 60), Rate(200_000, 86_400), Rate(10_000, 30 * 86_400), Rate(5, 7 * 86_400), Rate(2, 1)]

# One key: a store may drop another key's state once it has expired (MemoryStore
# does, as a new key arrives; Redis does by TTL, on its own clock), and a clock
# that then steps back cannot bring it back. The test's Redis expires keys by
# the real clock while deciding on the injected one, so with several keys the two
# stores would forget at different moments. One key's own state is never dropped
# by its own writes.
stepping_ops = st.lists(
    st.tuples(
        st.sampled_from(["hit", "hit", "hit", "peek", "wait", "charge", "refund"]),
        st.just(0),  # key
        st.integers(0, 8),  # cost
        st.one_of(
            st.just(0),
            st.integers(0, 2_000_000),
            st.integers(-3_600_000_000, 3_600_000_000),  # the wall clock stepped, back or forward
            st.integers(-40 * 86_400_000_000, 40 * 86_400_000_000),
        ),
    ),
    min_size=1,
    max_size=30,
)


STEPPING = {
    "algorithm": st.sampled_from(list(Algorithm)),
    "rates": st.lists(st.sampled_from(LONG_RATES), min_size=1, max_size=2, unique_by=lambda r: (r.limit, r.period)),
    "timeline": stepping_ops,
}


async def step_alike_and_honour_retry_after(
    store_for: StoreFor, algorithm: Algorithm, rates: list[Rate], timeline: list[tuple[str, int, int, int]]
) -> None:
    """Steps of the clock either way, daily to monthly quotas: both stores decide alike, and "wait" comes true.

    ``wait`` is a hit that, when denied with a ``retry_after``, advances the
    clock by exactly that and hits again: it must then be admitted.
    """
    clock, memory, other = twins(store_for, algorithm, rates)
    for step, (action, key, cost, advance) in enumerate(timeline):
        clock.us += advance
        identity = f"client-{key}"
        got = await decide_alike(memory, other, "hit" if action == "wait" else action, identity, cost, step)
        if action == "wait" and not got.allowed and got.retry_after is not None:
            clock.us += round(got.retry_after * 1_000_000)
            for limiter in (memory, other):
                assert (await limiter.hit(identity, cost)).allowed, f"step {step}: the retry_after given came true"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**STEPPING)
async def test_a_stepping_clock_and_long_quotas_decide_alike_on_redis(
    redis_store_for: StoreFor, algorithm: Algorithm, rates: list[Rate], timeline: list[tuple[str, int, int, int]]
) -> None:
    await step_alike_and_honour_retry_after(redis_store_for, algorithm, rates, timeline)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**STEPPING)
async def test_a_stepping_clock_and_long_quotas_decide_alike_on_sqlite(
    sqlite_store_for: StoreFor, algorithm: Algorithm, rates: list[Rate], timeline: list[tuple[str, int, int, int]]
) -> None:
    await step_alike_and_honour_retry_after(sqlite_store_for, algorithm, rates, timeline)


# -- concurrency caps: acquire, release, renew, on every store ---------------------------

slot_ops = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "acquire", "release", "renew", "peek", "reset"]),
        st.integers(0, 1),  # key
        st.integers(0, 3),  # holder
        st.integers(0, 2),  # cost
        st.one_of(st.just(0), st.integers(0, 700_000), st.integers(0, 3_000_000)),  # µs to advance first
    ),
    min_size=1,
    max_size=40,
)


async def hold_alike(store_for: StoreFor, limits: str, timeline: list[tuple[str, int, int, int, int]]) -> None:
    """Acquires, releases, renewals, peeks and resets: the same answers on MemoryStore and the store under test."""
    clock = ManualClock()
    name = uuid.uuid4().hex[:8]
    reference = Limiter(limits, name=name, store=MemoryStore(clock=clock))
    tested = Limiter(limits, name=name, store=store_for(clock))
    stores = [reference.store, tested.store]
    for step, (action, key, who, cost, advance) in enumerate(timeline):
        clock.us += advance
        identity, holder = f"client-{key}", f"holder-{who}"
        where = f"step {step}: {action} {identity} {holder} cost {cost}"
        if action == "reset":
            for limiter in (reference, tested):
                await limiter.reset(identity)
            continue
        if action == "peek":
            expected, got = [await limiter.peek(identity, cost) for limiter in (reference, tested)]
        elif action == "acquire":
            expected, got = [
                await s.acquire(reference.policy, identity, cost, holder)  # type: ignore[attr-defined]
                for s in stores
            ]
        else:
            expected, got = [
                await getattr(s, action)(reference.policy, identity, holder)  # release: None; renew: bool
                for s in stores
            ]
        assert got == expected, where
        if isinstance(got, Decision):
            assert got.statuses == expected.statuses, where


@pytest.mark.parametrize("limits", ["2 concurrent lease=1s", "5/second; 2 concurrent lease=2s"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=slot_ops)
async def test_memory_and_redis_hold_slots_alike(
    redis_store_for: StoreFor, limits: str, timeline: list[tuple[str, int, int, int, int]]
) -> None:
    await hold_alike(redis_store_for, limits, timeline)


@pytest.mark.parametrize("limits", ["2 concurrent lease=1s", "5/second; 2 concurrent lease=2s"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=slot_ops)
async def test_memory_and_sqlite_hold_slots_alike(
    sqlite_store_for: StoreFor, limits: str, timeline: list[tuple[str, int, int, int, int]]
) -> None:
    await hold_alike(sqlite_store_for, limits, timeline)


async def test_one_store_keeps_a_capped_and_an_uncapped_limiter_of_one_name_and_rates_apart(
    client: Redis | ClusterClient,
) -> None:
    store = RedisStore(client, timeout=5)
    name = uuid.uuid4().hex[:8]
    plain = Limiter("10/minute", name=name, store=store)
    assert (await plain.hit("k")).remaining == 9
    for lease in (1, 2):  # and two leases of one cap: each runs its own
        capped = Limiter(f"10/minute; 1 concurrent lease={lease}s", name=name, store=store)
        async with capped.acquire("k") as decision:
            assert decision.statuses[-1].remaining == 0, "a slot taken, with the cap's own script arguments"
            with pytest.raises(RateLimitExceeded):
                async with capped.acquire("k"):
                    pass
    assert (await plain.hit("k")).remaining == 6, "the rate is shared: the same name and rate"
