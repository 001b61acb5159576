"""Token bucket as GCRA: one theoretical arrival time (TAT) of state.

Guarantee: over any interval of length ``t`` seconds starting from a full
bucket, at most ``capacity + limit * t / period`` units are admitted, and a
client whose requests are spaced at least ``period / limit`` apart is never
denied. The bucket starts full; a denial writes nothing.

Time is kept in integer *ticks*: ``scale`` ticks per microsecond, where
``scale`` is the smallest factor that makes the emission interval
(``period / limit``) a whole number of ticks. For every rate whose period in
microseconds is a multiple of its limit (``100/minute``, ``1000/hour``,
``10/second``) a tick is one microsecond. No rounding happens anywhere, so no
fractional refill is lost and a burst of exactly ``capacity`` fits at one
instant, at any clock magnitude.

A clock that steps back (NTP on the wall clock a server reads) can leave a TAT
further ahead of ``now`` than any admitted hit can: such a state is read as
the fullest valid one, ``now + tolerance`` (an empty bucket), and that reading
is written back even by a denial, so that a ``retry_after`` given then comes
true. A client is never locked out for longer than the bucket takes to refill.

``charge`` consumes without asking (the work was done): the debt may pass
``tolerance``, and hits then wait until it is paid back, exactly. A debt
saturates at :data:`MAX_DEBT` ticks (2^52): a larger charge leaves that debt
and never raises. A bucket in
such an overdraft holds ``(tat, written_at_us)`` instead of the bare TAT, so
that its debt is never taken for a clock that went back; when the clock is
found before ``written_at``, no time is read as having passed since then (and
that reading is written back). ``refund`` moves the TAT back by ``cost``
intervals, never before ``now``; given ``until``, the TAT the units' hit left
(a reservation's), it gives back only what of them still weighs: the part of
their intervals after ``now``. What the bucket refilled since is not given
back a second time.

Mapping to GCRA terms: emission interval ``T = period / limit``; the delay
variation tolerance is ``tau = (capacity - 1) * T``. A unit arriving at ``t``
is admitted when ``max(TAT, t) + T - t <= tau + T``, i.e. when the debt after
the hit is at most ``capacity * T`` (``tolerance`` here).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

from ratelimit_core.algorithms.step import Step
from ratelimit_core.rate import Rate

__all__ = ["MAX_DEBT", "TokenBucket", "TokenBucketState"]

#: The most debt (ticks) a bucket holds: a charge beyond it saturates there (142 years at a tick per
#: µs). Every store computes with it exactly: the Redis store's Lua numbers are doubles, and a debt
#: plus a capacity of ticks (at most 2^52 too, see ``ratelimit_redis``) stays within 2^53.
MAX_DEBT = 2**52

#: The TAT in ticks; in overdraft, ``(tat, written_at_us)``.
TokenBucketState = int | tuple[int, int]


@dataclass(frozen=True, slots=True)
class TokenBucket:
    """The GCRA arithmetic for one rate; state is the TAT in ticks (an int), see the module.

    Public, for stores that run the arithmetic elsewhere (the Redis store's Lua
    takes these four integers):

    Attributes:
        rate: The rate.
        scale: Ticks per microsecond, the smallest that makes ``interval`` whole.
        interval: Ticks per unit (the emission interval ``period / limit``).
        capacity: Units that fit at one instant (the burst, or the limit).
        tolerance: ``capacity * interval``: the most debt a hit may leave.
    """

    rate: Rate
    scale: int
    interval: int
    capacity: int
    tolerance: int

    @classmethod
    def for_rate(cls, rate: Rate) -> TokenBucket:
        period_us = rate.period_us
        common = gcd(period_us, rate.limit)
        interval = period_us // common
        capacity = rate.capacity
        return cls(rate, rate.limit // common, interval, capacity, capacity * interval)

    def step(self, state: TokenBucketState | None, now: int, cost: int) -> Step[TokenBucketState]:
        """Admit ``cost`` units at ``now`` (µs) against ``state``, or deny."""
        scale, interval, tolerance = self.scale, self.interval, self.tolerance
        ticks = now * scale if scale != 1 else now
        repair = False  # the state was read from the future: write that reading back, even on a denial
        if isinstance(state, int):  # the bare TAT: the common case first
            held = state - ticks  # ticks owed now
            if held < 0:
                held = 0
            elif held > tolerance:  # from the future: the clock went back
                held, repair = tolerance, True
        elif state is None:
            held = 0
        else:  # in overdraft: (tat, written_at)
            held, repair = self._held(state, now, ticks)
        debt = held + cost * interval  # owed after this hit
        if debt <= tolerance:
            reset = debt if scale == 1 else (debt + scale - 1) // scale  # ticks to µs, rounded up
            write: TokenBucketState | None = ticks + debt if cost or repair else None
            return True, write, (tolerance - debt) // interval, reset, 0
        if not cost:  # always admitted, even in an overdraft
            write = self._written(ticks + held, ticks, now) if repair else None
            return True, write, 0, held if scale == 1 else (held + scale - 1) // scale, 0
        if cost > self.capacity:
            retry = None
        else:
            retry = debt - tolerance if scale == 1 else (debt - tolerance + scale - 1) // scale
        remaining = (tolerance - held) // interval if held <= tolerance else 0
        write = self._written(ticks + held, ticks, now) if repair else None
        return False, write, remaining, held if scale == 1 else (held + scale - 1) // scale, retry

    def charge(self, state: TokenBucketState | None, now: int, cost: int) -> TokenBucketState:
        """The state after ``cost`` units are consumed at ``now`` (µs), room or not, saturating at :data:`MAX_DEBT`."""
        ticks = now * self.scale
        held = 0 if state is None else self._held(state, now, ticks)[0]
        debt = held + cost * self.interval
        if debt > MAX_DEBT:
            debt = max(held, MAX_DEBT)
        return self._written(ticks + debt, ticks, now)

    def refund(
        self, state: TokenBucketState | None, now: int, cost: int, until: int | None = None
    ) -> TokenBucketState | None:
        """The state after ``cost`` units are given back at ``now`` (µs); ``None`` when there is none.

        ``until`` is when the units stop weighing (µs): the time of the hit that
        consumed them plus its ``reset_after``, the TAT it left. Only what of
        them lies after ``now`` is given back.
        """
        if state is None:
            return None
        ticks = now * self.scale
        give = cost * self.interval
        if until is not None:
            # What of them lies after now: the TAT the hit left, in ticks (rounded down: reset_after was
            # rounded up to the µs), less now.
            give = min(give, max(0, (until - 1 - now) * self.scale + 1))
        held = max(0, self._held(state, now, ticks)[0] - give)
        return self._written(ticks + held, ticks, now)

    def _held(self, state: TokenBucketState, now: int, ticks: int) -> tuple[int, bool]:
        """The ticks ``state`` owes at ``now``, and whether that reading must be written back."""
        if isinstance(state, tuple):
            tat, written = state
            if now < written:  # the clock went back: no time has passed since the write
                return max(0, tat - written * self.scale), True
            return max(0, tat - ticks), False
        if state - ticks > self.tolerance:  # from the future: the clock went back
            return self.tolerance, True
        return max(0, state - ticks), False

    def _written(self, tat: int, ticks: int, now: int) -> TokenBucketState:
        """The state to keep for ``tat``: the bare TAT, or ``(tat, now)`` in overdraft."""
        return tat if tat - ticks <= self.tolerance else (tat, now)

    def expires_at(self, state: TokenBucketState) -> int:
        """The microsecond from which the bucket is full again and ``state`` can go."""
        tat = state[0] if isinstance(state, tuple) else state
        return (tat + self.scale - 1) // self.scale
