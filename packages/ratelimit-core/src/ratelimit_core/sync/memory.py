"""An in-process store for threads: the async ``MemoryStore``'s tables and operations, one lock around each."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ratelimit_core.decision import Decision
from ratelimit_core.memory import MemoryCore
from ratelimit_core.policy import Policy
from ratelimit_core.store import Decide

__all__ = ["MemoryStore"]


class MemoryStore(MemoryCore):
    """Limiter state in this process, shared by its threads.

    The same tables, bounds and decisions as :class:`ratelimit_core.MemoryStore`
    (see it for ``clock`` and ``max_keys``); each operation holds one lock from
    its read to its write, so threads never both take the last unit.
    """

    __slots__ = ("_lock",)

    def __init__(self, *, clock: Callable[[], float] | None = None, max_keys: int = 100_000) -> None:
        super().__init__(clock=clock, max_keys=max_keys)
        self._lock = threading.Lock()

    def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        with self._lock:
            return MemoryCore.bind(self, policy)(key, cost)

    def bind(self, policy: Policy) -> Decide:
        """:meth:`hit` for ``policy`` as a plain ``decide(key, cost)``, holding the lock around each decision."""
        with self._lock:
            decide = MemoryCore.bind(self, policy)
        # The lock's own methods, called directly: about 0.07 µs less per decision than a with statement.
        acquire, release = self._lock.acquire, self._lock.release

        def locked(key: str, cost: int) -> Decision:
            acquire()
            try:
                return decide(key, cost)
            finally:
                release()

        return locked

    def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        with self._lock:
            return self._peek(policy, key, cost)

    def _follow_clock(self, clock: Callable[[], float] | None) -> bool:
        """:meth:`MemoryCore._follow_clock` under the lock: threads of the app may be deciding."""
        with self._lock:
            return MemoryCore._follow_clock(self, clock)

    def _forget_all(self) -> None:
        """:meth:`MemoryCore._forget_all` under the lock: threads of the app may be deciding."""
        with self._lock:
            MemoryCore._forget_all(self)

    def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        with self._lock:
            self._reset(policy, key)

    def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        with self._lock:
            return self._charge(policy, key, cost)

    def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        with self._lock:
            return self._refund(policy, key, cost, until)

    def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        with self._lock:
            return self._reserve(policy, key, cost)

    def block(self, policy: Policy, key: str, duration: int) -> int:
        """See :meth:`ratelimit_core.store.Blocking.block`."""
        with self._lock:
            return self._block(policy, key, duration)

    def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """See :meth:`ratelimit_core.store.Noting.write_note`."""
        with self._lock:
            self._write_note(policy, key, text, ttl)

    def read_note(self, policy: Policy, key: str) -> bytes | None:
        """See :meth:`ratelimit_core.store.Noting.read_note`."""
        with self._lock:
            return self._read_note(policy, key)

    def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        with self._lock:
            return self._acquire(policy, key, cost, holder)

    def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        with self._lock:
            self._release(policy, key, holder)

    def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        with self._lock:
            return self._renew(policy, key, holder)
