"""A concurrency slot held for the time of an ``async with`` block: what ``Limiter.acquire`` returns."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, cast

from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision
from ratelimit_core.leases import HoldBase, release_failed, renewal_failed, still_held
from ratelimit_core.pauses import SlotPauses
from ratelimit_core.waiting import nudge, served
from ratelimit_core.wrapper import capabilities

if TYPE_CHECKING:
    from ratelimit_core.limiter import Limiter
    from ratelimit_core.store import Holding

__all__ = ["Hold"]

logger = logging.getLogger("ratelimit_core")

#: Releases still running after their holder was cancelled: kept referenced until done.
_RELEASING: set[asyncio.Task[None]] = set()


class Hold(HoldBase):
    """``async with limiter.acquire(key) as decision:`` holds one slot of the limiter's cap.

    Entering takes the rate units and a slot in one atomic step, or neither,
    and gives the :class:`Decision`; a denial raises
    :class:`~ratelimit_core.RateLimitExceeded` carrying it, so the block never
    runs without its slot. Leaving the block frees the slot, whether by return,
    exception or cancellation (a release cancelled midway is made again in the
    background: releasing is idempotent); an acquire cancelled before its answer
    came back releases too, in case the store gave the slot.
    While the block runs, the slot's lease is renewed every third of it.

    A decision made by the failure policy (``on_error="allow"``) holds no
    slot; one made by the fallback store holds its slot there.
    """

    __slots__ = ("_renewal", "_timer")
    _limiter: Limiter
    _store: Holding | None

    def __init__(self, limiter: Limiter, key: str, cost: int, timeout: float | None) -> None:
        super().__init__(limiter, key, cost, timeout)
        self._timer: asyncio.TimerHandle | None = None
        self._renewal: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Decision:
        self._entering()
        try:
            decision, store = await self._take()
        except asyncio.CancelledError:
            # The store may have given the slot before the answer was lost: free it (a no-op if not).
            self._release_later(cast("Holding", self._limiter.store))
            raise
        return self._entered(decision, store)

    async def _take(self) -> tuple[Decision, Holding | None]:
        """The acquire, waiting up to the timeout: the decision, and the store now holding the slot."""
        limiter, key, timeout = self._limiter, self._key, self._timeout
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        pauses = SlotPauses(cast(Concurrency, limiter.policy.cap), capabilities(limiter.store).local, timeout)

        def pause(taken: tuple[Decision, Holding | None]) -> float | None:
            return pauses(taken[0], None if deadline is None else deadline - loop.time())

        ask = partial(limiter._take_once, key, self._cost, self._holder)
        try:
            return await served((limiter.store, limiter.policy.signature, key), deadline, ask, pause)
        except TimeoutError:
            return await ask()  # the turn came too late: a last ask

    async def __aexit__(self, *exc: object) -> None:
        store, self._store = self._store, None
        if self._timer is not None:
            self._timer.cancel()
        if self._renewal is not None:
            self._renewal.cancel()
        if store is None:
            return
        policy = self._limiter.policy
        try:
            await store.release(policy, self._key, self._holder)
            nudge(self._limiter.store, policy.signature, self._key)  # the next waiter of this process asks now
        except asyncio.CancelledError:
            # Cancelled while freeing: free it again in the background (a release is idempotent) and go on
            # being cancelled.
            self._release_later(store)
            raise
        except Exception as error:  # noqa: BLE001 - any failure: the slot lapses at its lease instead
            release_failed(self._limiter.name, error, policy.cap)

    def _release_later(self, store: Holding) -> None:
        """Release in a task of its own, kept referenced until it ends."""
        release = asyncio.ensure_future(store.release(self._limiter.policy, self._key, self._holder))
        _RELEASING.add(release)
        release.add_done_callback(_released)

    def _schedule(self) -> None:
        cap = self._limiter.policy.cap
        assert cap is not None  # noqa: S101 - a limiter with a cap made this hold
        self._timer = asyncio.get_running_loop().call_later(cap.lease / 3, self._renew_now)

    def _renew_now(self) -> None:
        self._timer = None
        if self._store is not None:
            self._renewal = asyncio.ensure_future(self._renew(self._store))

    async def _renew(self, store: Holding) -> None:
        try:
            kept = await store.renew(self._limiter.policy, self._key, self._holder)
        except Exception as error:  # noqa: BLE001 - a failed renewal is tried again a third of a lease later
            kept = renewal_failed(self._limiter.name, error)
        if still_held(self._limiter.name, kept) and self._store is not None:
            self._schedule()


def _released(task: asyncio.Task[None]) -> None:
    _RELEASING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("could not free a concurrency slot after a cancellation (%r)", task.exception())
