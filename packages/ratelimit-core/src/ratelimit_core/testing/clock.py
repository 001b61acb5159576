"""A clock tests move by hand: :class:`ManualClock`."""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """A clock that only moves when told to, for ``MemoryStore(clock=...)``.

    Time is kept in whole microseconds, so advancing never drifts::

        clock = ManualClock()
        limiter = Limiter("1/second", store=MemoryStore(clock=clock))
        await limiter.hit("k")
        clock.advance(1)  # instead of sleeping

    Args:
        start: The initial reading in seconds. The default is a Unix-time
            magnitude, where float arithmetic would lose whole tokens.
    """

    __slots__ = ("us",)

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.us = round(start * 1_000_000)

    def __call__(self) -> float:
        """The time in seconds."""
        return self.us / 1_000_000

    def __repr__(self) -> str:
        return f"ManualClock({self.us / 1_000_000!r})"

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (rounded to the microsecond)."""
        self.us += round(seconds * 1_000_000)
