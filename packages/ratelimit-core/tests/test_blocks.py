"""``Limiter.block``: the executor's rule for a blocked key, and the limiter's checks, in both colours.

Every store runs the contract's block cases and the timelines with blocks
(``StoreTests``); here are the properties of the rule itself.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit_core import Algorithm, Decision, Limiter, MemoryStore, Policy, StoreError, executor, sync
from ratelimit_core.checks import MAX_BLOCK
from ratelimit_core.testing import FailingStore, LoopTime, ManualClock
from ratelimit_core.wrapper import WrapperStore

ALGORITHMS = st.sampled_from(list(Algorithm))
HISTORY = st.lists(st.tuples(st.sampled_from(["hit", "charge"]), st.integers(0, 8), st.integers(0, 3_000_000)))


@given(ALGORITHMS, HISTORY, st.integers(1, 90_000_000), st.integers(0, 12))
async def test_a_block_consumes_nothing_and_its_retry_after_comes_true(
    algorithm: Algorithm, history: list[tuple[str, int, int]], block_us: int, cost: int
) -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    blocked, twin = (Limiter("5/second; 9/minute", algorithm=algorithm, name=n, store=store) for n in ("b", "t"))
    for action, units, advance in history:
        clock.us += advance
        for limiter in (blocked, twin):
            await getattr(limiter, action)("k", units)
    assert await blocked.block("k", block_us / 1_000_000) == block_us / 1_000_000
    denied = await blocked.hit("k", cost)
    assert not denied.allowed
    assert denied.remaining == 0
    own = await twin.peek("k", cost)
    if own.retry_after is None:
        assert denied.retry_after is None, "a cost no rate can ever admit stays never"
        return
    assert denied.retry_after == max(own.retry_after, block_us / 1_000_000)
    clock.us += round(denied.retry_after * 1_000_000)
    assert await blocked.peek("k", cost) == await twin.peek("k", cost), "the block consumed nothing"
    assert (await blocked.hit("k", cost)).allowed, "admitted at the retry_after given"


@given(
    st.none() | st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)),
    st.integers(0, 10**12),
    st.integers(0, 10**10),
)
def test_a_block_never_shortens_and_a_clock_gone_back_never_lengthens_it(
    block: tuple[int, int] | None, now: int, duration: int
) -> None:
    if block is not None:
        block = (max(block), min(block))  # it ends after it was set
    after = executor.blocking(block, now, duration)
    end = 0 if after is None else executor.block_end(after, now)
    assert end >= max(executor.block_end(block, now), now + duration) or (after is None and duration == 0)
    if block is not None:
        length = block[0] - block[1]
        assert executor.block_end(block, now) <= max(block[0], now + length), "never longer than it was set"
        fixed = executor.repaired(block, now)
        if fixed is not None:
            assert executor.block_end(fixed, now) == executor.block_end(block, now), "a repair keeps the end"
            assert executor.block_end(fixed, now + 1) == executor.block_end(block, now), "and holds it still"


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, MAX_BLOCK + 1, True, "10", None])
async def test_a_bad_duration_is_a_value_error_naming_it(seconds: object) -> None:
    with pytest.raises(ValueError, match="seconds must be a number from 0 to"):
        await Limiter("1/second").block("k", seconds)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=repr(seconds).replace("(", r"\(")):
        sync.Limiter("1/second").block("k", seconds)  # type: ignore[arg-type]


async def test_a_key_that_is_no_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        await Limiter("1/second").block(None, 1)  # type: ignore[arg-type]


async def test_a_failed_block_raises_whatever_on_error_says_and_the_fallback_is_blocked_too() -> None:
    fallback = MemoryStore()
    limiter = Limiter("5/second", store=FailingStore(), on_error="allow", fallback=fallback)
    with pytest.raises(StoreError):
        await limiter.block("k", 30)
    decision = await limiter.hit("k")
    assert decision.degraded, "the fallback answers"
    assert not decision.allowed, "and honours the block"
    assert 29 < (decision.retry_after or 0) <= 30


async def test_a_store_without_blocks_is_a_type_error() -> None:
    class Plain(MemoryStore):
        block = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="keeps no blocks"):
        await Limiter("1/second", store=Plain()).block("k", 1)


def test_the_sync_limiter_blocks_alike() -> None:
    clock = ManualClock()
    limiter = sync.Limiter("3/second", store=sync.MemoryStore(clock=clock))
    assert limiter.block("k", 2.5) == 2.5
    denied = limiter.hit("k")
    assert not denied.allowed
    assert denied.retry_after == 2.5
    clock.advance(2.5)
    assert limiter.hit("k").remaining == 2


async def test_waiters_behind_a_block_all_go_when_it_ends(clock: ManualClock, loop_time: LoopTime) -> None:
    class Remote(WrapperStore):
        """A store that answers after a turn of the loop, as one over the network does."""

        async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
            await asyncio.sleep(0)
            return await super().hit(policy, key, cost)

    limiter = Limiter("100/second", store=Remote(MemoryStore(clock=clock)))
    await limiter.block("k", 0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def waiter() -> float:
        await limiter.wait("k")
        return loop.time() - started

    waited = await asyncio.gather(*(waiter() for _ in range(5)))
    assert all(0.5 <= w < 0.6 for w in waited), f"each waited out the block once, not one after another: {waited}"
