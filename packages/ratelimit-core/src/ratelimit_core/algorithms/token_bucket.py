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
        scale, interval, tolerance = self.scale, self.interval, self.tolerance
        if scale != 1:
            now *= scale
        if tat is None or tat < now:
            tat = now
        debt = tat - now + cost * interval  # owed after this hit, in ticks
        if debt <= tolerance:
            reset = debt if scale == 1 else -(-debt // scale)
            return True, tat + cost * interval if cost else None, (tolerance - debt) // interval, reset, 0
        held = tat - now  # owed now
        remaining = (tolerance - held) // interval
        if remaining < 0:  # noqa: PLR1730 - cheaper than max() here; only if the clock went back
            remaining = 0
        if cost > self.capacity:  # noqa: SIM108 - one expression would be unreadable
            retry = None
        else:
            retry = debt - tolerance if scale == 1 else -(-(debt - tolerance) // scale)
        return False, None, remaining, held if scale == 1 else -(-held // scale), retry

    def expires_at(self, tat: int) -> int:
        """The microsecond from which the bucket is full again and ``tat`` can go."""
        return -(-tat // self.scale)
