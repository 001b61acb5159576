"""The running event loop's time on a :class:`~ratelimit_core.testing.ManualClock`, fast-forwarded.

For tests of code that waits (``Limiter.wait``, an ``acquire`` that waits, a
lease's renewals) without sleeping::

    clock = ManualClock()
    limiter = Limiter("1/second", store=MemoryStore(clock=clock))
    with LoopTime(clock) as loop_time:          # inside a coroutine: the running loop
        await limiter.hit("k")
        await limiter.wait("k")                 # takes no time
        assert loop_time.slept == 1.0
"""

from __future__ import annotations

import asyncio
import selectors
from types import TracebackType
from typing import Any

from ratelimit_core.testing.clock import ManualClock

__all__ = ["LoopTime"]


class LoopTime:
    """The running event loop's time read from ``clock``, moved forward only when the loop would sleep.

    When nothing is ready and a timer is due later, the loop jumps ``clock``
    to that timer instead of sleeping: a wait of an hour takes no time, timers
    fire in their order, and a store on ``clock`` sees the time the loop sees.
    ``slept`` is how far it jumped, in seconds. Enter it before the code under
    test schedules a timer, and leave it once they are done: the loop's time
    counts from entering.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.start = clock.us
        self._loop: Any = None
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> LoopTime:
        loop: Any = asyncio.get_running_loop()
        self._loop, self.start = loop, self.clock.us
        self._saved = loop.time, loop._selector.select
        # The loop's time counts from the clock's reading now: at a Unix-time magnitude a float cannot tell
        # a timer's due time from the loop's clock resolution (1 ns), and the loop would never run it.
        loop.time = self.loop_seconds
        loop._selector.select = self.select
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._saved is not None:
            self._loop.time, self._loop._selector.select = self._saved
            self._saved = None

    def loop_seconds(self) -> float:
        """The loop's time: seconds since entering."""
        return (self.clock.us - self.start) / 1_000_000

    @property
    def slept(self) -> float:
        return (self.clock.us - self.start) / 1_000_000

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        assert self._saved is not None  # noqa: S101 - only patched in while entered
        events: list[tuple[selectors.SelectorKey, int]] = self._saved[1](0)
        if not events and timeout:  # the loop would sleep until its next timer: be there at once
            self.clock.us += max(1, round(timeout * 1_000_000))
        return events
