"""The README of async-ratelimit 0.1.1, run through ``ratelimit_core.compat``.

Only the import differs from the seed's documentation.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ratelimit_core import StoreError, compat
from ratelimit_core import memory as memory_module
from ratelimit_core.compat import AlgorithmType, RateLimiterOrchestrator, RateLimiterType
from ratelimit_core.testing import FailingStore, ManualClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """Stores made after this fixture read a manual clock (the seed has no clock parameter)."""
    manual = ManualClock()
    monkeypatch.setattr(memory_module, "monotonic_ns", lambda: manual.us * 1000)
    return manual


async def test_readme_in_memory_example(clock: ManualClock) -> None:
    limiter = RateLimiterOrchestrator(
        rate_limiter_type=RateLimiterType.IN_MEMORY,
        algorithm_type=AlgorithmType.TOKEN_BUCKET,
        max_requests=100,  # 100 requests
        time_window=60,  # per 60-second window
    )
    response = await limiter.get_response(uId="user-123")
    assert response.allowed is True
    assert response.remaining_requests == 99
    assert response.reset_time == pytest.approx(0.6)  # one token's refill: the bucket is full again
    assert limiter.get_rules().max_requests == 100
    assert limiter.get_rules().time_window == 60


@pytest.mark.parametrize("algorithm", list(AlgorithmType))
async def test_counts_down_denies_and_recovers(algorithm: AlgorithmType, clock: ManualClock) -> None:
    limiter = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, algorithm, max_requests=3, time_window=10)
    responses = [await limiter.get_response("u") for _ in range(4)]
    assert [r.allowed for r in responses] == [True, True, True, False]
    assert [r.remaining_requests for r in responses] == [2, 1, 0, 0]
    denied = responses[-1]
    assert 0 < denied.reset_time <= 10
    clock.advance(denied.reset_time)
    assert (await limiter.get_response("u")).allowed
    assert (await limiter.get_response("other")).remaining_requests == 2, "clients are independent"


async def test_fixed_window_reset_time_is_the_time_left_in_the_window(clock: ManualClock) -> None:
    limiter = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.FIXED_WINDOW, 2, 10)
    await limiter.get_response("u")
    clock.advance(4)
    assert (await limiter.get_response("u")).reset_time == 6.0
    assert (await limiter.get_response("u")).reset_time == 6.0


async def test_sliding_window_is_the_exact_log(clock: ManualClock) -> None:
    limiter = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.SLIDING_WINDOW, 2, 10)
    assert limiter.limiter.algorithm == "sliding_window_log"
    await limiter.get_response("u")
    clock.advance(9)
    await limiter.get_response("u")
    clock.advance(0.5)
    denied = await limiter.get_response("u")
    assert not denied.allowed
    assert denied.reset_time == 0.5  # the first request leaves the window at 10 s
    clock.advance(0.5)
    assert (await limiter.get_response("u")).allowed


async def test_token_bucket_does_not_starve_steady_traffic(clock: ManualClock) -> None:
    """The seed floored tokens on every call: a client at the rate was starved."""
    limiter = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.TOKEN_BUCKET, 3, 1)
    for _ in range(3):
        await limiter.get_response("u")
    admitted = 0
    for _ in range(300):
        clock.advance(0.2)  # a third of a token per step
        admitted += (await limiter.get_response("u")).allowed
    assert admitted == 180  # exactly 3 per second for 60 seconds


async def test_reset_forgets_the_client(clock: ManualClock) -> None:
    limiter = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.FIXED_WINDOW, 1, 60)
    await limiter.get_response("u")
    await limiter.reset("u")
    assert (await limiter.get_response("u")).allowed


@pytest.mark.parametrize(
    ("window", "limit", "message"),
    [
        (0, 10, "Time window must be a positive integer."),
        (-5, 10, "Time window must be a positive integer."),
        (60, 0, "Max requests must be a positive integer."),
        (60, -1, "Max requests must be a positive integer."),
    ],
)
def test_seed_validation_messages(window: int, limit: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.TOKEN_BUCKET, limit, window)


def test_redis_without_a_client_is_the_seed_error() -> None:
    with pytest.raises(ValueError, match=r"Redis client must be provided for Redis rate limiter\."):
        RateLimiterOrchestrator(RateLimiterType.REDIS, AlgorithmType.TOKEN_BUCKET, 10, 60)


def test_redis_without_the_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ratelimit_redis", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install ratelimit-redis"):
        RateLimiterOrchestrator(RateLimiterType.REDIS, AlgorithmType.TOKEN_BUCKET, 10, 60, redis_client=object())


async def test_store_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed turned errors into denials, so fail_open never fired."""

    monkeypatch.setattr(compat, "_redis_store", lambda client: FailingStore(ConnectionError("redis is down")))
    limiter = RateLimiterOrchestrator(RateLimiterType.REDIS, AlgorithmType.TOKEN_BUCKET, 10, 60, redis_client=object())
    with pytest.raises(StoreError) as info:
        await limiter.get_response(uId="user-123")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_enums_keep_the_seed_values() -> None:
    assert [a.value for a in AlgorithmType] == ["fixed_window", "sliding_window", "token_bucket"]
    assert [t.value for t in RateLimiterType] == ["in_memory", "redis"]
    assert AlgorithmType("token_bucket") is AlgorithmType.TOKEN_BUCKET


def test_string_values_are_accepted_like_the_enums() -> None:
    limiter: Any = RateLimiterOrchestrator("in_memory", "fixed_window", 5, 60)  # type: ignore[arg-type]
    assert limiter.limiter.algorithm == "fixed_window"


@pytest.mark.parametrize("uid", [None, 42, b"user-123"])
async def test_a_user_id_that_is_not_a_string_is_a_value_error(uid: object) -> None:
    limiter = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.TOKEN_BUCKET, 10, 60)
    with pytest.raises(ValueError, match="User ID must be a string"):
        await limiter.get_response(uId=uid)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="User ID must be a string"):
        await limiter.reset(uid)  # type: ignore[arg-type]
