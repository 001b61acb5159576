"""The sync colour seen through the async one, so that one suite checks both.

:class:`AsyncOverSync` makes a blocking store look like a coroutine store,
and :class:`AsyncLimiterOverSync` does the same for a
``ratelimit_core.sync.Limiter``: each coroutine makes the blocking call and
returns its answer, nothing else. :class:`SyncStoreTests` runs the shipped
store suite (:class:`~ratelimit_core.testing.StoreTests`) on a blocking
store, and the timelines of :mod:`~ratelimit_core.testing.timelines` drive a
sync limiter against an async one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ratelimit_core.decision import Decision
from ratelimit_core.policy import Policy
from ratelimit_core.testing.suite import StoreTests
from ratelimit_core.wrapper import Wrapping

__all__ = ["AsyncLimiterOverSync", "AsyncOverSync", "SyncStoreTests"]


class AsyncOverSync(Wrapping):
    """A blocking ``store`` with the coroutine contract: each call made as it is and its answer returned."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.label: str = getattr(store, "label", type(store).__name__)

    def __repr__(self) -> str:
        return f"AsyncOverSync({self.store!r})"

    def prepare(self, policy: Policy) -> None:
        prepare = getattr(self.store, "prepare", None)
        if prepare is not None:
            prepare(policy)

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        decision: Decision = self.store.hit(policy, key, cost)
        return decision

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        decision: Decision = self.store.peek(policy, key, cost)
        return decision

    async def reset(self, policy: Policy, key: str) -> None:
        self.store.reset(policy, key)

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        decision: Decision = self.store.charge(policy, key, cost)
        return decision

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        decision: Decision = self.store.refund(policy, key, cost, until)
        return decision

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        reserved: tuple[Decision, tuple[int, ...]] = self.store.reserve(policy, key, cost)
        return reserved

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        decision: Decision = self.store.acquire(policy, key, cost, holder)
        return decision

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        lasts: int = self.store.block(policy, key, duration)
        return lasts

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        self.store.write_note(policy, key, text, ttl)

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        note: bytes | None = self.store.read_note(policy, key)
        return note

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        self.store.release(policy, key, holder)

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        kept: bool = self.store.renew(policy, key, holder)
        return kept

    async def aclose(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


class _Settling:
    """A sync reservation with coroutine ``settle``/``cancel``."""

    def __init__(self, reservation: Any) -> None:
        self.reservation = reservation
        self.decision: Decision = reservation.decision

    async def settle(self, actual: int) -> Decision:
        decision: Decision = self.reservation.settle(actual)
        return decision

    async def cancel(self) -> Decision:
        decision: Decision = self.reservation.cancel()
        return decision


class AsyncLimiterOverSync:
    """A ``ratelimit_core.sync.Limiter`` with the async limiter's coroutines, for the timelines."""

    def __init__(self, limiter: Any) -> None:
        self.limiter = limiter
        self.policy: Policy = limiter.policy
        self.algorithm = limiter.algorithm
        self.store = AsyncOverSync(limiter.store)

    async def hit(self, key: str, cost: int = 1) -> Decision:
        decision: Decision = self.limiter.hit(key, cost)
        return decision

    async def peek(self, key: str, cost: int = 1) -> Decision:
        decision: Decision = self.limiter.peek(key, cost)
        return decision

    async def reset(self, key: str) -> None:
        self.limiter.reset(key)

    async def charge(self, key: str, cost: int = 1) -> Decision:
        decision: Decision = self.limiter.charge(key, cost)
        return decision

    async def refund(self, key: str, cost: int = 1) -> Decision:
        decision: Decision = self.limiter.refund(key, cost)
        return decision

    async def reserve(self, key: str, estimate: int = 1) -> _Settling:
        return _Settling(self.limiter.reserve(key, estimate))

    async def block(self, key: str, seconds: float) -> float:
        lasts: float = self.limiter.block(key, seconds)
        return lasts


class SyncStoreTests(StoreTests):
    """The store suite for a blocking store: implement :meth:`make_sync_store` (and ``close`` on the store)."""

    def make_sync_store(self, clock: Callable[[], float]) -> Any:
        """A blocking store deciding on ``clock`` (seconds)."""
        raise NotImplementedError("a SyncStoreTests subclass makes its store: def make_sync_store(self, clock)")

    async def make_store(self, clock: Callable[[], float]) -> Any:
        return AsyncOverSync(self.make_sync_store(clock))
