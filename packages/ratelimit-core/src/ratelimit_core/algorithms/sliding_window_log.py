"""Sliding window log: exact; never more than ``limit`` units in any ``period``.

Each admitted unit is logged with its time; a unit logged at ``t`` counts
while ``now - period < t``. A hit is admitted when the units still counting
plus its cost fit in ``limit``. Denied hits are not logged. Memory is
O(limit) per key: at most ``limit`` timestamps.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.rate import Rate

__all__ = ["SlidingWindowLog"]

#: One timestamp (µs) per admitted unit, oldest first.
Log = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SlidingWindowLog:
    """The sliding log arithmetic for one rate."""

    rate: Rate
    limit: int
    period: int  # µs

    @classmethod
    def for_rate(cls, rate: Rate) -> SlidingWindowLog:
        return cls(rate, rate.limit, rate.period_us)

    def step(self, log: Log | None, now: int, cost: int) -> Step[Log]:
        """Admit ``cost`` units at ``now`` (µs) against ``log``, or deny."""
        if not log:
            log = ()
        elif now < log[-1]:
            now = log[-1]  # the clock went back: never log out of order
        gone = bisect_right(log, now - self.period)
        held = len(log) - gone
        if held + cost <= self.limit:
            if not cost:
                return True, None, self.limit - held, log[-1] + self.period - now if held else 0, 0
            return True, log[gone:] + (now,) * cost, self.limit - held - cost, self.period, 0
        reset = log[-1] + self.period - now if held else 0
        if cost > self.limit:
            return False, None, self.limit - held, reset, None
        # The oldest ``held + cost - limit`` units must leave the window first.
        return False, None, self.limit - held, reset, log[gone + held + cost - self.limit - 1] + self.period - now

    def expires_at(self, log: Log) -> int:
        """The microsecond at which the newest unit in ``log`` leaves the window."""
        return log[-1] + self.period if log else 0
