"""The sync limiter's observing code: a blocking store wrapped so that each call is timed and each decision reported.

The twin of :mod:`ratelimit_core.observed` (the same reports, through
:func:`~ratelimit_core.observe.report`), put in place only when the limiter
has an observer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ratelimit_core.decision import Decision
from ratelimit_core.observe import Observer, report
from ratelimit_core.policy import Policy
from ratelimit_core.wrapper import Wrapping

__all__ = ["ObservedStore"]

T = TypeVar("T")


class ObservedStore(Wrapping):
    """``store`` (blocking), each call timed and reported; admission decisions reported when ``decisions``."""

    def __init__(self, store: Any, observer: Observer, *, decisions: bool) -> None:
        self.store = store
        self._observer = observer
        self._decisions = decisions
        self.label: str = getattr(store, "label", type(store).__name__)

    def __repr__(self) -> str:
        return repr(self.store)

    def _timed(self, operation: str, call: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            result = call(*args)
        except Exception as error:
            self._observer.store_call(self.label, operation, time.perf_counter() - started, type(error).__name__)
            raise
        self._observer.store_call(self.label, operation, time.perf_counter() - started, None)
        return result

    def _decided(self, operation: str, policy: Policy, key: str, cost: int, decision: Decision, started: float) -> None:
        if self._decisions:
            report(self._observer, policy, self.label, key, cost, decision, time.perf_counter() - started)

    def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        started = time.perf_counter()
        decision: Decision = self._timed("hit", self.store.hit, policy, key, cost)
        self._decided("hit", policy, key, cost, decision, started)
        return decision

    def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        started = time.perf_counter()
        decision: Decision = self._timed("acquire", self.store.acquire, policy, key, cost, holder)
        self._decided("acquire", policy, key, cost, decision, started)
        return decision

    def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        started = time.perf_counter()
        reserved: tuple[Decision, tuple[int, ...]] = self._timed("hit", self.store.reserve, policy, key, cost)
        self._decided("hit", policy, key, cost, reserved[0], started)
        return reserved

    def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        decision: Decision = self._timed("peek", self.store.peek, policy, key, cost)
        return decision

    def reset(self, policy: Policy, key: str) -> None:
        self._timed("reset", self.store.reset, policy, key)

    def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        decision: Decision = self._timed("charge", self.store.charge, policy, key, cost)
        return decision

    def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        decision: Decision = self._timed("refund", self.store.refund, policy, key, cost, until)
        return decision

    def block(self, policy: Policy, key: str, duration: int) -> int:
        lasts: int = self._timed("block", self.store.block, policy, key, duration)
        return lasts

    def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        self._timed("write_note", self.store.write_note, policy, key, text, ttl)

    def read_note(self, policy: Policy, key: str) -> bytes | None:
        note: bytes | None = self._timed("read_note", self.store.read_note, policy, key)
        return note

    def release(self, policy: Policy, key: str, holder: str) -> None:
        self._timed("release", self.store.release, policy, key, holder)

    def renew(self, policy: Policy, key: str, holder: str) -> bool:
        kept: bool = self._timed("renew", self.store.renew, policy, key, holder)
        return kept
