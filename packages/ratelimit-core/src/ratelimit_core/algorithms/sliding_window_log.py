"""Sliding window log: exact; never more than ``limit`` units in any ``period``.

Each admitted unit is logged with its time; a unit logged at ``t`` counts
while ``now - period < t``. A hit is admitted when the units still counting
plus its cost fit in ``limit``. Denied hits are not logged. Memory is
O(limit) per key: at most ``limit`` live timestamps.

State: a list whose item 0 is the index of the oldest live timestamp and whose
other items are timestamps (µs), oldest first. ``step`` only reads it and
returns a write, ``(first_live, now, cost, future)``; :meth:`SlidingWindowLog.apply`
carries the write out in place, so a busy key costs O(1) amortized per hit
instead of a copy of its whole log.

Timestamps after ``now`` (the clock went back) are read as ``now``, and that
reading is written back (from index ``future`` on) even by a denial: the log
stays in order, a client waits at most ``period``, and a ``retry_after`` given
then comes true.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.rate import Rate

__all__ = ["SlidingWindowLog"]

#: ``[first_live_index, t1, t2, ...]``
Log = list[int]
#: ``(first_live_index, now, cost, first_future_index)``
LogWrite = tuple[int, int, int, int]

_COMPACT_AFTER = 64  # dead timestamps kept before the list is compacted


@dataclass(frozen=True, slots=True)
class SlidingWindowLog:
    """The sliding log arithmetic for one rate."""

    rate: Rate
    limit: int
    period: int  # µs

    @classmethod
    def for_rate(cls, rate: Rate) -> SlidingWindowLog:
        return cls(rate, rate.limit, rate.period_us)

    def step(self, log: Log | None, now: int, cost: int) -> Step[LogWrite]:
        """Admit ``cost`` units at ``now`` (µs) against ``log``, or deny. Reads ``log`` only."""
        if log is None:
            log, first, future = [1], 1, 1
        else:
            first = log[0]
            # Timestamps after now can only come from a clock that went back.
            future = len(log) if log[-1] <= now else bisect_right(log, now, first)
        first = bisect_right(log, now - self.period, first)
        held = len(log) - first
        repair = None if future == len(log) else (first, now, 0, future)
        reset = min(log[-1], now) + self.period - now if held else 0
        if held + cost <= self.limit:
            if not cost:
                return True, repair, self.limit - held, reset, 0
            return True, (first, now, cost, future), self.limit - held - cost, self.period, 0
        if cost > self.limit:
            return False, repair, self.limit - held, reset, None
        # The oldest ``held + cost - limit`` units must leave the window first.
        oldest = min(log[first + held + cost - self.limit - 1], now)
        return False, repair, self.limit - held, reset, oldest + self.period - now

    def apply(self, log: Log | None, write: LogWrite) -> Log:
        """Carry out a write from :meth:`step` on ``log`` (in place) and return the log to keep."""
        first, now, cost, future = write
        if log is None:
            return [1, *(now,) * cost]
        if future < len(log):
            log[future:] = (now,) * (len(log) - future)
        if first > _COMPACT_AFTER and first * 2 > len(log):
            del log[1:first]
            first = 1
        log[0] = first
        log.extend((now,) * cost)
        return log

    def expires_at(self, log: Log) -> int:
        """The microsecond at which the newest unit in ``log`` leaves the window."""
        return log[-1] + self.period if len(log) > log[0] else 0
