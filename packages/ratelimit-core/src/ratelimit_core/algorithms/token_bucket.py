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
        now_t = now * self.scale
        if tat is None or tat < now_t:
            tat = now_t
        new_tat = tat + cost * self.interval
        debt = new_tat - now_t
        if debt <= self.tolerance:
            return (
                True,
                new_tat if cost else None,
                (self.tolerance - debt) // self.interval,
                -(-debt // self.scale),
                0,
            )
        held = tat - now_t
        retry = None if cost > self.capacity else -(-(debt - self.tolerance) // self.scale)
        remaining = max(0, (self.tolerance - held) // self.interval)  # < 0 only if the clock went back
        return False, None, remaining, -(-held // self.scale), retry

    def expires_at(self, tat: int) -> int:
        """The microsecond from which the bucket is full again and ``tat`` can go."""
        return -(-tat // self.scale)
