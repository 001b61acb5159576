"""Sliding window counter: two aligned counters, a weighted estimate.

Windows are aligned to multiples of ``period``. The estimate at ``now`` is the
previous window's count times the fraction of it still inside the sliding
window, plus the current window's count; a hit is admitted when the estimate
plus its cost is at most ``limit``. Guarantee: never more than ``limit`` units
per aligned window (the estimate assumes the previous window's units were
spread evenly, so a sliding window may see a little more). O(1) state. The
arithmetic is done in whole units times microseconds: no rounding.

A state whose window is after ``now``'s (the clock went back) is read as this
window's, with its counts, and that reading is written back even by a
denial: a client waits no longer than without the step, and a
``retry_after`` given then comes true.

``charge`` adds to the current window's count, past ``limit`` if need be
(saturating at :data:`MAX_COUNT`); the estimate then stays over the limit until
enough of it has slid out. ``refund`` takes from the current window's count,
never below 0; given ``until`` (the units' window end plus a period), only
units of the current window are given back (units of the previous window are
past giving back).
"""

from __future__ import annotations

from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.algorithms.window import Window

__all__ = ["MAX_COUNT", "SlidingWindowCounter"]

#: The most units a window counts: a charge beyond it saturates there (the Redis store's Lua keeps
#: every factor of its big integers below 9e8).
MAX_COUNT = 800_000_000

#: ``(window_index, previous_count, current_count)``; window ``i`` spans
#: ``[i * period, (i + 1) * period)`` µs.
CounterState = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class SlidingWindowCounter(Window):
    """The sliding counter arithmetic for one rate (``rate``, ``limit``, ``period`` in µs: see :class:`Window`)."""

    def step(self, state: CounterState | None, now: int, cost: int) -> Step[CounterState]:
        """Admit ``cost`` units at ``now`` (µs) against ``state``, or deny."""
        period, limit = self.period, self.limit
        index, elapsed = divmod(now, period)
        prev, cur, repair = self._counts(state, index)
        left = period - elapsed  # µs until this window ends
        used = prev * left + cur * period  # the estimate, in units x µs
        room = limit * period - used
        if cost * period <= room or not cost:  # a cost of 0 is admitted even in an overdraft
            cur += cost
            reset = left + period if cur else (left if prev else 0)
            return True, (index, prev, cur) if cost else repair, max(0, room - cost * period) // period, reset, 0
        remaining = max(0, room // period)
        reset = left + period if cur else (left if prev else 0)
        if cost > limit:
            return False, repair, remaining, reset, None
        if cur + cost <= limit:
            # Fits in this window once enough of the previous one has slid out.
            retry = left - (limit - cur - cost) * period // prev
        else:
            # Next window: this window's count becomes the weighted one.
            retry = left + period - (limit - cost) * period // cur
        return False, repair, remaining, reset, retry

    def charge(self, state: CounterState | None, now: int, cost: int) -> CounterState:
        """The counts after ``cost`` units are consumed at ``now`` (µs), room or not."""
        index = now // self.period
        prev, cur, _ = self._counts(state, index)
        return index, prev, min(cur + cost, max(cur, MAX_COUNT))

    def refund(self, state: CounterState | None, now: int, cost: int, until: int | None = None) -> CounterState | None:
        """The counts after ``cost`` units of this window are given back; ``None`` when nothing changes.

        ``until`` is the time of the hit that consumed them plus its
        ``reset_after`` (µs): the end of their window plus a period. Units of
        another window are not given back.
        """
        index = now // self.period
        prev, cur, repair = self._counts(state, index)
        if not cur or (until is not None and until // self.period - 2 != index):
            return repair
        return index, prev, max(0, cur - cost)

    @staticmethod
    def _counts(state: CounterState | None, index: int) -> tuple[int, int, CounterState | None]:
        """The previous and current counts in window ``index``, and the repair to write back (or ``None``)."""
        if state is not None:
            if state[0] == index:
                return state[1], state[2], None
            if state[0] == index - 1:
                return state[2], 0, None
            if state[0] > index:  # from the future: the clock went back
                return state[1], state[2], (index, state[1], state[2])
        return 0, 0, None

    def expires_at(self, state: CounterState) -> int:
        """The microsecond from which ``state`` no longer weighs on any estimate."""
        index, _prev, cur = state
        return (index + (2 if cur else 1)) * self.period
