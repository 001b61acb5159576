"""The limiter: policy (names, costs, failures, waiting) over a store."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, Literal, ParamSpec, TypeVar, cast

from ratelimit_core.checks import block_us, blocking, check, check_timeout, use_acquire
from ratelimit_core.decision import Decision
from ratelimit_core.decorating import CostOf, KeyOf, check_decorated, check_limited, denied_message, key_and_cost
from ratelimit_core.errors import RateLimitExceeded
from ratelimit_core.failures import BACKEND_ERRORS, OnError, raise_store_error
from ratelimit_core.holding import Hold
from ratelimit_core.limiter_base import LimiterBase
from ratelimit_core.memory import MemoryStore
from ratelimit_core.observed import ObservedStore
from ratelimit_core.pauses import wait_pause
from ratelimit_core.reservation import Reservation
from ratelimit_core.store import Blocking, Holding, Store
from ratelimit_core.waiting import nudge, served

__all__ = ["Limiter", "OnError"]

P = ParamSpec("P")
T = TypeVar("T")


class Limiter(LimiterBase[Store]):
    """Admits or denies units of work per key, under one or several rates.

    Args:
        rates: ``"100/minute"``, ``"10/second; 1000/hour"``, a :class:`Rate`, or
            a list of either. With several rates, a hit consumes from all of them
            or from none. At most one :class:`Concurrency` cap (``"2 concurrent"``)
            may be among them: such a limiter admits with :meth:`acquire`.
        algorithm: An :class:`Algorithm` or its name. Default: token bucket.
        store: Where state lives. Default: a new :class:`MemoryStore`.
        name: Namespaces the state: limiters with different names, algorithms
            or rates never share state, even on one store.
        on_error: What a store failure gives: ``"raise"`` a :class:`StoreError`,
            ``"allow"`` (fail open) or ``"deny"`` (fail closed). Such decisions
            have ``degraded=True``.
        fallback: A store that answers while ``store`` fails (for example a
            ``MemoryStore`` behind Redis); its decisions have ``degraded=True``.
            When it fails too, ``on_error`` applies.
        observer: An :class:`~ratelimit_core.observe.Observer` told of each
            admission decision and store call (``ratelimit_core.otel``,
            ``ratelimit_core.prometheus``). Without one, nothing is measured.
            What it raises is caught and counted (:attr:`observer_errors`).

    Raises:
        ValueError: for a bad rate, algorithm, name, ``on_error`` or store
            (with a cap, a store that keeps no slots).
    """

    __slots__ = ()

    asynchronous = True
    _memory = MemoryStore
    _observed = ObservedStore

    @property
    def nowait(self) -> bool:
        """Whether :meth:`hit_nowait` can decide: the store (and the fallback) decide without I/O."""
        return self._nowait

    async def hit(self, key: str, cost: int = 1) -> Decision:
        """Consume ``cost`` units for ``key`` if every rate has room, else nothing.

        A ``cost`` of 0 is always admitted, consumes nothing and reports what is
        left. A cost above a rate's capacity is denied with ``retry_after=None``.

        Raises:
            TypeError: ``key`` is not a ``str``.
            ValueError: ``cost`` is not an int >= 0.
            StoreError: the store failed and ``on_error="raise"``.
        """
        if key.__class__ is not str or cost.__class__ is not int or cost < 0:
            check(key, cost)
        try:
            if self._decide is not None:
                return self._decide(key, cost)
            return await self._store.hit(self._policy, key, cost)
        except BACKEND_ERRORS as exc:
            return self._reported(await self._failures.degraded("hit", key, cost, exc), key, cost)

    def hit_nowait(self, key: str, cost: int = 1) -> Decision:
        """:meth:`hit` without a coroutine, for a store that decides without I/O.

        The same decision, failure policy and errors as :meth:`hit`, from plain
        (synchronous) code or where a coroutine per call is too much.
        :class:`MemoryStore` decides without I/O; a store that waits on a
        server (``RedisStore``) does not: see :attr:`nowait`.

        Raises:
            TypeError: ``key`` is not a ``str``, or the store cannot decide
                without I/O (``nowait`` is ``False``).
            ValueError: ``cost`` is not an int >= 0.
            StoreError: the store failed and ``on_error="raise"``.
        """
        if key.__class__ is not str or cost.__class__ is not int or cost < 0:
            check(key, cost)
        decide = self._decide if self._nowait else None
        if decide is None:
            if self._policy.cap is not None:
                use_acquire(key, cost)
            raise TypeError(f"{self._store!r} decides over I/O, not without waiting: use 'await limiter.hit(...)'")
        try:
            return decide(key, cost)
        except BACKEND_ERRORS as exc:
            return self._reported(self._failures.degraded_now(self._fallback_decide, key, cost, exc), key, cost)

    async def peek(self, key: str, cost: int = 1) -> Decision:
        """Would ``hit(key, cost)`` be admitted now? Consumes nothing.

        ``remaining`` is what is left now (a fresh key of ``"3/minute"`` peeks
        ``remaining == 3``); ``retry_after`` is as for a hit.
        """
        check(key, cost)
        try:
            return await self._store.peek(self._policy, key, cost)
        except BACKEND_ERRORS as exc:
            return await self._failures.degraded("peek", key, cost, exc)

    async def reset(self, key: str) -> None:
        """Forget what ``key`` has consumed (in the fallback store too).

        Raises:
            TypeError: ``key`` is not a ``str``.
            StoreError: the store failed (whatever ``on_error`` says: a reset
                that did not happen must not look as if it had).
        """
        check(key, 0)
        error: Exception | None = None
        try:
            await self._store.reset(self._policy, key)
        except BACKEND_ERRORS as exc:  # raised below, after the fallback is reset
            error = exc
        fallback = self._failures.fallback
        if fallback is not None:
            await fallback.reset(self._policy, key)
        nudge(self._given, self._policy.signature, key)  # room: a waiter of this key asks now
        if error is not None:
            raise_store_error(error)

    async def block(self, key: str, seconds: float) -> float:
        """Deny ``key`` for ``seconds`` from now: a penalty, or a pause an upstream announced.

        Until the block ends, :meth:`hit`, :meth:`wait`, :meth:`reserve`,
        :meth:`peek` and :meth:`acquire` deny ``key`` whatever its rates hold,
        with ``remaining`` 0 and a ``retry_after`` of at least the block's rest
        (a waiter sleeps through it). The store checks the block in the same
        atomic step as each decision, so every process and thread sharing the
        store honours it. It belongs to the limiter's name and the key: every
        limiter of this name on the store honours it, whatever its rates.
        A block never shortens one already set (the later end stands);
        :meth:`reset` lifts it. A fallback store is blocked too.

        Returns:
            The seconds the key's block lasts from now.

        Raises:
            TypeError: ``key`` is not a ``str``, or the store keeps no blocks.
            ValueError: ``seconds`` is not a number from 0 to a year.
            StoreError: the store failed (whatever ``on_error`` says: a block
                that did not happen must not look as if it had).
        """
        check(key, 0)
        duration = block_us(seconds)
        store = cast(Blocking, blocking(self._store))
        fallback = self._failures.fallback
        if fallback is not None:
            await cast(Blocking, blocking(fallback)).block(self._policy, key, duration)
        try:
            lasts = await store.block(self._policy, key, duration)
        except BACKEND_ERRORS as exc:
            raise_store_error(exc)
        return lasts / 1_000_000

    async def charge(self, key: str, cost: int = 1) -> Decision:
        """Consume ``cost`` units for ``key`` on every rate, whether they fit or not.

        For work that already happened (the tokens a call used, the seconds it
        ran): the state may go beyond the limit, an overdraft that later hits
        wait out exactly. The decision is what ``peek(key)`` says afterwards:
        ``allowed`` is whether the key still has room for a unit, and
        ``retry_after`` how long until it has.

        Raises:
            TypeError, ValueError, StoreError: as :meth:`hit`.
        """
        return await self._account("charge", key, cost)

    async def refund(self, key: str, cost: int = 1) -> Decision:
        """Give back up to ``cost`` units ``key`` consumed, on every rate, never beyond full capacity.

        What each algorithm gives back is in docs/limiter.md (a token bucket's
        TAT moves back, never before now; a window's count goes down, never
        below 0; a log's debt, then its newest units in the window, go). To give
        back a particular hit's units, reserve them and settle. The decision is
        what ``peek(key)`` says afterwards.

        Raises:
            TypeError, ValueError, StoreError: as :meth:`hit`.
        """
        return await self._account("refund", key, cost)

    async def _account(
        self, action: Literal["charge", "refund"], key: str, cost: int, until: tuple[int, ...] | None = None
    ) -> Decision:
        """``charge`` or ``refund`` on the store, with the checks and the failure policy of :meth:`hit`.

        ``until`` (a refund of a reservation's units): what the store's ``reserve`` returned.
        """
        if self._policy.cap is not None:
            use_acquire(key, cost)
        check(key, cost)
        try:
            if action == "charge":
                return await self._store.charge(self._policy, key, cost)
            refunded = await self._store.refund(self._policy, key, cost, until)
        except BACKEND_ERRORS as exc:
            if until is not None:  # the fallback store never held these units: nothing of them to give back
                return await self._failures.degraded("peek", key, 1, exc)
            return await self._failures.degraded(action, key, cost, exc)
        nudge(self._given, self._policy.signature, key)
        return refunded

    async def reserve(self, key: str, estimate: int = 1) -> Reservation[Coroutine[Any, Any, Decision]]:
        """Hit ``estimate`` units now and settle the real cost later (:class:`Reservation`).

        ``bool(reservation)`` is whether the estimate was admitted. A
        reservation never settled stays charged at its estimate. Settled low,
        it gives back only what its units still weigh (docs/limiter.md).

        Raises:
            TypeError, ValueError, StoreError: as :meth:`hit`.
        """
        if self._policy.cap is not None:
            use_acquire(key, estimate)
        check(key, estimate)
        try:
            decision, until = await self._store.reserve(self._policy, key, estimate)
        except BACKEND_ERRORS as exc:
            # Decided by the fallback or the failure policy: no units the primary store can give back.
            degraded = self._reported(await self._failures.degraded("hit", key, estimate, exc), key, estimate)
            return Reservation(self, key, estimate, degraded, None)
        return Reservation(self, key, estimate, decision, until)

    async def wait(self, key: str, cost: int = 1, *, timeout: float | None = None) -> Decision:
        """Wait until ``cost`` units are admitted for ``key``, then consume them.

        Waiters of one key are served in the order they came (in this process):
        the first asks the store and sleeps, on one timer, until the
        ``retry_after`` it was given; the others wait for their turn.

        Args:
            key: The identity.
            cost: Units to consume.
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Raises:
            RateLimitExceeded: the cost can never be admitted, or not within
                ``timeout`` (raised at once when the wait needed is already
                longer than what is left of ``timeout``).
        """
        check_timeout(timeout)
        check(key, cost)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout

        def pause(decision: Decision) -> float | None:
            return wait_pause(decision, cost, None if deadline is None else deadline - loop.time())

        where = (self._given, self._policy.signature, key)
        try:
            return await served(where, deadline, partial(self.hit, key, cost), pause)
        except TimeoutError:
            raise RateLimitExceeded(await self.peek(key, cost), "timed out waiting behind earlier waiters") from None

    def acquire(self, key: str, cost: int = 1, *, timeout: float | None = 0.0) -> Hold:
        """Hold one slot of the limiter's concurrency cap for an ``async with`` block.

        ``async with limiter.acquire(key) as decision:`` admits only when every
        rate has room for ``cost`` *and* a slot is free, in one atomic step: it
        consumes the units and takes the slot, or does neither. A denial raises
        :class:`RateLimitExceeded` carrying the decision (the block does not
        run). Leaving the block frees the slot, by return, exception or
        cancellation; a running block renews its lease.

        Args:
            key: The identity.
            cost: Units to consume from the rates (the slot is one either way).
            timeout: Seconds to wait for room: ``0`` (the default) does not
                wait, ``None`` waits as long as needed. Waiters of one key are
                served in the order they came (in this process); a slot freed
                here wakes the first at once, one freed by another process is
                found by its asking again every few milliseconds; a wait on a
                rate sleeps its ``retry_after``.

        Raises:
            TypeError: the limiter has no cap (use :meth:`hit`), or ``key`` is
                not a ``str``.
            ValueError: a bad ``cost`` or ``timeout``.
        """
        if self._policy.cap is None:
            raise TypeError(f"{self!r} has no concurrency cap: use 'await limiter.hit(...)'")
        check(key, cost)
        check_timeout(timeout)
        return Hold(self, key, cost, timeout)

    def limited(
        self, key: KeyOf, *, cost: CostOf = 1, timeout: float | None = 0.0
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
        """Limit every call of a coroutine function: a decorator.

        ::

            @limiter.limited(key=lambda tenant, **_: tenant, cost=1, timeout=0)
            async def export(tenant: str, rows: int) -> None: ...

        Args:
            key: The key, or a function of the call's arguments (positional
                and keyword, as they were given) that returns it.
            cost: The units, or a function of the call's arguments.
            timeout: As for :meth:`acquire`: ``0`` raises at once when there is
                no room, ``None`` waits as long as needed, a number waits up to
                that many seconds. A limiter with a cap holds its slot for the
                whole call.

        Raises:
            TypeError: at decoration, a plain function (use
                ``ratelimit_core.sync.Limiter``) or a bad ``key``.
            ValueError: at decoration, a bad ``cost`` or ``timeout``.
            RateLimitExceeded: from a call that was not admitted (the function
                did not run).
        """
        check_limited(key, cost, timeout)

        def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
            check_decorated(function, asynchronous=True)

            @functools.wraps(function)
            async def limited_call(*args: P.args, **kwargs: P.kwargs) -> T:
                name, units = key_and_cost(key, cost, args, kwargs)
                if self._policy.cap is not None:
                    async with self.acquire(name, units, timeout=timeout):
                        return await function(*args, **kwargs)
                decision = await (self.hit(name, units) if timeout == 0 else self._waited(name, units, timeout))
                if not decision.allowed:
                    raise RateLimitExceeded(decision, denied_message(decision))
                return await function(*args, **kwargs)

            return limited_call

        return decorate

    async def _waited(self, key: str, cost: int, timeout: float | None) -> Decision:
        try:
            return await self.wait(key, cost, timeout=timeout)
        except RateLimitExceeded as refused:
            return refused.decision

    async def _take_once(self, key: str, cost: int, holder: str) -> tuple[Decision, Holding | None]:
        """One acquire for :class:`Hold`, with the failure policy: the decision, and the store holding the slot."""
        store = cast(Holding, self._store)  # checked at construction: it keeps slots
        try:
            decision = await store.acquire(self._policy, key, cost, holder)
        except BACKEND_ERRORS as exc:
            failures = self._failures
            failures.warn(exc)
            fallback = failures.fallback
            if fallback is not None:
                held = cast(Holding, fallback)  # checked at construction too
                try:
                    decision = await held.acquire(self._policy, key, cost, holder)
                except BACKEND_ERRORS as fallback_exc:
                    exc = fallback_exc
                else:
                    degraded = self._reported(decision._replace(degraded=True), key, cost)
                    return degraded, held if decision.allowed else None
            return self._reported(failures.by_policy(exc), key, cost), None  # no store holds a slot
        return decision, store if decision.allowed else None
