"""RedisStore construction and its scripts; behaviour against a real server is in tests-integration."""

from __future__ import annotations

import math

import pytest
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
        ({"clock": 3}, "clock"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        RedisStore(Redis(), **kwargs)  # type: ignore[arg-type]


def test_a_client_is_required() -> None:
    with pytest.raises(ValueError, match="client"):
        RedisStore(object())


def test_repr_says_what_it_holds() -> None:
    text = repr(RedisStore(Redis(), prefix="rl", deny_cache=True))
    assert "prefix='rl'" in text
    assert "deny_cache=True" in text


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_every_script_is_shipped_with_its_header(algorithm: Algorithm) -> None:
    text = source(algorithm).decode()
    assert "-- KEYS[i]" in text
    assert "-- ARGV" in text
    assert "-- returns" in text
    assert text.rstrip().endswith("return decide(step)")


def test_rates_beyond_exact_lua_arithmetic_are_refused_when_the_limiter_is_made() -> None:
    store = RedisStore(Redis())
    with pytest.raises(ValueError, match="too fine"):
        Limiter(Rate(9_999_991, 1), store=store)
    with pytest.raises(ValueError, match="2\\^53"):
        Limiter(Rate(10**9, 86400 * 365), algorithm="sliding_window_counter", store=store)
    with pytest.raises(ValueError, match="too fine"):
        Limiter(Rate(9_999_991, 1), store=store, on_error="allow")  # not a store failure to fail open on
