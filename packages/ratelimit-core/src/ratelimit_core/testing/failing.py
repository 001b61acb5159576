"""A store whose backend is down: :class:`FailingStore`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ratelimit_core.decision import Decision
    from ratelimit_core.policy import Policy

__all__ = ["FailingStore"]


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

    def _follow_clock(self, clock: object) -> bool:
        """No clock and no state: a test's clock and reset pass it by."""
        return False

    def _forget_all(self) -> None:
        """No state to forget."""

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

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        self.calls += 1
        raise self.error

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        self.calls += 1
        raise self.error

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
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
