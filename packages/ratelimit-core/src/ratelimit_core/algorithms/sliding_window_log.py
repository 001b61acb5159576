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

``charge`` logs ``cost`` units at ``now``, past ``limit`` if need be: hits then
wait until enough of them have left the window. The log keeps at most
``limit`` units in the window, the newest: the older ones of an overdraft are
dropped, which changes no hit's decision (while ``limit`` newer units are in
the window, no hit fits anyway) and bounds the log. ``refund`` removes the
newest ``cost`` units still in the window (a write with a negative cost); after
an overdraft it gives back from the ``limit`` units kept.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.rate import Rate

__all__ = ["SlidingWindowLog"]

#: ``[first_live_index, t1, t2, ...]``
Log = list[int]
#: ``(first_live_index, now, cost, first_future_index)``: log ``cost`` units at
#: ``now`` (or, when ``cost`` is negative, remove the newest ``-cost`` live ones).
LogWrite = tuple[int, int, int, int]

_COMPACT_AFTER = 64  # dead timestamps kept before the list is compacted


@dataclass(frozen=True, slots=True)
class SlidingWindowLog:
    """The sliding log arithmetic for one rate.

    Attributes:
        rate: The rate.
        limit: Units per window.
        period: The window's length in microseconds.
    """

    rate: Rate
    limit: int
    period: int

    @classmethod
    def for_rate(cls, rate: Rate) -> SlidingWindowLog:
        return cls(rate, rate.limit, rate.period_us)

    def step(self, log: Log | None, now: int, cost: int) -> Step[LogWrite]:
        """Admit ``cost`` units at ``now`` (µs) against ``log``, or deny. Reads ``log`` only."""
        log, first, future = self._read(log, now)
        held = len(log) - first
        repair = None if future == len(log) else (first, now, 0, future)
        reset = min(log[-1], now) + self.period - now if held else 0
        remaining = max(0, self.limit - held)
        if not cost:  # always admitted, even in an overdraft
            return True, repair, remaining, reset, 0
        if held + cost <= self.limit:
            return True, (first, now, cost, future), self.limit - held - cost, self.period, 0
        if cost > self.limit:
            return False, repair, remaining, reset, None
        # The oldest ``held + cost - limit`` units must leave the window first.
        oldest = min(log[first + held + cost - self.limit - 1], now)
        return False, repair, remaining, reset, oldest + self.period - now

    def charge(self, log: Log | None, now: int, cost: int) -> LogWrite:
        """The write that logs ``cost`` units at ``now`` (µs), room or not, keeping the newest ``limit``."""
        log, first, future = self._read(log, now)
        logged = min(cost, self.limit)
        # Past the limit, the oldest units in the window are dropped: first moves past them.
        return first + max(0, len(log) - first + logged - self.limit), now, logged, future

    def refund(self, log: Log | None, now: int, cost: int) -> LogWrite | None:
        """The write that removes the newest ``cost`` units still in the window; ``None`` when nothing changes."""
        log, first, future = self._read(log, now)
        if first == len(log):  # nothing in the window
            return None if future == len(log) else (first, now, 0, future)
        return first, now, -cost, future

    def _read(self, log: Log | None, now: int) -> tuple[Log, int, int]:
        """``log`` (an empty one for ``None``), the index of its first live unit, and of its first from the future."""
        if log is None:
            return [1], 1, 1
        # Timestamps after now can only come from a clock that went back.
        future = len(log) if log[-1] <= now else bisect_right(log, now, log[0])
        return log, bisect_right(log, now - self.period, log[0]), future

    def apply(self, log: Log | None, write: LogWrite) -> Log:
        """Carry out a write from :meth:`step` on ``log`` (in place) and return the log to keep.

        ``log`` may be a list or an ``array("q")`` (a store that keeps the log packed).
        """
        first, now, cost, future = write
        if log is None:
            return [1, *(now,) * cost]
        if future < len(log):  # read as now from now on
            moved = len(log) - future
            del log[future:]
            log.extend((now,) * moved)
        if cost < 0:  # a refund: the newest live units go
            del log[max(first, len(log) + cost) :]
        if first > _COMPACT_AFTER and first * 2 > len(log):
            del log[1:first]
            first = 1
        log[0] = first
        if cost > 0:
            log.extend((now,) * cost)
        return log

    def expires_at(self, log: Log) -> int:
        """The microsecond at which the newest unit in ``log`` leaves the window."""
        return log[-1] + self.period if len(log) > log[0] else 0
