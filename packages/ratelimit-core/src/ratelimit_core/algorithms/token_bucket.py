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

__all__ = ["TokenBucket"]


@dataclass(frozen=True, slots=True)
class TokenBucket:
    """The GCRA arithmetic for one rate; state is the TAT in ticks (an int)."""

    rate: Rate
    scale: int  # ticks per microsecond
    interval: int  # ticks per unit (the emission interval)
    capacity: int  # units that fit at one instant
    tolerance: int  # capacity * interval: the most debt a hit may leave

    @classmethod
    def for_rate(cls, rate: Rate) -> TokenBucket:
        period_us = rate.period_us
        common = gcd(period_us, rate.limit)
        interval = period_us // common
        capacity = rate.capacity
        return cls(rate, rate.limit // common, interval, capacity, capacity * interval)

    def step(self, tat: int | None, now: int, cost: int) -> Step[int]:
        """Admit ``cost`` units at ``now`` (µs) against state ``tat``, or deny."""
        scale, interval, tolerance = self.scale, self.interval, self.tolerance
        if scale != 1:
            now *= scale
        repair = None
        if tat is None or tat < now:
            tat = now
        elif tat > now + tolerance:  # from the future: the clock went back
            tat = repair = now + tolerance
        debt = tat - now + cost * interval  # owed after this hit, in ticks
        if debt <= tolerance:
            reset = debt if scale == 1 else -(-debt // scale)
            return True, tat + cost * interval if cost else repair, (tolerance - debt) // interval, reset, 0
        held = tat - now  # owed now
        if cost > self.capacity:  # noqa: SIM108 - one expression would be unreadable
            retry = None
        else:
            retry = debt - tolerance if scale == 1 else -(-(debt - tolerance) // scale)
        return False, repair, (tolerance - held) // interval, held if scale == 1 else -(-held // scale), retry

    def expires_at(self, tat: int) -> int:
        """The microsecond from which the bucket is full again and ``tat`` can go."""
        return -(-tat // self.scale)
