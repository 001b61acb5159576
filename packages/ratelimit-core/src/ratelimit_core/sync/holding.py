"""A concurrency slot held by a thread for the time of a ``with`` block: what ``sync.Limiter.acquire`` returns."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import TYPE_CHECKING, cast

from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision
from ratelimit_core.leases import HoldBase, release_failed, renewal_failed, still_held
from ratelimit_core.pauses import SlotPauses
from ratelimit_core.sync.waiting import nudge, served
from ratelimit_core.wrapper import capabilities

if TYPE_CHECKING:
    from ratelimit_core.sync.limiter import Limiter
    from ratelimit_core.sync.store import Holding

__all__ = ["Hold"]


class Hold(HoldBase):
    """``with limiter.acquire(key) as decision:`` holds one slot of the limiter's cap, in this thread.

    As :class:`ratelimit_core.Hold`: entering takes the rate units and a slot in
    one atomic step, or neither; a denial raises
    :class:`~ratelimit_core.RateLimitExceeded` carrying the decision. Leaving
    the block frees the slot, by return or exception. While the block runs, a
    timer thread renews the slot's lease every third of it.
    """

    __slots__ = ("_timer",)
    _limiter: Limiter
    _store: Holding | None

    def __init__(self, limiter: Limiter, key: str, cost: int, timeout: float | None) -> None:
        super().__init__(limiter, key, cost, timeout)
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Decision:
        self._entering()
        return self._entered(*self._take())

    def _take(self) -> tuple[Decision, Holding | None]:
        """The acquire, waiting up to the timeout: the decision, and the store now holding the slot."""
        limiter, key, timeout = self._limiter, self._key, self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        pauses = SlotPauses(cast(Concurrency, limiter.policy.cap), capabilities(limiter.store).local, timeout)

        def pause(taken: tuple[Decision, Holding | None]) -> float | None:
            return pauses(taken[0], None if deadline is None else deadline - time.monotonic())

        ask = partial(limiter._take_once, key, self._cost, self._holder)
        try:
            return served((limiter.store, limiter.policy.signature, key), deadline, ask, pause)
        except TimeoutError:
            return ask()  # the turn came too late: a last ask

    def __exit__(self, *exc: object) -> None:
        store, self._store = self._store, None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if store is None:
            return
        policy = self._limiter.policy
        try:
            store.release(policy, self._key, self._holder)
            nudge(self._limiter.store, policy.signature, self._key)  # the next waiter of this process asks now
        except Exception as error:  # noqa: BLE001 - any failure: the slot lapses at its lease instead
            release_failed(self._limiter.name, error, policy.cap)

    def _schedule(self) -> None:
        cap = self._limiter.policy.cap
        assert cap is not None  # noqa: S101 - a limiter with a cap made this hold
        timer = self._timer = threading.Timer(cap.lease / 3, self._renew)
        timer.daemon = True
        timer.start()

    def _renew(self) -> None:  # on the timer's thread
        store = self._store
        if store is None:
            return
        try:
            kept = store.renew(self._limiter.policy, self._key, self._holder)
        except Exception as error:  # noqa: BLE001 - a failed renewal is tried again a third of a lease later
            kept = renewal_failed(self._limiter.name, error)
        if still_held(self._limiter.name, kept) and self._store is not None:
            self._schedule()
