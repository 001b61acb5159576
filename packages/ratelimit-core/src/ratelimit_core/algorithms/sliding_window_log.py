"""Sliding window log: exact; never more than ``limit`` units in any ``period``.

Each admitted unit is logged with its time; a unit logged at ``t`` counts
while ``now - period < t``. A hit is admitted when the units still counting
plus its cost fit in ``limit``. Denied hits are not logged. Memory is
O(limit) per key: at most ``limit`` live timestamps.

State: a list ``[first, debt, t, t, ...]``: item 0 is the index of the oldest
live timestamp, item 1 the overdraft's debt (below), and the other items are
timestamps (µs), oldest first. ``step`` only reads it and returns a write, a
:data:`LogWrite`; :meth:`SlidingWindowLog.apply` carries the write out in
place, so a busy key costs O(1) amortized per hit instead of a copy of its
whole log.

Timestamps after ``now`` (the clock went back) are read as ``now``, and that
reading is written back (from index ``future`` on) even by a denial: the log
stays in order, a client waits at most ``period``, and a ``retry_after`` given
then comes true.

``charge`` logs ``cost`` units at ``now``, past ``limit`` if need be: hits then
wait until enough of them have left the window. The log keeps at most
``limit`` timestamps, the newest; the units of an overdraft beyond them are its
*debt*, a count. Every unit of the debt is no newer than the oldest timestamp
kept, so the debt is void once that timestamp leaves the window, and until
then the log is full and no hit fits: the debt changes no hit's decision, it
only keeps refunds honest. It saturates at :data:`MAX_DEBT`.

``refund`` takes back debt first, then removes timestamps still in the window:
the newest ``cost`` of them, or, given ``until`` (the time of the hit that
logged the units plus its ``reset_after``, which is ``period``), up to
``cost`` of those logged at that hit's time. Units that have left the window
are not given back.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.algorithms.window import Window

__all__ = ["HEAD", "MAX_DEBT", "Log", "LogWrite", "SlidingWindowLog"]

#: ``[first_live_index, debt, t1, t2, ...]``
Log = list[int]
#: ``(first_live_index, now, cost, first_future_index, debt, cut)``: log ``cost`` units at ``now``,
#: or, when ``cost`` is negative, remove ``-cost`` timestamps from index ``cut`` on; keep ``debt``.
LogWrite = tuple[int, int, int, int, int, int]

#: Items before the first timestamp: the first live index and the debt.
HEAD = 2
#: The most debt a log holds: a charge beyond it saturates there (every store holds it exactly).
MAX_DEBT = 2**53 - 1

_COMPACT_AFTER = 64  # dead timestamps kept before the list is compacted
_COMPACT_AT = HEAD + _COMPACT_AFTER


@dataclass(frozen=True, slots=True)
class SlidingWindowLog(Window):
    """The sliding log arithmetic for one rate (``rate``, ``limit``, ``period`` in µs: see :class:`Window`)."""

    def step(self, log: Log | None, now: int, cost: int) -> Step[LogWrite]:
        """Admit ``cost`` units at ``now`` (µs) against ``log``, or deny. Reads ``log`` only."""
        log, first, future = self._read(log, now)
        held = len(log) - first
        repair = None if future == len(log) else (first, now, 0, future, _debt(log, first), 0)
        reset = min(log[-1], now) + self.period - now if held else 0
        remaining = max(0, self.limit - held)
        if not cost:  # always admitted, even in an overdraft
            return True, repair, remaining, reset, 0
        if held + cost <= self.limit:  # the log is not full: no debt counts
            return True, (first, now, cost, future, 0, 0), self.limit - held - cost, self.period, 0
        if cost > self.limit:
            return False, repair, remaining, reset, None
        # The oldest ``held + cost - limit`` units must leave the window first (the debt leaves before them).
        oldest = min(log[first + held + cost - self.limit - 1], now)
        return False, repair, remaining, reset, oldest + self.period - now

    def charge(self, log: Log | None, now: int, cost: int) -> LogWrite:
        """The write that logs ``cost`` units at ``now`` (µs), room or not: the newest ``limit`` kept, the rest owed."""
        log, first, future = self._read(log, now)
        debt = _debt(log, first)
        logged = min(cost, self.limit)
        # Past the limit, the oldest timestamps in the window become debt: first moves past them.
        dropped = max(0, len(log) - first + logged - self.limit)
        debt = min(debt + dropped + (cost - logged), MAX_DEBT)
        return first + dropped, now, logged, future, debt, 0

    def refund(self, log: Log | None, now: int, cost: int, until: int | None = None) -> LogWrite | None:
        """The write that gives back up to ``cost`` units: the debt first, then timestamps still in the window.

        Without ``until``, the newest timestamps go; with it, only those logged at
        ``until - period`` (the hit that consumed the units). ``None`` when
        nothing changes.
        """
        log, first, future = self._read(log, now)
        debt = _debt(log, first)
        repair = None if future == len(log) else (first, now, 0, future, debt, 0)
        taken = min(cost, debt)
        cost -= taken
        if until is None:
            cut = max(first, len(log) - cost)
        else:  # the timestamps of the hit, still in the window (not moved by a clock that went back)
            at = until - self.period
            cut = bisect_left(log, at, first, future)
            cost = min(cost, bisect_right(log, at, cut, future) - cut)
        cost = min(cost, len(log) - cut)
        if not taken and cost <= 0:
            return repair
        return first, now, -cost, future, debt - taken, cut

    def _read(self, log: Log | None, now: int) -> tuple[Log, int, int]:
        """``log`` (an empty one for ``None``), the index of its first live unit, and of its first from the future."""
        if log is None:
            return [HEAD, 0], HEAD, HEAD
        # Timestamps after now can only come from a clock that went back. (A log without timestamps ends
        # with its debt, where the search finds nothing after start either.)
        start = log[0]
        future = len(log) if log[-1] <= now else bisect_right(log, now, start)
        return log, bisect_right(log, now - self.period, start), future

    def apply(self, log: Log | None, write: LogWrite) -> Log:
        """Carry out a write from :meth:`step` on ``log`` (in place) and return the log to keep.

        ``log`` may be a list or an ``array("q")`` (a store that keeps the log packed).
        """
        first, now, cost, future, debt, cut = write
        if log is None:
            return [HEAD, debt, *(now,) * cost]
        if future < len(log):  # read as now from now on
            moved = len(log) - future
            del log[future:]
            log.extend((now,) * moved)
        if cost < 0:  # a refund: timestamps from cut on go
            del log[cut : cut - cost]
        if first > _COMPACT_AT and first * 2 > len(log) + HEAD:  # more dead timestamps than live ones
            del log[HEAD:first]
            first = HEAD
        log[0] = first
        log[1] = debt
        if cost > 0:
            log.extend((now,) * cost)
        return log

    def expires_at(self, log: Log) -> int:
        """The microsecond at which the newest unit in ``log`` leaves the window."""
        return log[-1] + self.period if len(log) > log[0] else 0


def _debt(log: Log, first: int) -> int:
    """The debt of ``log`` whose first live timestamp is at ``first``: 0 once the oldest kept with it has left."""
    return log[1] if first == log[0] else 0
