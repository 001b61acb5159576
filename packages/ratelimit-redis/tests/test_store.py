"""RedisStore construction and its scripts; behaviour against a real server is in tests-integration."""

from __future__ import annotations

import math

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from ratelimit_core import Algorithm, Limiter, Rate
from ratelimit_redis import RedisStore
from ratelimit_redis.scripts import source


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"prefix": ""}, "prefix"),
        ({"prefix": "a{b"}, "prefix"),
        ({"prefix": "p" * 33}, "prefix"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": "1"}, "timeout"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"connect_timeout": None}, "connect_timeout"),
        ({"breaker_failures": 0}, "breaker_failures"),
        ({"breaker_failures": 2.5}, "breaker_failures"),
        ({"breaker_failures": True}, "breaker_failures"),
        ({"breaker_cooldown": 0}, "breaker_cooldown"),
        ({"clock": 3}, "clock"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        RedisStore(Redis(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("client", [object(), "redis://localhost", SyncRedis()])
def test_only_an_asyncio_client_is_accepted(client: object) -> None:
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        RedisStore(client)


def test_repr_says_what_it_holds() -> None:
    text = repr(RedisStore(Redis(), prefix="rl"))
    assert "prefix='rl'" in text


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_every_script_is_shipped_with_its_header(algorithm: Algorithm) -> None:
    text = source(algorithm).decode()
    assert "-- KEYS[i]" in text
    assert "-- ARGV" in text
    assert "-- returns" in text
    assert text.rstrip().endswith("return decide(step, account)")


def test_rates_beyond_exact_lua_arithmetic_are_refused_when_the_limiter_is_made() -> None:
    store = RedisStore(Redis())
    with pytest.raises(ValueError, match="too fine"):
        Limiter(Rate(9_999_991, 1), store=store)
    with pytest.raises(ValueError, match="800,000,000"):
        Limiter(Rate(10**9, 86400 * 365), algorithm="sliding_window_counter", store=store)
    with pytest.raises(ValueError, match="1,000,000 units"):
        Limiter(Rate(1_000_001, 3600), algorithm="sliding_window_log", store=store)
    with pytest.raises(ValueError, match="2\\^51"):
        Limiter(Rate(10, 86400 * 365 * 80), algorithm="fixed_window", store=store)
    with pytest.raises(ValueError, match="too fine"):
        Limiter(Rate(9_999_991, 1), store=store, on_error="allow")  # not a store failure to fail open on


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window_counter"])
@pytest.mark.parametrize("rate", ["200000/day", "10000/30d", "1000000/7d", "799999999/365d"])
def test_daily_weekly_and_monthly_quotas_are_accepted(algorithm: str, rate: str) -> None:
    Limiter(rate, algorithm=algorithm, store=RedisStore(Redis()))


def test_a_sliding_log_of_a_million_per_window_is_accepted() -> None:
    Limiter("1000000/hour", algorithm="sliding_window_log", store=RedisStore(Redis()))
