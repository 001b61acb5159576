"""A store around a store: :class:`WrapperStore` forwards every call; a subclass changes the ones it is about.

Observing (:class:`~ratelimit_core.observe.ObservedStore`) and caching denials
(:class:`~ratelimit_core.deny_cache.DenyCachedStore`) are wrappers: stores
themselves, made the same way, that run the same shipped suite. A wrapper
keeps the capabilities of the store it wraps: the limiter reads them from the
innermost store (:func:`innermost`), so a wrapper of a store that keeps no
slots is refused for a limiter with a cap, as that store would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ratelimit_core.decision import Decision
from ratelimit_core.policy import Policy
from ratelimit_core.store import Binding, Blocking, Holding, Noting, Preparing, Store

__all__ = ["Capabilities", "WrapperStore", "Wrapping", "capabilities", "innermost"]


class Wrapping:
    """A store around ``store``, in either colour: what :func:`innermost` looks through."""

    store: Any


class WrapperStore(Wrapping):
    """Forwards every operation of the contract, and of its capabilities, to ``store``.

    Args:
        store: The store it wraps.

    Attributes:
        store: The store it wraps.
    """

    store: Store

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def label(self) -> str:
        """The wrapped store's label: metrics name the store that decides."""
        label = getattr(self.store, "label", None)
        return label if isinstance(label, str) else type(self.store).__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r})"

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        return await self.store.hit(policy, key, cost)

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        return await self.store.peek(policy, key, cost)

    async def reset(self, policy: Policy, key: str) -> None:
        await self.store.reset(policy, key)

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        return await self.store.charge(policy, key, cost)

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        return await self.store.refund(policy, key, cost, until)

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        return await self.store.reserve(policy, key, cost)

    async def aclose(self) -> None:
        """Close the wrapped store, when it closes (``aclose``)."""
        close = getattr(self.store, "aclose", None)
        if close is not None:
            await close()

    # -- capabilities: forwarded when the wrapped store has them -------------------------

    def prepare(self, policy: Policy) -> None:
        if isinstance(self.store, Preparing):
            self.store.prepare(policy)

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        return await self._holding().acquire(policy, key, cost, holder)

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        await self._holding().release(policy, key, holder)

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        return await self._holding().renew(policy, key, holder)

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        if not isinstance(self.store, Blocking):
            raise TypeError(f"{self.store!r} keeps no blocks")
        return await self.store.block(policy, key, duration)

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        await self._noting().write_note(policy, key, text, ttl)

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        return await self._noting().read_note(policy, key)

    def _noting(self) -> Noting:
        if not isinstance(self.store, Noting):
            raise TypeError(f"{self.store!r} keeps no notes")
        return self.store

    def _holding(self) -> Holding:
        if not isinstance(self.store, Holding):
            raise TypeError(f"{self.store!r} keeps no concurrency slots")
        return self.store


def innermost(store: object) -> object:
    """The store a chain of wrappers ends at (``store`` itself when it wraps nothing)."""
    while isinstance(store, Wrapping):
        store = store.store
    return store


class Capabilities(NamedTuple):
    """Which of the contract's protocols a store implements (through its wrappers: the innermost store's)."""

    store: bool
    preparing: bool
    binding: bool
    holding: bool
    blocking: bool
    noting: bool
    #: Its state lives in this process only (``local = True`` on the class, as on ``MemoryStore``): nothing but
    #: this process frees its slots, so a waiter need not poll for them.
    local: bool


_BY_CLASS: dict[type, Capabilities] = {}


def capabilities(store: object) -> Capabilities:
    """What ``store`` implements. Checked once per class (a protocol check costs microseconds, and limiters
    may be made per request); a wrapper has its innermost store's, but never binds (it decides over a coroutine).
    """
    inner = innermost(store)
    cls = type(inner)
    found = _BY_CLASS.get(cls)
    if found is None:
        found = _BY_CLASS[cls] = Capabilities(
            issubclass(cls, Store),
            issubclass(cls, Preparing),
            issubclass(cls, Binding),
            issubclass(cls, Holding),
            issubclass(cls, Blocking),
            issubclass(cls, Noting),
            getattr(cls, "local", False) is True,
        )
    if inner is store:
        return found
    return found._replace(store=isinstance(store, Store), binding=False)
