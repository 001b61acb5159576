"""Helpers for testing code that uses a limiter without sleeping, and a store against the contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ratelimit_core.store_suite import StoreTests

if TYPE_CHECKING:
    from ratelimit_core.decision import Decision
    from ratelimit_core.policy import Policy

__all__ = ["FailingStore", "ManualClock", "StoreTests"]


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


class FailingStore:
    """A store whose backend is down: every call raises ``error``.

    For testing what your code does when the store fails (``on_error``, a
    ``fallback`` store, a middleware's ``fail_open``)::

        limiter = Limiter("10/second", store=FailingStore(), on_error="allow")

    Args:
        error: The exception every call raises (a new ``ConnectionError`` by default).

    Attributes:
        calls: How many calls it has had.
    """

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "failing"

    __slots__ = ("calls", "error")

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error if error is not None else ConnectionError("backend unreachable")
        self.calls = 0

    def __repr__(self) -> str:
        return f"FailingStore({self.error!r}, calls={self.calls})"

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        self.calls += 1
        raise self.error

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        self.calls += 1
        raise self.error

    async def reset(self, policy: Policy, key: str) -> None:
        self.calls += 1
        raise self.error

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        self.calls += 1
        raise self.error

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        self.calls += 1
        raise self.error

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        self.calls += 1
        raise self.error

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        self.calls += 1
        raise self.error

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        self.calls += 1
        raise self.error

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        self.calls += 1
        raise self.error
