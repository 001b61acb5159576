from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit_core import Rate, parse_rates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/second", Rate(10, 1)),
        ("10/s", Rate(10, 1)),
        ("10/sec", Rate(10, 1)),
        ("100 per minute", Rate(100, 60)),
        ("100 PER Minute", Rate(100, 60)),
        ("5/30s", Rate(5, 30)),
        ("1000/hour", Rate(1000, 3600)),
        ("1000/1h", Rate(1000, 3600)),
        ("10/day", Rate(10, 86400)),
        ("3/2 minutes", Rate(3, 120)),
        ("7/0.5s", Rate(7, 0.5)),
        ("20/250ms", Rate(20, 0.25)),
        ("  100/minute  ", Rate(100, 60)),
        ("100/minute burst=150", Rate(100, 60, burst=150)),
        ("100/minute burst 150", Rate(100, 60, burst=150)),
    ],
)
def test_parse_accepts_the_documented_forms(text: str, expected: Rate) -> None:
    assert Rate.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "10", "ten/second", "10/", "10/fortnight", "-1/second", "10//s", "10/second extra", "0/second", "1/0s"],
)
def test_parse_rejects_bad_text_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="rate") as info:
        Rate.parse(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"limit": 0, "period": 1}, "limit"),
        ({"limit": -5, "period": 1}, "limit"),
        ({"limit": 1.5, "period": 1}, "limit"),
        ({"limit": True, "period": 1}, "limit"),
        ({"limit": 1, "period": 0}, "period"),
        ({"limit": 1, "period": -1}, "period"),
        ({"limit": 1, "period": math.inf}, "period"),
        ({"limit": 1, "period": math.nan}, "period"),
        ({"limit": 1, "period": 1e-9}, "period"),
        ({"limit": 1, "period": "60"}, "period"),
        ({"limit": 1, "period": 1, "burst": 0}, "burst"),
        ({"limit": 1, "period": 1, "burst": 2.0}, "burst"),
    ],
)
def test_invalid_rate_is_a_value_error_naming_the_value(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word) as info:
        Rate(**kwargs)  # type: ignore[arg-type]
    assert repr(kwargs[word]) in str(info.value)


def test_rate_is_frozen_and_hashable() -> None:
    rate = Rate(10, 1)
    with pytest.raises(AttributeError):
        rate.limit = 3  # type: ignore[misc]
    assert {rate, Rate(10, 1.0)} == {rate}
    assert Rate(10, 1).capacity == 10
    assert Rate(10, 1, burst=3).capacity == 3
    assert Rate(3, 0.5).period_us == 500_000


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Rate(100, 60), "100/minute"),
        (Rate(10, 1), "10/second"),
        (Rate(5, 30), "5/30s"),
        (Rate(1000, 3600), "1000/hour"),
        (Rate(2, 86400), "2/day"),
        (Rate(7, 0.5), "7/0.5s"),
        (Rate(100, 60, burst=150), "100/minute burst=150"),
    ],
)
def test_str_is_short_and_parses_back(rate: Rate, text: str) -> None:
    assert str(rate) == text
    assert Rate.parse(str(rate)) == rate


@given(
    limit=st.integers(1, 10**9),
    period=st.floats(1e-6, 1e7, allow_nan=False, allow_infinity=False) | st.integers(1, 10**7),
    burst=st.none() | st.integers(1, 10**9),
)
def test_str_parses_back_to_an_equal_rate(limit: int, period: float, burst: int | None) -> None:
    rate = Rate(limit, period, burst)
    assert Rate.parse(str(rate)) == rate


def test_parse_rates_splits_on_semicolons_and_commas() -> None:
    expected = (Rate(10, 1), Rate(1000, 3600))
    assert parse_rates("10/second; 1000/hour") == expected
    assert parse_rates("10/second, 1000/hour") == expected
    assert parse_rates(["10/second", Rate(1000, 3600)]) == expected
    assert parse_rates(Rate(10, 1)) == (Rate(10, 1),)


@pytest.mark.parametrize("bad", ["", " ; ", [], "10/second; nonsense"])
def test_parse_rates_rejects_empty_or_bad(bad: str | list[str]) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rates(bad)


def test_parse_rates_rejects_other_types() -> None:
    with pytest.raises(ValueError, match="42"):
        parse_rates(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("period", [10**400, -(10**400)])
def test_a_period_too_large_for_a_float_is_a_value_error(period: int) -> None:
    with pytest.raises(ValueError, match="period"):
        Rate(1, period)
