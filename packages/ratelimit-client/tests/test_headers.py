"""Every header format read exactly from the vendors' documented shapes, and hostile values never raised."""

from __future__ import annotations

import math
from email.utils import formatdate

from hypothesis import given
from hypothesis import strategies as st
from ratelimit_client import Quota, Reading, read

NOW = 1_700_000_000.0
MAX = 600.0


def quota(reading: Reading, name: str) -> Quota:
    return next(q for q in reading.quotas if q.name == name)


def test_retry_after_in_seconds_or_an_http_date_pauses_a_429_or_a_503_only() -> None:
    assert read(429, [("Retry-After", "2")], now=NOW, max_wait=MAX).pause == 2.0
    date = formatdate(NOW + 30, usegmt=True)
    assert read(503, [("retry-after", date)], now=NOW, max_wait=MAX).pause == 30.0
    assert read(429, [("retry-after-ms", "1500")], now=NOW, max_wait=MAX).pause == 1.5
    assert read(200, [("Retry-After", "2")], now=NOW, max_wait=MAX).pause is None
    past = formatdate(NOW - 30, usegmt=True)
    assert read(429, [("Retry-After", past)], now=NOW, max_wait=MAX).pause == 0.0


def test_the_ietf_fields_give_each_policy_its_limit_window_remaining_and_reset() -> None:
    reading = read(
        200,
        [("RateLimit-Policy", '"burst";q=100;w=60, "day";q=1000;w=86400'), ("RateLimit", '"burst";r=0;t=12')],
        now=NOW,
        max_wait=MAX,
    )
    assert quota(reading, "burst") == Quota("burst", limit=100, window=60, remaining=0, reset=12)
    assert quota(reading, "day") == Quota("day", limit=1000, window=86400)
    assert reading.pause == 12, "nothing left until the reset: a pause, whatever the status"


def test_legacy_resets_are_dates_unix_times_or_deltas() -> None:
    github = [("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", str(int(NOW) + 90))]
    reading = read(403, [*github, ("x-ratelimit-resource", "core")], now=NOW, max_wait=MAX)
    assert quota(reading, "core") == Quota("core", limit=5000, remaining=0, reset=90)
    assert reading.pause == 90
    assert quota(read(200, [("X-RateLimit-Reset", "42")], now=NOW, max_wait=MAX), "default").reset == 42
    dated = read(200, [("X-RateLimit-Reset", formatdate(NOW + 7, usegmt=True))], now=NOW, max_wait=MAX)
    assert quota(dated, "default").reset == 7


def test_openai_durations_and_anthropic_rfc3339_resets() -> None:
    openai = [
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]
    reading = read(200, openai, now=NOW, max_wait=MAX)
    assert quota(reading, "requests") == Quota("requests", limit=60, remaining=59, reset=1.0)
    assert quota(reading, "tokens").reset == 360.0
    assert reading.pause == 360.0
    assert quota(read(200, [("x-ratelimit-reset-tokens", "12ms")], now=NOW, max_wait=MAX), "tokens").reset == 0.012
    anthropic = [
        ("anthropic-ratelimit-input-tokens-limit", "40000"),
        ("anthropic-ratelimit-input-tokens-remaining", "0"),
        ("anthropic-ratelimit-input-tokens-reset", "2023-11-14T22:13:40Z"),  # NOW + 20
    ]
    reading = read(200, anthropic, now=NOW, max_wait=MAX)
    assert quota(reading, "input-tokens") == Quota("input-tokens", limit=40000, remaining=0, reset=20.0)


def test_waits_are_capped_and_unreadable_or_disagreeing_headers_are_named_not_raised() -> None:
    assert read(429, [("Retry-After", "99999999")], now=NOW, max_wait=MAX).pause == MAX
    reading = read(
        429,
        [("Retry-After", "-1"), ("x-ratelimit-limit", "lots"), ("x-ratelimit-reset-tokens", "6 minutes")],
        now=NOW,
        max_wait=MAX,
    )
    assert reading.pause is None
    assert set(reading.malformed) == {"retry-after", "x-ratelimit-limit", "x-ratelimit-reset-tokens"}
    twice = read(429, [("Retry-After", "1"), ("Retry-After", "50")], now=NOW, max_wait=MAX)
    assert twice.pause is None
    assert twice.malformed == ("retry-after",)
    naive = read(200, [("anthropic-ratelimit-tokens-reset", "2023-11-14T22:14:20")], now=NOW, max_wait=MAX)
    assert naive.malformed == ("anthropic-ratelimit-tokens-reset",)
    inner = read(200, [("RateLimit", '("a" "b");r=1')], now=NOW, max_wait=MAX)
    assert inner.malformed == ("ratelimit",)
    other = read(200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Anything", "1")], now=NOW, max_wait=MAX)
    assert other.malformed == (), "only the fields it reads are judged, and named"


NAMES = st.sampled_from(
    [
        "Retry-After",
        "retry-after-ms",
        "RateLimit",
        "RateLimit-Policy",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "x-ratelimit-resource",
        "x-ratelimit-reset-requests",
        "x-ratelimit-remaining-tokens",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-requests-remaining",
    ]
)
HOSTILE = st.one_of(
    st.text(max_size=60),
    st.integers(-(10**40), 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-0", "1e309", "0x10", " 5 ", '"default";r=-1', '"a";q=1;w=?1', ":AA==:"]),
    st.integers(0, 10**5).map(lambda n: f'"p";q={n};w={n}, "p";r={n};t={n}'),
)


@given(status=st.sampled_from([200, 403, 429, 503]), headers=st.lists(st.tuples(NAMES, HOSTILE), max_size=8))
def test_hostile_headers_never_raise_and_every_wait_stays_within_max_wait(
    status: int, headers: list[tuple[str, str]]
) -> None:
    reading = read(status, headers, now=NOW, max_wait=MAX)
    assert set(reading.malformed) <= {name.lower() for name, _ in headers}
    if reading.pause is not None:
        assert 0 <= reading.pause <= MAX
    for found in reading.quotas:
        assert found.reset is None or 0 <= found.reset <= MAX
        assert found.limit is None or 0 <= found.limit < 10**15
        assert found.remaining is None or 0 <= found.remaining < 10**15
        assert found.window is None or math.isfinite(found.window)
