"""Fixed window: up to ``limit`` units per window of ``period``.

The window opens at the key's first hit and lasts ``period``; the next hit
after it closes opens a new one. Guarantee: never more than ``limit`` units in
one window (up to ``2 * limit`` can pass within one ``period`` across a window
boundary: choose a sliding window when that matters). State: the window's
start and its count. A denial writes nothing.

A window that starts after ``now`` (the clock went back) is read as starting
at ``now``, with its count, and that reading is written back even by a denial:
a client waits at most ``period``, and a ``retry_after`` given then comes true.
"""

from __future__ import annotations

from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.rate import Rate

__all__ = ["FixedWindow"]

#: ``(window_start_us, count)``
FixedWindowState = tuple[int, int]


@dataclass(frozen=True, slots=True)
class FixedWindow:
    """The fixed window arithmetic for one rate."""

    rate: Rate
    limit: int
    period: int  # µs

    @classmethod
    def for_rate(cls, rate: Rate) -> FixedWindow:
        return cls(rate, rate.limit, rate.period_us)

    def step(self, state: FixedWindowState | None, now: int, cost: int) -> Step[FixedWindowState]:
        """Admit ``cost`` units at ``now`` (µs) against the window in ``state``, or deny."""
        repair = None
        if state is None or now >= state[0] + self.period:
            start, count = now, 0
        elif state[0] > now:  # from the future: the clock went back
            start, count = repair = (now, state[1])
        else:
            start, count = state
        # A window with nothing in it is already at full capacity.
        reset = start + self.period - now
        if count + cost <= self.limit:
            if not cost:
                return True, repair, self.limit - count, reset if count else 0, 0
            return True, (start, count + cost), self.limit - count - cost, reset, 0
        retry = None if cost > self.limit else reset
        return False, repair, self.limit - count, reset if count else 0, retry

    def expires_at(self, state: FixedWindowState) -> int:
        """The microsecond at which the window in ``state`` closes."""
        return state[0] + self.period
