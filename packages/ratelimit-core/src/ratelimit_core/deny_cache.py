"""Local answers for keys a remote store has just denied: a client hammering a denied key costs no round trip.

``DenyCachedStore(RedisStore(client))`` (any store works; a remote one gains).
Exact by construction: it answers only where the store's answer is known in
advance. A limiter with one rate that denied a hit of cost 1 with
``retry_after`` ``r`` keeps denying every hit of cost 1 for ``r`` (a denial
writes nothing, so nothing changes but time): its ``remaining`` stays 0, and
its ``retry_after`` and ``reset_after`` fall by the time that passed. The cache
measures that time from just before the call was sent, which is never later
than the store's decision, so it stops answering a little early rather than
late. (With several rates, or another cost, the other rates' figures move in
ways only the state shows; those decisions always go to the store.)

A ``reset`` or a refund through this store forgets the key's denial, and a
denial whose call was sent before that forgetting (its reply was in flight)
is not kept. What no cache can see: a ``reset`` or a refund made by another
process. Do not cache denials where those must take effect at once everywhere.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ratelimit_core.decision import Decision
from ratelimit_core.memory_tables import bounded
from ratelimit_core.observe import Observer, guarded
from ratelimit_core.policy import Policy
from ratelimit_core.store import Store
from ratelimit_core.wrapper import WrapperStore

__all__ = ["DenyCache", "DenyCachedStore"]

_US = 1_000_000
#: What the cache keeps a denial under: the limiter's signature and the key.
Slot = tuple[tuple[str, ...], str]


class DenyCache:
    """Denials by (limiter signature, key), the oldest forgotten first past ``size``.

    Times are whole microseconds of a local clock, so what is subtracted is exact.
    """

    __slots__ = ("_denials", "_forgotten", "_size")

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        # slot -> (local µs just before the call was sent, retry_after in µs, reset_after in µs, the denial)
        self._denials: OrderedDict[Slot, tuple[int, int, int, Decision]] = OrderedDict()
        # slot -> local µs of its last forget: a denial asked before then may be stale when it arrives
        self._forgotten: OrderedDict[Slot, int] = OrderedDict()

    @property
    def size(self) -> int:
        """How many denials are kept."""
        return len(self._denials)

    def clear(self) -> None:
        """Forget every denial."""
        self._denials.clear()
        self._forgotten.clear()

    def get(self, slot: Slot, now_us: int) -> Decision | None:
        """The denial the store would give now to a hit of cost 1, if it is known; else ``None``."""
        cached = self._denials.get(slot)
        if cached is None:
            return None
        sent, retry, reset, denial = cached
        elapsed = now_us - sent
        if elapsed >= retry:
            del self._denials[slot]
            return None
        return denial._replace(retry_after=(retry - elapsed) / _US, reset_after=max(0, reset - elapsed) / _US)

    def put(self, slot: Slot, sent_us: int, decision: Decision) -> None:
        """Keep ``decision`` (a denial of cost 1 on a one-rate limiter, asked at local ``sent_us``)."""
        if decision.allowed or decision.retry_after is None:
            return
        if self._forgotten and slot in self._forgotten:
            if sent_us <= self._forgotten[slot]:  # asked before a reset or refund: it may be stale
                return
            del self._forgotten[slot]
        retry, reset = round(decision.retry_after * _US), round(decision.reset_after * _US)
        self._denials[slot] = (sent_us, retry, reset, decision)
        if len(self._denials) > self._size:
            self._denials.popitem(last=False)

    def forget(self, slot: Slot, now_us: int) -> None:
        """Drop the slot's denial (a reset or a refund at local ``now_us``), and any denial asked before it."""
        self._denials.pop(slot, None)
        self._forgotten[slot] = now_us
        self._forgotten.move_to_end(slot)
        if len(self._forgotten) > self._size:
            self._forgotten.popitem(last=False)


class DenyCachedStore(WrapperStore):
    """``store``, with the denials of one-rate limiters at cost 1 answered locally until their ``retry_after``.

    Args:
        store: The store it wraps.
        size: At most this many denials kept (the oldest go first).
        clock: A zero-argument callable returning seconds, for the time that
            passed (default: the monotonic clock; tests give the store's clock).
        observer: Told of each answer from the cache (``deny_cache_hit``).

    Raises:
        ValueError: a bad ``size``, ``clock`` or ``observer``.
    """

    def __init__(
        self,
        store: Store,
        *,
        size: int = 10_000,
        clock: Callable[[], float] | None = None,
        observer: Observer | None = None,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an int >= 1, got {size!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        if observer is not None and not isinstance(observer, Observer):
            raise ValueError(f"observer must be a ratelimit_core.observe.Observer, got {observer!r}")
        super().__init__(store)
        self.cache = DenyCache(size)
        self._clock = clock
        self._given_clock = clock is not None
        self._observer = None if observer is None else guarded(observer)

    def __repr__(self) -> str:
        return f"DenyCachedStore({self.store!r}, denials={self.cache.size})"

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        if cost != 1 or policy.single is None:
            return await self.store.hit(policy, key, cost)
        slot, sent = (policy.signature, bounded(key)), self._now()
        cached = self.cache.get(slot, sent)
        if cached is not None:
            if self._observer is not None:
                self._observer.deny_cache_hit(self.label, policy.name)
            return cached
        decision = await self.store.hit(policy, key, cost)
        self.cache.put(slot, sent, decision)
        return decision

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        self.cache.forget((policy.signature, bounded(key)), self._now())  # the room given back makes it wrong
        return await self.store.refund(policy, key, cost, until)

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        self.cache.forget((policy.signature, bounded(key)), self._now())  # the store's denial says how long
        return await super().block(policy, key, duration)

    async def reset(self, policy: Policy, key: str) -> None:
        self.cache.forget((policy.signature, bounded(key)), self._now())
        await self.store.reset(policy, key)

    def _follow_clock(self, clock: Callable[[], float] | None) -> bool:
        """Measure with ``clock`` (``None``: the monotonic clock again); a given clock is kept (``False``)."""
        if self._given_clock:
            return False
        self._clock = clock
        self.cache.clear()  # its denials were timed on the other clock
        return True

    def _forget_all(self) -> None:
        """Forget every denial (the wrapped store is reset on its own)."""
        self.cache.clear()

    def _now(self) -> int:
        """Microseconds of the local clock."""
        return time.monotonic_ns() // 1000 if self._clock is None else round(self._clock() * 1_000_000)
