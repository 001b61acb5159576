"""Fixed window: up to ``limit`` units per window of ``period``.

The window opens at the key's first hit and lasts ``period``; the next hit
after it closes opens a new one. Guarantee: never more than ``limit`` units in
one window (up to ``2 * limit`` can pass within one ``period`` across a window
boundary: choose a sliding window when that matters). State: the window's
start and its count. A denial writes nothing.

A window that starts after ``now`` (the clock went back) is read as starting
at ``now``, with its count, and that reading is written back even by a denial:
a client waits at most ``period``, and a ``retry_after`` given then comes true.

``charge`` adds to the window's count, past ``limit`` if need be (saturating at
:data:`MAX_COUNT`): hits are then denied until the window closes. ``refund``
takes from the current window's count, never below 0; given ``until`` (when
the units' window closes), only units of the current window are given back:
a window that has closed has nothing to give back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ratelimit_core.algorithms.step import Step
from ratelimit_core.algorithms.window import Window

__all__ = ["MAX_COUNT", "FixedWindow"]

#: The most units a window counts: a charge beyond it saturates there (every store holds it exactly).
MAX_COUNT = 2**53 - 1

#: ``(window_start_us, count)``
FixedWindowState = tuple[int, int]


@dataclass(frozen=True, slots=True)
class FixedWindow(Window):
    """The fixed window arithmetic for one rate (``rate``, ``limit``, ``period`` in µs: see :class:`Window`)."""

    def step(self, state: FixedWindowState | None, now: int, cost: int) -> Step[FixedWindowState]:
        """Admit ``cost`` units at ``now`` (µs) against the window in ``state``, or deny."""
        start, count, repair = self._window(state, now)
        # A window with nothing in it is already at full capacity.
        reset = start + self.period - now
        if not cost:  # always admitted, even in an overdraft
            return True, repair, max(0, self.limit - count), reset if count else 0, 0
        if count + cost <= self.limit:
            return True, (start, count + cost), self.limit - count - cost, reset, 0
        retry = None if cost > self.limit else reset
        return False, repair, max(0, self.limit - count), reset if count else 0, retry

    def charge(self, state: FixedWindowState | None, now: int, cost: int) -> FixedWindowState:
        """The window after ``cost`` units are consumed at ``now`` (µs), room or not."""
        start, count, _ = self._window(state, now)
        return start, min(count + cost, max(count, MAX_COUNT))

    def refund(
        self, state: FixedWindowState | None, now: int, cost: int, until: int | None = None
    ) -> FixedWindowState | None:
        """The window after ``cost`` units are given back at ``now`` (µs); ``None`` when nothing changes.

        ``until`` is when the units' window closes (µs): the time of the hit that
        consumed them plus its ``reset_after``. Units of another window are not
        given back.
        """
        start, count, repair = self._window(state, now)
        if not count or (until is not None and until != start + self.period):
            return repair
        return start, max(0, count - cost)

    def _window(self, state: FixedWindowState | None, now: int) -> tuple[int, int, FixedWindowState | None]:
        """The window at ``now``: its start and count, and the repair to write back (or ``None``)."""
        if state is None or now >= state[0] + self.period:
            return now, 0, None
        if state[0] > now:  # from the future: the clock went back
            return now, state[1], (now, state[1])
        return state[0], state[1], None

    def expires_at(self, state: FixedWindowState) -> int:
        """The microsecond at which the window in ``state`` closes."""
        return state[0] + self.period
