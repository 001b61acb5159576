"""The contract of a blocking store: the async contract's operations, as plain calls.

A store of this colour is safe to share between threads. See
:class:`ratelimit_core.Store` for what each operation does; only the colour
differs. :class:`Holding` adds concurrency slots and :class:`Blocking` blocks, as their async twins do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ratelimit_core.decision import Decision
from ratelimit_core.policy import Policy

__all__ = ["Blocking", "Holding", "Noting", "Store"]


@runtime_checkable
class Store(Protocol):
    """Limiter state for :class:`ratelimit_core.sync.Limiter`: each operation one atomic step, blocking."""

    def hit(self, policy: Policy, key: str, cost: int) -> Decision: ...

    def peek(self, policy: Policy, key: str, cost: int) -> Decision: ...

    def reset(self, policy: Policy, key: str) -> None: ...

    def charge(self, policy: Policy, key: str, cost: int) -> Decision: ...

    def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision: ...

    def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]: ...


@runtime_checkable
class Blocking(Protocol):
    """:class:`ratelimit_core.store.Blocking` in blocking calls."""

    def block(self, policy: Policy, key: str, duration: int) -> int: ...


@runtime_checkable
class Noting(Protocol):
    """:class:`ratelimit_core.store.Noting` in blocking calls."""

    def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None: ...

    def read_note(self, policy: Policy, key: str) -> bytes | None: ...


@runtime_checkable
class Holding(Protocol):
    """Concurrency slots, blocking (see :class:`ratelimit_core.store.Holding`)."""

    def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision: ...

    def release(self, policy: Policy, key: str, holder: str) -> None: ...

    def renew(self, policy: Policy, key: str, holder: str) -> bool: ...
