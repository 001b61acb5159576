from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_core import Algorithm, Limiter, MemoryStore, Store
from ratelimit_core.testing import ManualClock, StoreTests

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples


class TestMemoryStore(StoreTests):
    """The shipped store suite."""

    async def make_store(self, clock: Callable[[], float]) -> Store:
        return MemoryStore(clock=clock)


@pytest.mark.parametrize("max_keys", [0, -1, 1.5, True, "10"])
def test_bad_max_keys_is_a_value_error(max_keys: object) -> None:
    with pytest.raises(ValueError, match="max_keys") as info:
        MemoryStore(max_keys=max_keys)  # type: ignore[arg-type]
    assert repr(max_keys) in str(info.value)


def test_bad_clock_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="clock"):
        MemoryStore(clock=42)  # type: ignore[arg-type]


def test_repr_shows_what_it_holds() -> None:
    assert repr(MemoryStore(max_keys=5)) == "MemoryStore(keys=0, max_keys=5)"


async def test_default_clock_is_monotonic_and_real() -> None:
    limiter = Limiter("1/0.01s")
    assert (await limiter.hit("k")).allowed
    assert not (await limiter.hit("k")).allowed


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_restored_state_is_dropped_when_new_keys_arrive(algorithm: Algorithm) -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    limiter = Limiter("5/second", algorithm=algorithm, store=store)
    for i in range(100):
        await limiter.hit(f"old-{i}")
    clock.advance(3)  # every old state is fully restored
    for i in range(100):
        await limiter.hit(f"new-{i}")
    assert store.size == 100, "each new key dropped one restored state"


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_full_store_evicts_expired_state_before_live_state(algorithm: Algorithm) -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=10)
    short = Limiter("1/second", algorithm=algorithm, store=store, name="short")
    long = Limiter("1/hour", algorithm=algorithm, store=store, name="long")
    for i in range(5):
        await long.hit(f"l{i}")  # the oldest entries, but live for an hour
    for i in range(5):
        await short.hit(f"s{i}")
    clock.advance(5)  # the short states are restored; the long ones are not
    for i in range(5):
        await short.hit(f"t{i}")
    assert store.size <= 10
    for i in range(5):
        assert (await long.peek(f"l{i}")).remaining == 0, "live state kept over expired state"


async def test_full_store_evicts_the_least_recently_used() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=3)
    limiter = Limiter("1/hour", store=store)
    for key in ("a", "b", "c"):
        await limiter.hit(key)
    await limiter.hit("a")  # denied, but a use: "a" is now the most recent
    await limiter.hit("d")
    assert store.size == 3
    assert (await limiter.peek("a")).remaining == 0
    assert (await limiter.peek("b")).remaining == 1, "b was the least recently used: evicted, forgotten"
    assert (await limiter.peek("c")).remaining == 0


async def test_a_flood_of_distinct_keys_keeps_memory_bounded() -> None:
    store = MemoryStore(clock=ManualClock(), max_keys=1000)
    limiter = Limiter("10/minute", store=store)
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(2_000):
            await limiter.hit(f"warm-{i}")
        warm, _ = tracemalloc.get_traced_memory()
        for i in range(200_000):
            await limiter.hit(f"flood-{i}")
            if i % 20_000 == 0:
                assert store.size <= 1000
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.size == 1000
    # 100x the keys went through; what is held grew by far less than one key's worth each.
    assert after - warm < 100_000, f"memory grew by {after - warm} bytes"


async def test_several_rates_keep_one_state_per_rate_and_drop_them_together() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    limiter = Limiter("2/second; 10/minute", store=store)
    await limiter.hit("k")
    assert store.size == 2
    await limiter.reset("k")
    assert store.size == 0


@settings(max_examples=EXAMPLES * 150 // 100, deadline=None)
@given(
    max_keys=st.integers(1, 6),
    ops=st.lists(
        st.tuples(st.sampled_from(["hit", "peek", "reset"]), st.integers(0, 2), st.integers(0, 7), st.integers(0, 3)),
        max_size=80,
    ),
)
async def test_count_and_bound_hold_under_any_sequence(max_keys: int, ops: list[tuple[str, int, int, int]]) -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=max_keys)
    limiters = [
        Limiter("2/second", store=store, name="one"),
        Limiter("2/second; 5/minute", store=store, name="two", algorithm="sliding_window_log"),
        Limiter("3/second", store=store, name="three", algorithm="sliding_window_counter"),
    ]
    for action, which, key, advance in ops:
        clock.advance(advance * 0.3)
        limiter = limiters[which]
        if action == "reset":
            await limiter.reset(f"k{key}")
        else:
            await getattr(limiter, action)(f"k{key}")
        held = store._tables.counts()[2]
        assert store.size == held
        assert held <= max_keys


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_a_clock_stepped_back_an_hour_locks_no_one_out_for_longer_than_a_period(algorithm: Algorithm) -> None:
    clock = ManualClock()
    limiter = Limiter(["3/minute", "100/hour"], algorithm=algorithm, store=MemoryStore(clock=clock))
    for _ in range(3):
        assert (await limiter.hit("k")).allowed
    clock.us -= 3_600_000_000  # NTP steps the wall clock back an hour
    denied = await limiter.hit("k")
    assert not denied.allowed
    assert denied.retry_after is not None
    assert denied.retry_after <= 60
    clock.us += round(denied.retry_after * 1_000_000)
    assert (await limiter.hit("k")).allowed, "the retry_after given after the step comes true"


async def test_long_keys_hold_a_fixed_size_digest() -> None:
    """200 keys of 256 kB made of client text: the store holds digests, not 51 MB."""
    store = MemoryStore()
    limiter = Limiter("5/minute", store=store)
    keys = [f"{i:03d}" + "k" * 256_000 for i in range(200)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in keys:
        await limiter.hit(key)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert store.size == 200
    assert held < 200 * 1_000, f"{held:,} bytes held for 200 keys"
    for key in keys[:3]:
        assert (await limiter.peek(key)).remaining == 4, "each long key is still its own client"


async def test_a_digest_never_equals_a_short_key() -> None:
    limiter = Limiter("1/minute")
    long_key = "x" * 65
    assert (await limiter.hit(long_key)).allowed
    assert (await limiter.hit("x" * 64)).allowed, "a key kept as it is never meets a digest"
    assert not (await limiter.hit(long_key)).allowed
    await limiter.reset(long_key)
    assert (await limiter.hit(long_key)).allowed


async def test_eviction_takes_the_least_recently_used_state_of_the_whole_store() -> None:
    """A flood of new keys in one limiter never evicts a denied key that another limiter keeps seeing."""
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=50)
    login = Limiter("3/hour", name="login", store=store)
    junk = Limiter("3/hour", name="junk", store=store)
    for _ in range(3):
        await login.hit("admin")
    for i in range(2_000):
        clock.advance(0.001)
        await junk.hit(f"junk-{i}")
        assert not (await login.hit("admin")).allowed, f"the brute-forcer got through after {i} junk keys"
    assert store.size == 50


async def test_the_least_recently_used_state_goes_first_whichever_limiter_holds_it() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=3)
    a, b = Limiter("3/hour", name="a", store=store), Limiter("3/hour", name="b", store=store)
    await a.hit("old")
    clock.advance(1)
    await b.hit("b1")
    clock.advance(1)
    await b.hit("b2")
    clock.advance(1)
    await b.hit("b3")  # the store is full: "old" of limiter a goes, not b's own first key
    assert (await a.peek("old")).remaining == 3, "forgotten"
    assert (await b.peek("b1")).remaining == 2, "kept"
