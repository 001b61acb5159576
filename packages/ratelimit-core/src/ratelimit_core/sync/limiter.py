"""The limiter in blocking calls: the async ``Limiter``'s policy, failures and observer, for threads."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from functools import partial
from typing import Literal, ParamSpec, TypeVar, cast

from ratelimit_core.checks import block_us, blocking, check, check_timeout, use_acquire
from ratelimit_core.decision import Decision
from ratelimit_core.decorating import CostOf, KeyOf, check_decorated, check_limited, denied_message, key_and_cost
from ratelimit_core.errors import RateLimitExceeded
from ratelimit_core.failures import BACKEND_ERRORS, raise_store_error
from ratelimit_core.limiter_base import LimiterBase
from ratelimit_core.pauses import wait_pause
from ratelimit_core.reservation import Reservation
from ratelimit_core.sync.holding import Hold
from ratelimit_core.sync.memory import MemoryStore
from ratelimit_core.sync.observed import ObservedStore
from ratelimit_core.sync.store import Blocking, Holding, Store
from ratelimit_core.sync.waiting import nudge, served

__all__ = ["Limiter"]

P = ParamSpec("P")
T = TypeVar("T")


class Limiter(LimiterBase[Store]):
    """Admits or denies units of work per key, in blocking calls; safe to share between threads.

    The same arguments, operations, decisions and errors as
    :class:`ratelimit_core.Limiter`, with plain calls in place of coroutines,
    and stores of this colour (``ratelimit_core.sync.MemoryStore``,
    ``SqliteStore``, ``ratelimit_redis.sync.RedisStore``). A sync and an async
    limiter with the same name, rates and algorithm on the same SQLite file or
    Redis share one limit.

    Raises:
        ValueError: as :class:`ratelimit_core.Limiter`.
        TypeError: a store of the async colour.
    """

    __slots__ = ()

    asynchronous = False
    _memory = MemoryStore
    _observed = ObservedStore

    def hit(self, key: str, cost: int = 1) -> Decision:
        """See :meth:`ratelimit_core.Limiter.hit`."""
        if key.__class__ is not str or cost.__class__ is not int or cost < 0:
            check(key, cost)
        try:
            if self._decide is not None:
                return self._decide(key, cost)
            return self._store.hit(self._policy, key, cost)
        except BACKEND_ERRORS as exc:
            return self._reported(self._degraded("hit", key, cost, exc), key, cost)

    def peek(self, key: str, cost: int = 1) -> Decision:
        """See :meth:`ratelimit_core.Limiter.peek`."""
        check(key, cost)
        try:
            return self._store.peek(self._policy, key, cost)
        except BACKEND_ERRORS as exc:
            return self._degraded("peek", key, cost, exc)

    def reset(self, key: str) -> None:
        """See :meth:`ratelimit_core.Limiter.reset`."""
        check(key, 0)
        error: Exception | None = None
        try:
            self._store.reset(self._policy, key)
        except BACKEND_ERRORS as exc:  # raised below, after the fallback is reset
            error = exc
        fallback = self._failures.fallback
        if fallback is not None:
            fallback.reset(self._policy, key)
        nudge(self._given, self._policy.signature, key)
        if error is not None:
            raise_store_error(error)

    def block(self, key: str, seconds: float) -> float:
        """See :meth:`ratelimit_core.Limiter.block`."""
        check(key, 0)
        duration = block_us(seconds)
        store = cast(Blocking, blocking(self._store))
        fallback = self._failures.fallback
        if fallback is not None:
            cast(Blocking, blocking(fallback)).block(self._policy, key, duration)
        try:
            lasts = store.block(self._policy, key, duration)
        except BACKEND_ERRORS as exc:
            raise_store_error(exc)
        return lasts / 1_000_000

    def charge(self, key: str, cost: int = 1) -> Decision:
        """See :meth:`ratelimit_core.Limiter.charge`."""
        return self._account("charge", key, cost)

    def refund(self, key: str, cost: int = 1) -> Decision:
        """See :meth:`ratelimit_core.Limiter.refund`."""
        return self._account("refund", key, cost)

    def _account(
        self, action: Literal["charge", "refund"], key: str, cost: int, until: tuple[int, ...] | None = None
    ) -> Decision:
        if self._policy.cap is not None:
            use_acquire(key, cost)
        check(key, cost)
        try:
            if action == "charge":
                return self._store.charge(self._policy, key, cost)
            refunded = self._store.refund(self._policy, key, cost, until)
        except BACKEND_ERRORS as exc:
            if until is not None:  # the fallback store never held these units: nothing of them to give back
                return self._degraded("peek", key, 1, exc)
            return self._degraded(action, key, cost, exc)
        nudge(self._given, self._policy.signature, key)
        return refunded

    def reserve(self, key: str, estimate: int = 1) -> Reservation[Decision]:
        """See :meth:`ratelimit_core.Limiter.reserve`; ``settle`` and ``cancel`` block and return the decision."""
        if self._policy.cap is not None:
            use_acquire(key, estimate)
        check(key, estimate)
        try:
            decision, until = self._store.reserve(self._policy, key, estimate)
        except BACKEND_ERRORS as exc:
            degraded = self._reported(self._degraded("hit", key, estimate, exc), key, estimate)
            return Reservation(self, key, estimate, degraded, None)
        return Reservation(self, key, estimate, decision, until)

    def wait(self, key: str, cost: int = 1, *, timeout: float | None = None) -> Decision:
        """See :meth:`ratelimit_core.Limiter.wait`: the threads of this process are served in arrival order."""
        check_timeout(timeout)
        check(key, cost)
        deadline = None if timeout is None else time.monotonic() + timeout

        def pause(decision: Decision) -> float | None:
            return wait_pause(decision, cost, None if deadline is None else deadline - time.monotonic())

        try:
            return served((self._given, self._policy.signature, key), deadline, partial(self.hit, key, cost), pause)
        except TimeoutError:
            raise RateLimitExceeded(self.peek(key, cost), "timed out waiting behind earlier waiters") from None

    def acquire(self, key: str, cost: int = 1, *, timeout: float | None = 0.0) -> Hold:
        """Hold one slot of the concurrency cap for a ``with`` block; see :meth:`ratelimit_core.Limiter.acquire`."""
        if self._policy.cap is None:
            raise TypeError(f"{self!r} has no concurrency cap: use 'limiter.hit(...)'")
        check(key, cost)
        check_timeout(timeout)
        return Hold(self, key, cost, timeout)

    def limited(
        self, key: KeyOf, *, cost: CostOf = 1, timeout: float | None = 0.0
    ) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """Limit every call of a plain function; see :meth:`ratelimit_core.Limiter.limited`."""
        check_limited(key, cost, timeout)

        def decorate(function: Callable[P, T]) -> Callable[P, T]:
            check_decorated(function, asynchronous=False)

            @functools.wraps(function)
            def limited_call(*args: P.args, **kwargs: P.kwargs) -> T:
                name, units = key_and_cost(key, cost, args, kwargs)
                if self._policy.cap is not None:
                    with self.acquire(name, units, timeout=timeout):
                        return function(*args, **kwargs)
                decision = self.hit(name, units) if timeout == 0 else self._waited(name, units, timeout)
                if not decision.allowed:
                    raise RateLimitExceeded(decision, denied_message(decision))
                return function(*args, **kwargs)

            return limited_call

        return decorate

    def _waited(self, key: str, cost: int, timeout: float | None) -> Decision:
        try:
            return self.wait(key, cost, timeout=timeout)
        except RateLimitExceeded as refused:
            return refused.decision

    def _take_once(self, key: str, cost: int, holder: str) -> tuple[Decision, Holding | None]:
        """One acquire for :class:`Hold`, with the failure policy: the decision, and the store holding the slot."""
        store = cast(Holding, self._store)  # checked at construction: it keeps slots
        try:
            decision = store.acquire(self._policy, key, cost, holder)
        except BACKEND_ERRORS as exc:
            failures = self._failures
            failures.warn(exc)
            if failures.fallback is not None:
                held = cast(Holding, failures.fallback)  # checked at construction too
                try:
                    decision = held.acquire(self._policy, key, cost, holder)
                except BACKEND_ERRORS as fallback_exc:
                    exc = fallback_exc
                else:
                    degraded = self._reported(decision._replace(degraded=True), key, cost)
                    return degraded, held if decision.allowed else None
            return self._reported(failures.by_policy(exc), key, cost), None  # no store holds a slot
        return decision, store if decision.allowed else None

    def _degraded(self, action: str, key: str, cost: int, exc: Exception) -> Decision:
        """The failure policy's answer to ``action`` (the fallback store's, blocking, when there is one)."""
        fallback = self._failures.fallback
        call = None if fallback is None else partial(getattr(fallback, action), self._policy)
        return self._failures.degraded_now(call, key, cost, exc)
