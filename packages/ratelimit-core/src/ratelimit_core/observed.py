"""The limiter's observing code: a store wrapped so that each call is timed and each decision reported.

Put in place of the plain code only when the limiter has an observer (the
observer given is first :func:`~ratelimit_core.observe.guarded`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ratelimit_core.decision import Decision
from ratelimit_core.observe import Observer, report, store_label
from ratelimit_core.policy import Policy
from ratelimit_core.store import Store
from ratelimit_core.wrapper import WrapperStore

__all__ = ["ObservedStore", "observed_decide"]

T = TypeVar("T")


class ObservedStore(WrapperStore):
    """``store``, each call timed and reported (``store_call``); admission decisions reported when ``decisions``."""

    def __init__(self, store: Store, observer: Observer, *, decisions: bool) -> None:
        super().__init__(store)
        self._observer = observer
        self._decisions = decisions

    def __repr__(self) -> str:
        return repr(self.store)

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            result = await call
        except Exception as error:  # a cancellation is no store failure: not recorded
            self._observer.store_call(self.label, operation, time.perf_counter() - started, type(error).__name__)
            raise
        self._observer.store_call(self.label, operation, time.perf_counter() - started, None)
        return result

    async def _decided(
        self, operation: str, policy: Policy, asked: tuple[str, int], call: Awaitable[Decision]
    ) -> Decision:
        """An admission decision: timed, and reported when ``decisions`` (``asked`` = key, cost)."""
        started = time.perf_counter()
        decision = await self._timed(operation, call)
        if self._decisions:
            report(self._observer, policy, self.label, *asked, decision, time.perf_counter() - started)
        return decision

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        return await self._decided("hit", policy, (key, cost), super().hit(policy, key, cost))

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        return await self._decided("acquire", policy, (key, cost), super().acquire(policy, key, cost, holder))

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        started = time.perf_counter()
        decision, until = await self._timed("hit", super().reserve(policy, key, cost))
        if self._decisions:
            report(self._observer, policy, self.label, key, cost, decision, time.perf_counter() - started)
        return decision, until

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        return await self._timed("peek", super().peek(policy, key, cost))

    async def reset(self, policy: Policy, key: str) -> None:
        await self._timed("reset", super().reset(policy, key))

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        return await self._timed("charge", super().charge(policy, key, cost))

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        return await self._timed("refund", super().refund(policy, key, cost, until))

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        return await self._timed("block", super().block(policy, key, duration))

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        await self._timed("write_note", super().write_note(policy, key, text, ttl))

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        return await self._timed("read_note", super().read_note(policy, key))

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        await self._timed("release", super().release(policy, key, holder))

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        return await self._timed("renew", super().renew(policy, key, holder))


def observed_decide(
    decide: Callable[[str, int], Decision], observer: Observer, policy: Policy, store: object, *, decisions: bool
) -> Callable[[str, int], Decision]:
    """A store's bound ``decide(key, cost)`` (no I/O), timed, and its decisions reported when ``decisions``."""
    label = store_label(store)
    clock = time.perf_counter

    def observed(key: str, cost: int) -> Decision:
        started = clock()
        try:
            decision = decide(key, cost)
        except Exception as error:  # a cancellation is no store failure: not recorded
            observer.store_call(label, "hit", clock() - started, type(error).__name__)
            raise
        seconds = clock() - started
        observer.store_call(label, "hit", seconds, None)
        if decisions:
            report(observer, policy, label, key, cost, decision, seconds)
        return decision

    return observed
