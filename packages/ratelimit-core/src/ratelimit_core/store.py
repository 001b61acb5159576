"""The contract every store implements, and the capabilities a store may add.

For store authors: see docs/stores.md. A store implements :class:`Store`; it
may also implement :class:`Preparing`, :class:`Binding`, :class:`Holding`
(concurrency caps), :class:`Blocking` (``Limiter.block``) and :class:`Noting`,
which the :class:`~ratelimit_core.Limiter` finds with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ratelimit_core.decision import Decision
from ratelimit_core.policy import Policy

__all__ = ["Binding", "Blocking", "Decide", "Holding", "Noting", "Preparing", "Store"]

#: What :meth:`Binding.bind` returns: ``decide(key, cost)``, with the meaning of :meth:`Store.hit`.
Decide = Callable[[str, int], Decision]


@runtime_checkable
class Store(Protocol):
    """Persists limiter state and applies an algorithm to it atomically.

    The contract is algorithm-shaped, not get/set: a store is asked to apply
    ``policy`` (an algorithm and its rates) to ``key`` as one atomic step, so
    that concurrent callers (other tasks, processes, hosts) never both take the
    last unit. Every operation covers every rate of the policy, or none.

    The arithmetic is the policy's (``policy.maths``: each algorithm's
    ``step``, ``charge`` and ``refund``, see :mod:`ratelimit_core.algorithms`),
    and a store builds its answer with :meth:`Policy.decision` from one
    outcome per rate, so every store reports the same numbers for the same
    state and time. ``ratelimit_core.testing.StoreTests`` checks a store
    against this contract.

    Keys are ``str`` and costs ``int >= 0``: the limiter has checked them. A
    backend failure must raise :class:`~ratelimit_core.StoreError` (or an
    ``OSError`` or ``TimeoutError``): those, and only those, reach the
    :class:`~ratelimit_core.Limiter`'s failure policy. Anything else is a bug
    and propagates, so that it is never mistaken for an outage.
    """

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """Consume ``cost`` units from every rate of ``policy`` for ``key``, or none.

        0 consumes nothing and reports what is left.
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

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """Consume ``cost`` units on every rate whether they fit or not (the work was done).

        Returns what a ``peek`` of one unit says afterwards: ``allowed`` is
        whether the key still has room.
        """
        ...

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """Give back up to ``cost`` consumed units on every rate, never beyond full capacity.

        ``until`` is what :meth:`reserve` returned for the hit that consumed the
        units, one value per rate: then only what of those units still weighs
        is given back (see each algorithm's ``refund``). Without it the units
        are taken as the newest consumed. Returns what a ``peek`` of one unit
        says afterwards.
        """
        ...

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """:meth:`hit`, and for each rate when the units it consumed stop weighing on it.

        That is the store's time of the hit plus the rate's ``reset_after``, in
        µs of the store's clock, one per rate in order: what a later
        :meth:`refund` of those units takes as ``until``.
        """
        ...


@runtime_checkable
class Preparing(Protocol):
    """A store that checks a policy before its first decision.

    The limiter calls ``prepare(policy)`` at construction; it raises
    ``ValueError`` for a policy the store cannot run (rates beyond its
    arithmetic, say), so that a misconfiguration is an error at once and never
    looks like an outage.
    """

    def prepare(self, policy: Policy) -> None: ...


@runtime_checkable
class Binding(Protocol):
    """A store that decides without I/O, as a plain function.

    ``bind(policy)`` returns ``decide(key, cost)``, :meth:`Store.hit` without a
    coroutine. The limiter binds once at construction and calls it on every
    ``hit`` (and ``hit_nowait``); :class:`~ratelimit_core.MemoryStore` does.
    """

    def bind(self, policy: Policy) -> Decide: ...


@runtime_checkable
class Holding(Protocol):
    """A store that keeps concurrency slots: limiters with a :class:`~ratelimit_core.Concurrency` cap.

    A slot is named by its ``holder`` (a token unique to one ``acquire``) and
    lapses ``policy.cap.lease_us`` after it was taken or last renewed, on the
    store's clock. For a policy with a cap, :meth:`Store.peek` reports the
    cap's status after the rates' (free slots as ``remaining``; use
    :func:`ratelimit_core.concurrency.room`), and :meth:`Store.reset` frees
    every slot of the key too.
    """

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """In one atomic step: when every rate admits ``cost`` and fewer than ``cap.limit`` live slots
        are held, consume ``cost`` on every rate and give ``holder`` a slot; else do neither.

        The decision's statuses are the rates' and then the cap's, whose
        ``remaining`` is the free slots after it (a ``holder`` that already
        holds a slot keeps that one, renewed: holders are meant to be new).
        """
        ...

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """Free ``holder``'s slot; nothing when it holds none (it lapsed, or was freed)."""
        ...

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """Extend ``holder``'s lease by ``cap.lease_us`` from now; ``False`` when its slot is gone."""
        ...


@runtime_checkable
class Blocking(Protocol):
    """A store that keeps blocks: :meth:`Limiter.block <ratelimit_core.Limiter.block>`.

    A block belongs to the limiter's name and the key
    (``policy.block_namespace``), so every limiter of that name honours it,
    whatever its rates. While it holds, :meth:`Store.hit`, :meth:`Store.peek`,
    :meth:`Store.reserve` and :meth:`Holding.acquire` deny (the executor's
    ``blocked`` argument: nothing left, ``retry_after`` at least the block's
    rest), in the same atomic step as the decision; :meth:`Store.reset` lifts it.
    Charges and refunds are not affected.
    """

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        """Block ``key`` for ``duration`` µs from now on the store's clock, or longer when it already is.

        Returns how many µs the key's block lasts from now (0: it has none).
        """
        ...


@runtime_checkable
class Noting(Protocol):
    """A store that keeps short notes per limiter name and key, for every process sharing it.

    What a limiter's user learns about a key and other processes should start
    from (``ratelimit-client`` notes the limits an upstream announced). A note
    belongs to ``policy.note_namespace`` (the limiter's name alone) and the key,
    lives ``ttl`` µs on the store's clock, and is not part of the key's state:
    decisions never read it and ``reset`` leaves it.
    """

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """Keep ``text`` (at most 1,024 bytes) for ``key`` for ``ttl`` µs from now, in place of any note before."""
        ...

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        """The note kept for ``key``, or ``None`` (none written, or it has expired)."""
        ...
