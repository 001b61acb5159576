"""The contract every store implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ratelimit_core.decision import Decision
from ratelimit_core.policy import Policy

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Persists limiter state and applies an algorithm to it atomically.

    The contract is algorithm-shaped, not get/set: a store is asked to apply
    ``policy`` (an algorithm and its rates) to ``key`` with ``cost`` as one
    atomic step, so that concurrent callers (other tasks, processes, hosts)
    never both take the last unit. Every rate of the policy is consumed, or
    none is.

    A store decides with :meth:`Policy.decision` from one outcome per rate, so
    every store reports the same numbers for the same state and time. A
    backend failure must raise :class:`~ratelimit_core.StoreError` (or an
    ``OSError`` or ``TimeoutError``): those, and only those, reach the
    :class:`~ratelimit_core.Limiter`'s failure policy. Anything else is a bug
    and propagates, so that it is never mistaken for an outage.

    Optional check: ``prepare(policy)``, called by the limiter at construction,
    raises ``ValueError`` for a policy the store cannot run (say, rates beyond
    its arithmetic), so that a misconfiguration never looks like an outage.

    Optional fast path: a store whose decisions need no I/O may also offer
    ``bind(policy) -> decide(key, cost)``, a plain function with the meaning of
    :meth:`hit`. The limiter binds once and then calls it without a coroutine
    (:class:`~ratelimit_core.MemoryStore` does).
    """

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """Consume ``cost`` units from every rate of ``policy`` for ``key``, or none.

        ``cost`` is an int >= 0 (validated by the limiter); 0 consumes nothing
        and reports what is left.
        """
        ...

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """Whether ``hit(policy, key, cost)`` would be admitted now; consumes nothing.

        ``remaining`` and ``reset_after`` describe the state now.
        """
        ...

    async def reset(self, policy: Policy, key: str) -> None:
        """Forget everything ``key`` consumed under ``policy``."""
        ...
