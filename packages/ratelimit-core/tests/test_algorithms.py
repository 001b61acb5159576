"""Each algorithm's guarantee, checked by hypothesis on random timelines.

The pure ``step`` functions are driven the way a store drives them (keep the
state, write what comes back). Every algorithm must also be *exact* about what
it reports: ``remaining`` units can be taken right away and one more cannot;
``retry_after`` is the first microsecond at which the cost fits; at
``reset_after`` the rate is full again and a microsecond earlier it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_core import Algorithm, Rate
from ratelimit_core.algorithms import AlgorithmMath, applier, math_for

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples

UNIX_US = 1_700_000_000_123_457  # deliberately not aligned to any period


@dataclass
class Event:
    at: int  # µs
    cost: int
    allowed: bool
    remaining: int
    reset: int
    retry: int | None
    state_before: Any


def keep(math: AlgorithmMath, state: Any, write: Any) -> Any:
    """The state a store keeps after a step's write."""
    apply = applier(math)
    return write if apply is None else apply(state, write)


def run(math: AlgorithmMath, timeline: list[tuple[int, int]], start: int = UNIX_US) -> list[Event]:
    """Drive ``math`` through ``(gap_us, cost)`` pairs as a store would."""
    state: Any = None
    now = start
    events = []
    for gap, cost in timeline:
        now += gap
        allowed, new, remaining, reset, retry = math.step(state, now, cost)
        events.append(Event(now, cost, allowed, remaining, reset, retry, state))
        if new is not None:
            state = keep(math, state, new)
    return events


rates = st.builds(
    Rate,
    limit=st.integers(1, 12),
    period=st.sampled_from([1, 0.5, 3, 7, 60, 0.000_003, 1.5]),
)
timelines = st.lists(
    st.tuples(
        st.one_of(st.just(0), st.integers(0, 400_000), st.integers(0, 8_000_000)),
        st.integers(0, 14),
    ),
    min_size=1,
    max_size=60,
)
algorithms = st.sampled_from(list(Algorithm))


def _capacity(math: AlgorithmMath) -> int:
    return math.rate.capacity


# -- what every algorithm reports is exact --------------------------------------


def assert_exact(math: AlgorithmMath, after: Any, now: int, remaining: int, reset: int) -> None:
    """``remaining`` and ``reset`` as reported against ``after``, the state kept after the step."""
    cap = _capacity(math)
    assert 0 <= remaining <= cap
    # remaining: that many fit now, one more does not.
    assert math.step(after, now, remaining)[0]
    assert not math.step(after, now, remaining + 1)[0] or remaining + 1 > cap
    # reset_after: full at that instant, not a microsecond before.
    assert math.step(after, now + reset, 0)[2] == cap
    if reset > 0:
        assert math.step(after, now + reset - 1, 0)[2] < cap


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(algorithm=algorithms, rate=rates, timeline=timelines)
def test_reports_are_exact(algorithm: Algorithm, rate: Rate, timeline: list[tuple[int, int]]) -> None:
    if algorithm is Algorithm.TOKEN_BUCKET:
        rate = Rate(rate.limit, rate.period, burst=max(1, rate.limit - 2))
    math = math_for(algorithm, rate)
    cap = _capacity(math)
    state: Any = None
    now = UNIX_US
    for gap, cost in timeline:
        now += gap
        allowed, new, remaining, reset, retry = math.step(state, now, cost)
        after = keep(math, state, new) if new is not None else state
        assert_exact(math, after, now, remaining, reset)
        if allowed:
            assert retry == 0
            assert (new is None) == (cost == 0)
        else:
            assert new is None, "a denial writes nothing"
            if cost > cap:
                assert retry is None
            else:
                assert retry is not None
                assert retry > 0
                assert math.step(state, now + retry, cost)[0], "admitted at retry_after"
                assert not math.step(state, now + retry - 1, cost)[0], "not a microsecond earlier"
        state = after


# -- token bucket: identical to a continuous bucket in exact arithmetic --------


def fluid_bucket(rate: Rate, timeline: list[tuple[int, int]]) -> list[tuple[bool, int, int, int | None]]:
    """A textbook token bucket with rational tokens: the reference."""
    cap = Fraction(rate.capacity)
    per_us = Fraction(rate.limit, rate.period_us)  # tokens per µs
    tokens, out = cap, []
    for gap, cost in timeline:
        tokens = min(cap, tokens + gap * per_us)
        allowed = cost <= tokens
        if allowed:
            tokens -= cost
        retry = 0 if allowed else (None if cost > cap else ceil((cost - tokens) / per_us))
        out.append((allowed, floor(tokens), ceil((cap - tokens) / per_us), retry))
    return out


@settings(max_examples=EXAMPLES * 400 // 100, deadline=None)
@given(
    limit=st.integers(1, 1000),
    period=st.sampled_from([1, 60, 3600, 0.5, 7, 0.001]),
    burst=st.none() | st.integers(1, 40),
    timeline=timelines,
)
def test_token_bucket_equals_the_exact_continuous_bucket(
    limit: int, period: float, burst: int | None, timeline: list[tuple[int, int]]
) -> None:
    rate = Rate(limit, period, burst)
    got = [(e.allowed, e.remaining, e.reset, e.retry) for e in run(math_for(Algorithm.TOKEN_BUCKET, rate), timeline)]
    assert got == fluid_bucket(rate, timeline)


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(rate=rates, burst=st.none() | st.integers(1, 20), timeline=timelines)
def test_token_bucket_never_admits_more_than_burst_plus_refill(
    rate: Rate, burst: int | None, timeline: list[tuple[int, int]]
) -> None:
    rate = Rate(rate.limit, rate.period, burst)
    admitted = [e for e in run(math_for(Algorithm.TOKEN_BUCKET, rate), timeline) if e.allowed]
    for i, first in enumerate(admitted):
        total = 0
        for last in admitted[i:]:
            total += last.cost
            elapsed = last.at - first.at
            # total <= capacity + limit * elapsed / period, in integers
            assert total * rate.period_us <= rate.capacity * rate.period_us + rate.limit * elapsed


# -- fixed window ----------------------------------------------------------------


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(rate=rates, timeline=timelines)
def test_fixed_window_never_more_than_limit_per_window(rate: Rate, timeline: list[tuple[int, int]]) -> None:
    period = rate.period_us
    window_start: int | None = None
    used = 0
    for e in run(math_for(Algorithm.FIXED_WINDOW, rate), timeline):
        open_window = window_start is not None and e.at < window_start + period
        in_window = used if open_window else 0
        # Admitted exactly when the cost fits in the current window.
        assert e.allowed == (in_window + e.cost <= rate.limit)
        if e.allowed and e.cost:
            if not open_window:
                window_start, used = e.at, 0
            used += e.cost
            assert used <= rate.limit


# -- sliding window log ---------------------------------------------------------


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(rate=rates, timeline=timelines)
def test_sliding_log_never_more_than_limit_in_any_period(rate: Rate, timeline: list[tuple[int, int]]) -> None:
    period = rate.period_us
    admitted: list[tuple[int, int]] = []
    for e in run(math_for(Algorithm.SLIDING_WINDOW_LOG, rate), timeline):
        in_window = sum(cost for at, cost in admitted if at > e.at - period)
        # Exact: admitted if and only if the cost fits in (now - period, now].
        assert e.allowed == (in_window + e.cost <= rate.limit)
        if e.allowed and e.cost:
            admitted.append((e.at, e.cost))
    for at, _ in admitted:
        assert sum(c for t, c in admitted if at - period < t <= at) <= rate.limit


def test_sliding_log_keeps_at_most_limit_timestamps() -> None:
    math = math_for(Algorithm.SLIDING_WINDOW_LOG, Rate(5, 1))
    state: Any = None
    now = UNIX_US
    for _ in range(1000):
        now += 37_000
        new = math.step(state, now, 2)[1]
        if new is not None:
            state = keep(math, state, new)
        assert state is not None
        assert len(state) - state[0] <= 5, "live timestamps"
        assert len(state) - 1 <= 5 + 64 + 2, "dead ones are compacted away"


# -- sliding window counter -----------------------------------------------------


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(rate=rates, timeline=timelines)
def test_sliding_counter_never_more_than_limit_per_aligned_window(rate: Rate, timeline: list[tuple[int, int]]) -> None:
    period = rate.period_us
    per_window: dict[int, int] = {}
    for e in run(math_for(Algorithm.SLIDING_WINDOW_COUNTER, rate), timeline):
        index, elapsed = divmod(e.at, period)
        previous, current = per_window.get(index - 1, 0), per_window.get(index, 0)
        estimate = Fraction(previous * (period - elapsed), period) + current
        # Admitted exactly when the weighted estimate leaves room for the cost.
        assert e.allowed == (estimate + e.cost <= rate.limit)
        if e.allowed:
            per_window[index] = current + e.cost
    assert all(count <= rate.limit for count in per_window.values())


# -- exactness at Unix-time magnitudes ------------------------------------------

LIMITS = [1, 3, 7, 10, 60, 100, 1000]
PERIODS = [1, 60, 3600]


@pytest.mark.parametrize("algorithm", list(Algorithm))
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("limit", LIMITS)
def test_exactly_capacity_at_one_instant(algorithm: Algorithm, limit: int, period: int) -> None:
    math = math_for(algorithm, Rate(limit, period))
    now = (UNIX_US // (period * 1_000_000)) * period * 1_000_000  # start of an aligned window
    state: Any = None
    for k in range(1, limit + 1):
        allowed, new, remaining, _, _ = math.step(state, now, 1)
        assert allowed
        assert remaining == limit - k
        state = keep(math, state, new)
    assert not math.step(state, now, 1)[0]


@pytest.mark.parametrize("burst", [1, 2, 5, 13, 1000])
@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("limit", LIMITS)
def test_token_bucket_exactly_burst_at_one_instant(limit: int, period: int, burst: int) -> None:
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(limit, period, burst=burst))
    state: Any = None
    for k in range(1, burst + 1):
        allowed, new, remaining, _, _ = math.step(state, UNIX_US, 1)
        assert allowed
        assert remaining == burst - k
        state = new
    assert not math.step(state, UNIX_US, 1)[0]


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("limit", LIMITS)
def test_token_bucket_never_denies_a_client_just_slower_than_the_refill(limit: int, period: int) -> None:
    """10,000 requests spaced a hair above period/limit, on a float Unix clock."""
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(limit, period))
    start = UNIX_US / 1_000_000
    gap = period / limit * (1 + 1e-9)
    state: Any = None
    for i in range(10_000):
        now = round((start + i * gap) * 1_000_000)
        allowed, new, *_ = math.step(state, now, 1)
        assert allowed, f"request {i} denied"
        state = new


def test_token_bucket_fractional_interval_is_not_rounded_away() -> None:
    """7/second: the emission interval is 142857.142857... µs."""
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(7, 1, burst=1))
    state: Any = None
    now = UNIX_US
    state = math.step(state, now, 1)[1]
    # One microsecond early for the exact interval: denied, and told to wait 1 µs.
    allowed, _, _, _, retry = math.step(state, now + 142_857, 1)
    assert not allowed
    assert retry == 1
    assert math.step(state, now + 142_858, 1)[0]
    # Requests at exactly i * 1e6/7 µs, rounded up to the clock's microsecond:
    # the exact average rate; one spare token absorbs the sub-µs jitter, forever.
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(7, 1, burst=2))
    state = None
    for i in range(7_000):
        allowed, new, *_ = math.step(state, now + ceil(i * Fraction(1_000_000, 7)), 1)
        assert allowed, i
        state = new


def test_gcra_expiry_is_when_the_bucket_is_full_again() -> None:
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(3, 1))
    state = math.step(None, UNIX_US, 2)[1]
    assert state is not None
    assert math.expires_at(state) == UNIX_US + 666_667
    assert math.step(state, UNIX_US + 666_667, 0)[2] == 3


# -- clocks that step ---------------------------------------------------------------

# Gaps of either sign: the wall clock a server reads can step back (NTP) as well as forward.
stepping_timelines = st.lists(
    st.tuples(
        st.one_of(
            st.just(0),
            st.integers(0, 400_000),
            st.integers(-3_600_000_000, 3_600_000_000),  # steps of up to an hour either way
            st.integers(-9_000_000, 0),
        ),
        st.integers(0, 14),
    ),
    min_size=1,
    max_size=60,
)


def longest_wait(algorithm: Algorithm, rate: Rate) -> int:
    """The longest ``retry_after`` or ``reset_after`` the algorithm gives on a steady clock, in µs."""
    if algorithm is Algorithm.TOKEN_BUCKET:  # the time to refill the whole capacity
        return ceil(Fraction(rate.period_us * rate.capacity, rate.limit))
    if algorithm is Algorithm.SLIDING_WINDOW_COUNTER:  # this window, then the next one it weighs on
        return 2 * rate.period_us
    return rate.period_us


@settings(max_examples=EXAMPLES * 400 // 100, deadline=None)
@given(algorithm=algorithms, rate=rates, timeline=stepping_timelines)
def test_a_clock_that_steps_never_locks_a_client_out(
    algorithm: Algorithm, rate: Rate, timeline: list[tuple[int, int]]
) -> None:
    """After any steps of the clock, every report stays exact and bounded, and a retry_after comes true.

    A state from the future is read as the fullest state valid now; a denial
    writes that reading back, so waiting ``retry_after`` (with no other hit)
    admits the same cost.
    """
    if algorithm is Algorithm.TOKEN_BUCKET:
        rate = Rate(rate.limit, rate.period, burst=rate.limit + 1)
    math = math_for(algorithm, rate)
    bound = longest_wait(algorithm, rate)
    state: Any = None
    now = UNIX_US
    for gap, cost in timeline:
        now += gap
        allowed, new, remaining, reset, retry = math.step(state, now, cost)
        after = keep(math, state, new) if new is not None else state
        assert_exact(math, after, now, remaining, reset)
        assert reset <= bound, f"full again after {reset} µs, beyond {bound}"
        if not allowed and retry is not None:
            assert 0 < retry <= bound, f"locked out for {retry} µs, beyond {bound}"
            assert math.step(after, now + retry, cost)[0], "admitted at retry_after"
            assert not math.step(after, now + retry - 1, cost)[0], "not a microsecond earlier"
        state = after


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_an_hour_back_leaves_a_full_client_waiting_one_period_at_most(algorithm: Algorithm) -> None:
    rate = Rate(3, 60)
    math = math_for(algorithm, rate)
    state: Any = None
    for _ in range(3):
        new = math.step(state, UNIX_US, 1)[1]
        state = keep(math, state, new)
    back = UNIX_US - 3_600_000_000
    allowed, repair, remaining, _reset, retry = math.step(state, back, 1)
    assert not allowed
    assert remaining == 0
    assert repair is not None, "the reading of a state from the future is written back"
    assert retry is not None
    assert retry <= 60_000_000
    state = keep(math, state, repair)
    assert math.step(state, back + retry, 1)[0]


# -- charge and refund: mixed timelines -------------------------------------------
#
# A timeline mixes hits, charges (consumed whatever the room: an overdraft) and
# refunds. For every algorithm: what is reported after any operation is exact;
# a charge of c leaves max(0, remaining - c); a refund of c gives back at most
# c, never beyond full capacity; the admitted total (hits plus charges, less
# refunds) over any window never exceeds the limit plus the overdraft charged
# in that window.

OPS = ("hit", "charge", "refund")


@dataclass
class Op:
    at: int
    kind: str
    cost: int
    done: bool  # a hit admitted, or any charge or refund
    before: int  # remaining before (what a peek says)
    after: int  # remaining after
    window: Any  # the state after, to group by window


def apply(math: AlgorithmMath, state: Any, kind: str, now: int, cost: int) -> tuple[Any, bool]:
    """One operation as a store runs it: the state to keep, and whether it consumed (or gave back)."""
    if kind == "hit":
        allowed, write, *_ = math.step(state, now, cost)
        return (keep(math, state, write) if write is not None else state), allowed
    write = math.refund(state, now, cost) if kind == "refund" else math.charge(state, now, cost)
    return (keep(math, state, write) if write is not None else state), True


def drive(math: AlgorithmMath, timeline: list[tuple[int, str, int]]) -> list[Op]:
    state: Any = None
    now = UNIX_US
    ops = []
    for gap, kind, cost in timeline:
        now += gap
        before = math.step(state, now, 0)[2]
        state, done = apply(math, state, kind, now, cost)
        after = math.step(state, now, 0)[2]
        ops.append(Op(now, kind, cost, done, before, after, state))
        # What a peek of one unit reports afterwards is exact.
        _, _, remaining, reset, retry = math.step(state, now, 1)
        assert_exact(math, state, now, math.step(state, now, 0)[2], math.step(state, now, 0)[3])
        if retry:
            assert math.step(state, now + retry, 1)[0], "a unit fits at retry_after"
            assert not math.step(state, now + retry - 1, 1)[0], "not a microsecond earlier"
        del remaining, reset
    return ops


mixed = st.lists(
    st.tuples(
        st.one_of(st.just(0), st.integers(0, 400_000), st.integers(0, 8_000_000)),
        st.sampled_from(OPS),
        st.integers(0, 30),
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=EXAMPLES * 400 // 100, deadline=None)
@given(algorithm=st.sampled_from(list(Algorithm)), rate=rates, timeline=mixed)
def test_charge_never_asks_and_refund_never_passes_capacity(
    algorithm: Algorithm, rate: Rate, timeline: list[tuple[int, str, int]]
) -> None:
    math = math_for(algorithm, rate)
    for op in drive(math, timeline):
        if op.kind == "charge":
            assert op.after == max(0, op.before - op.cost), "a charge takes exactly its cost from what is left"
        elif op.kind == "refund":
            assert op.before <= op.after <= min(rate.capacity, op.before + op.cost)


def _overdraft(op: Op) -> int:
    return max(0, op.cost - op.before) if op.kind == "charge" else 0


def _consumed(op: Op) -> int:
    if op.kind == "refund":
        return -op.cost
    return op.cost if op.done else 0


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(rate=rates, burst=st.none() | st.integers(1, 20), timeline=mixed)
def test_token_bucket_admits_no_more_than_capacity_refill_and_overdraft(
    rate: Rate, burst: int | None, timeline: list[tuple[int, str, int]]
) -> None:
    rate = Rate(rate.limit, rate.period, burst)
    ops = drive(math_for(Algorithm.TOKEN_BUCKET, rate), timeline)
    for i, first in enumerate(ops):
        total = overdraft = 0
        for last in ops[i:]:
            total += _consumed(last)
            overdraft += _overdraft(last)
            elapsed = last.at - first.at
            # total <= capacity + overdraft + limit * elapsed / period, in integers
            assert total * rate.period_us <= (rate.capacity + overdraft) * rate.period_us + rate.limit * elapsed


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(rate=rates, timeline=mixed)
def test_sliding_log_admits_no_more_than_limit_and_overdraft_in_any_period(
    rate: Rate, timeline: list[tuple[int, str, int]]
) -> None:
    ops = drive(math_for(Algorithm.SLIDING_WINDOW_LOG, rate), timeline)
    for last, end in enumerate(ops):
        inside = [op for op in ops[: last + 1] if end.at - rate.period_us < op.at]
        assert sum(map(_consumed, inside)) <= rate.limit + sum(map(_overdraft, inside))


@settings(max_examples=EXAMPLES * 300 // 100, deadline=None)
@given(
    algorithm=st.sampled_from([Algorithm.FIXED_WINDOW, Algorithm.SLIDING_WINDOW_COUNTER]), rate=rates, timeline=mixed
)
def test_windows_admit_no_more_than_limit_and_overdraft_per_window(
    algorithm: Algorithm, rate: Rate, timeline: list[tuple[int, str, int]]
) -> None:
    ops = drive(math_for(algorithm, rate), timeline)
    by_window: dict[int, list[Op]] = {}
    for op in ops:
        if op.window is None:
            continue
        # The window an operation counted in: its start (fixed) or its aligned index (counter).
        window = op.window[0] if algorithm is Algorithm.FIXED_WINDOW else op.at // rate.period_us
        by_window.setdefault(window, []).append(op)
    for inside in by_window.values():
        assert sum(map(_consumed, inside)) <= rate.limit + sum(map(_overdraft, inside))


def test_a_token_bucket_in_debt_waits_it_out_exactly() -> None:
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(10, 1))  # a unit per 100 ms
    state = math.charge(None, UNIX_US, 25)  # 15 units beyond a full bucket
    assert isinstance(state, tuple), "an overdraft is told apart from a clock that went back"
    allowed, _, remaining, reset, retry = math.step(state, UNIX_US, 1)
    assert (allowed, remaining, reset, retry) == (False, 0, 2_500_000, 1_600_000)
    assert not math.step(state, UNIX_US + 1_599_999, 1)[0]
    assert math.step(state, UNIX_US + 1_600_000, 1)[0]
    # Paid back below the tolerance, it is a bare TAT again.
    assert isinstance(math.step(state, UNIX_US + 1_600_000, 1)[1], int)


def test_a_clock_that_goes_back_is_no_time_passing_for_a_bucket_in_debt() -> None:
    math = math_for(Algorithm.TOKEN_BUCKET, Rate(10, 1))
    state = math.charge(None, UNIX_US, 25)
    back = UNIX_US - 3_600_000_000  # an hour back
    allowed, repair, _, _, retry = math.step(state, back, 1)
    assert not allowed
    assert retry == 1_600_000, "the debt is neither lost nor grown by the step"
    assert math.step(keep(math, state, repair), back + 1_600_000, 1)[0], "and that reading was written back"


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_refund_of_a_fresh_key_writes_nothing(algorithm: Algorithm) -> None:
    assert math_for(algorithm, Rate(5, 1)).refund(None, UNIX_US, 3) is None


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_an_overdraft_is_kept_whole(algorithm: Algorithm) -> None:
    math = math_for(algorithm, Rate(10, 60))
    state = keep(math, None, math.charge(None, UNIX_US, 25))
    assert math.step(state, UNIX_US, 0)[2] == 0
    state = keep(math, state, math.refund(state, UNIX_US, 15))
    assert math.step(state, UNIX_US, 0)[2] == 0, "15 of 25 given back: the key is still empty"
    state = keep(math, state, math.refund(state, UNIX_US, 1))
    assert math.step(state, UNIX_US, 0)[2] == 1


def test_a_sliding_log_keeps_the_newest_limit_units_and_the_rest_as_debt() -> None:
    math = math_for(Algorithm.SLIDING_WINDOW_LOG, Rate(10, 60))
    state = keep(math, None, math.step(None, UNIX_US, 4)[1])
    state = keep(math, state, math.charge(state, UNIX_US + 1_000_000, 25))
    assert len(state) - state[0] == 10, "at most limit timestamps in the window"
    assert set(state[state[0] :]) == {UNIX_US + 1_000_000}, "the newest: the older 4 are debt"
    assert state[1] == 19, "29 units used, 10 kept: 19 owed"
    # No hit fits until all of the charge has left the window, as if all 29 units were kept.
    assert not math.step(state, UNIX_US + 60_999_999, 1)[0]
    assert math.step(state, UNIX_US + 61_000_000, 10)[0]
    state = keep(math, state, math.refund(state, UNIX_US + 2_000_000, 3))
    assert math.step(state, UNIX_US + 2_000_000, 0)[2] == 0, "a refund takes back debt first: 26 still used"
    state = keep(math, state, math.refund(state, UNIX_US + 2_000_000, 17))
    assert math.step(state, UNIX_US + 2_000_000, 0)[2] == 1, "16 owed, 17 given back: one timestamp goes"
    # Once the oldest timestamp kept with it has left the window, a debt is void (its units have too).
    state = keep(math, None, math.charge(None, UNIX_US, 25))
    assert math.step(state, UNIX_US + 60_000_000, 0)[2] == 10
    assert math.refund(state, UNIX_US + 60_000_000, 5) is None, "nothing left to give back"
