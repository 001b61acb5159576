"""The limiter: policy (names, costs, failures, waiting) over a store."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, NoReturn, cast

from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision, new_decision, new_rate_status
from ratelimit_core.errors import RateLimitExceeded, StoreError
from ratelimit_core.holding import Hold
from ratelimit_core.memory import MemoryStore
from ratelimit_core.observe import Guarded, ObservedStore, Observer, guarded, observed_decide, report, store_label
from ratelimit_core.policy import Policy, policy_for
from ratelimit_core.rate import Rate, parse_limits
from ratelimit_core.reservation import Reservation
from ratelimit_core.store import Binding, Decide, Holding, Preparing, Store

__all__ = ["Limiter", "OnError"]

OnError = Literal["raise", "allow", "deny"]
_ON_ERROR = ("raise", "allow", "deny")
_CONTRACT = ("hit", "peek", "reset", "charge", "refund", "reserve")
_HOLDING = ("acquire", "release", "renew")

#: What a store raises when its backend fails: these, and only these, go to the
#: failure policy. Anything else is a bug (in a store, or in the caller) and propagates.
BACKEND_ERRORS: tuple[type[Exception], ...] = (StoreError, OSError, TimeoutError)

#: How long a denial made by ``on_error="deny"`` asks the caller to wait.
DEGRADED_RETRY_AFTER = 1.0
#: At most one warning per this many seconds while the store keeps failing.
_WARN_EVERY = 10.0
#: How often an ``acquire`` that waits asks again while the cap is full (seconds, doubling).
_SLOT_POLL_FIRST, _SLOT_POLL_MAX = 0.005, 0.1

logger = logging.getLogger("ratelimit_core")

# Module attributes so tests can drive ``wait`` on a fake clock without sleeping.
_sleep = asyncio.sleep
_monotonic = time.monotonic


class Limiter:
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

    Raises:
        ValueError: for a bad rate, algorithm, name, ``on_error`` or store
            (with a cap, a store that keeps no slots).
    """

    __slots__ = (
        "_decide",
        "_fallback",
        "_fallback_decide",
        "_given",
        "_guard",
        "_last_warning",
        "_nowait",
        "_observer",
        "_on_error",
        "_policy",
        "_store",
    )

    def __init__(
        self,
        rates: str | Rate | Concurrency | Sequence[str | Rate | Concurrency],
        *,
        algorithm: Algorithm | str = Algorithm.TOKEN_BUCKET,
        store: Store | None = None,
        name: str = "default",
        on_error: OnError = "raise",
        fallback: Store | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._policy = policy_for(name, Algorithm(algorithm), *parse_limits(rates))
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
        for label, candidate in (("store", store), ("fallback", fallback)):
            if candidate is not None and (isinstance(candidate, type) or not _kind(candidate)[0]):
                missing = [name for name in _CONTRACT if not callable(getattr(candidate, name, None))]
                raise ValueError(
                    f"{label} must implement the Store contract ({', '.join(_CONTRACT)}), got {candidate!r}"
                    + (f" (it lacks {', '.join(missing)})" if missing and not isinstance(candidate, type) else "")
                )
        self._store: Store = MemoryStore() if store is None else store
        if self._policy.cap is not None:
            for label, candidate in (("store", self._store), ("fallback", fallback)):
                if candidate is not None and not _kind(candidate)[3]:
                    raise ValueError(
                        f"{label} {candidate!r} keeps no concurrency slots ({', '.join(_HOLDING)}), "
                        f"which {self._policy.cap} needs"
                    )
        # A store may check a policy up front, so that what it cannot do is a
        # ValueError here, not a store failure on every decision.
        stores: tuple[object, ...] = (self._store, fallback)
        for each in stores:
            if each is not None and _kind(each)[1]:
                cast(Preparing, each).prepare(self._policy)
        # A store that decides without I/O may bind: a plain decide(key, cost), called without a coroutine.
        if self._policy.cap is None:
            self._decide = _bound(self._store, self._policy)
            self._fallback_decide = None if fallback is None else _bound(fallback, self._policy)
            self._nowait = self._decide is not None and (fallback is None or self._fallback_decide is not None)
        else:  # hit is refused, at no cost to other limiters' hits
            self._decide, self._fallback_decide, self._nowait = _use_acquire, None, False
        self._on_error: OnError = on_error
        self._fallback = fallback
        self._last_warning = -math.inf
        self._given = self._store
        self._observer = observer
        self._guard: Guarded | None = None
        if observer is not None:
            if not isinstance(observer, Observer):
                raise ValueError(f"observer must be a ratelimit_core.observe.Observer, got {observer!r}")
            # An observer never changes a decision: what it raises is caught, counted and logged.
            self._guard = guarded(observer)
            self._observe(self._guard)

    def _observe(self, observer: Observer) -> None:
        """Put the observing code where the plain code was: nothing of it runs without an observer."""
        policy = self._policy
        if self._decide is not None and self._policy.cap is None:
            self._decide = observed_decide(self._decide, observer, policy, self._store, decisions=True)
        if self._fallback_decide is not None:
            self._fallback_decide = observed_decide(
                self._fallback_decide, observer, policy, self._fallback, decisions=False
            )
        self._store = cast(Store, ObservedStore(self._store, observer, decisions=True))
        if self._fallback is not None:
            self._fallback = cast(Store, ObservedStore(self._fallback, observer, decisions=False))

    def _reported(self, decision: Decision, key: str, cost: int) -> Decision:
        """``decision`` (the failure policy's, or a fallback's), told to the observer."""
        if self._guard is not None:
            report(self._guard, self._policy, store_label(self._given), key, cost, decision)
        return decision

    @property
    def observer(self) -> Observer | None:
        """The observer, or ``None``."""
        return self._observer

    @property
    def observer_errors(self) -> int:
        """How many of the observer's reports raised (each caught and counted; decisions go on unaffected)."""
        return 0 if self._guard is None else self._guard.errors

    def __repr__(self) -> str:
        rates = "; ".join(str(r) for r in self._policy.limits)
        return (
            f"Limiter({rates!r}, algorithm={self.algorithm.value!r}, name={self.name!r}, "
            f"store={self._store!r}, on_error={self._on_error!r}, fallback={self._fallback!r})"
        )

    @property
    def name(self) -> str:
        return self._policy.name

    @property
    def algorithm(self) -> Algorithm:
        return self._policy.algorithm

    @property
    def rates(self) -> tuple[Rate, ...]:
        return self._policy.rates

    @property
    def cap(self) -> Concurrency | None:
        """The concurrency cap, or ``None``."""
        return self._policy.cap

    @property
    def store(self) -> Store:
        return self._given

    @property
    def policy(self) -> Policy:
        """What stores are given: name, algorithm, rates and their arithmetic."""
        return self._policy

    async def hit(self, key: str, cost: int = 1) -> Decision:
        """Consume ``cost`` units for ``key`` if every rate has room, else nothing.

        A ``cost`` of 0 is always admitted, consumes nothing and reports what is
        left. A cost above a rate's capacity is denied with ``retry_after=None``.

        Raises:
            TypeError: ``key`` is not a ``str``.
            ValueError: ``cost`` is not an int >= 0.
            StoreError: the store failed and ``on_error="raise"``.
        """
        if key.__class__ is not str:
            _bad_key(key)
        if cost.__class__ is not int or cost < 0:
            _bad_cost(cost)
        try:
            if self._decide is not None:
                return self._decide(key, cost)
            return await self._store.hit(self._policy, key, cost)
        except BACKEND_ERRORS as exc:
            return self._reported(await self._degraded("hit", key, cost, exc), key, cost)

    @property
    def nowait(self) -> bool:
        """Whether :meth:`hit_nowait` can decide: the store (and the fallback) decide without I/O."""
        return self._nowait

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
        if key.__class__ is not str:
            _bad_key(key)
        if cost.__class__ is not int or cost < 0:
            _bad_cost(cost)
        decide = self._decide if self._nowait else None
        if decide is None:
            if self._policy.cap is not None:
                _use_acquire(key, cost)
            raise TypeError(f"{self._store!r} decides over I/O, not without waiting: use 'await limiter.hit(...)'")
        try:
            return decide(key, cost)
        except BACKEND_ERRORS as exc:
            self._warn(exc)
            if self._fallback_decide is not None:
                try:
                    return self._reported(self._fallback_decide(key, cost)._replace(degraded=True), key, cost)
                except BACKEND_ERRORS as fallback_exc:
                    exc = fallback_exc
            return self._reported(self._by_policy(exc), key, cost)

    async def peek(self, key: str, cost: int = 1) -> Decision:
        """Would ``hit(key, cost)`` be admitted now? Consumes nothing.

        ``remaining`` is what is left now (a fresh key of ``"3/minute"`` peeks
        ``remaining == 3``); ``retry_after`` is as for a hit.
        """
        if key.__class__ is not str:
            _bad_key(key)
        if cost.__class__ is not int or cost < 0:
            _bad_cost(cost)
        try:
            return await self._store.peek(self._policy, key, cost)
        except BACKEND_ERRORS as exc:
            return await self._degraded("peek", key, cost, exc)

    async def reset(self, key: str) -> None:
        """Forget what ``key`` has consumed (in the fallback store too).

        Raises:
            TypeError: ``key`` is not a ``str``.
            StoreError: the store failed (whatever ``on_error`` says: a reset
                that did not happen must not look as if it had).
        """
        if key.__class__ is not str:
            _bad_key(key)
        error: Exception | None = None
        try:
            await self._store.reset(self._policy, key)
        except BACKEND_ERRORS as exc:  # raised below, after the fallback is reset
            error = exc
        if self._fallback is not None:
            await self._fallback.reset(self._policy, key)
        if error is not None:
            _raise_store_error(error)

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
        below 0; a log's newest units in the window go). The decision is what
        ``peek(key)`` says afterwards.

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
            _use_acquire(key, cost)
        if key.__class__ is not str:
            _bad_key(key)
        if cost.__class__ is not int or cost < 0:
            _bad_cost(cost)
        try:
            if action == "charge":
                return await self._store.charge(self._policy, key, cost)
            return await self._store.refund(self._policy, key, cost, until)
        except BACKEND_ERRORS as exc:
            if until is not None:  # the fallback store never held these units: nothing of them to give back
                return await self._degraded("peek", key, 1, exc)
            return await self._degraded(action, key, cost, exc)

    async def reserve(self, key: str, estimate: int = 1) -> Reservation:
        """Hit ``estimate`` units now and settle the real cost later (:class:`Reservation`).

        ``bool(reservation)`` is whether the estimate was admitted. A
        reservation never settled stays charged at its estimate. Settled low,
        it gives back only what its units still weigh (docs/limiter.md).

        Raises:
            TypeError, ValueError, StoreError: as :meth:`hit`.
        """
        if self._policy.cap is not None:
            _use_acquire(key, estimate)
        if key.__class__ is not str:
            _bad_key(key)
        if estimate.__class__ is not int or estimate < 0:
            _bad_cost(estimate)
        try:
            decision, until = await self._store.reserve(self._policy, key, estimate)
        except BACKEND_ERRORS as exc:
            # Decided by the fallback or the failure policy: no units the primary store can give back.
            degraded = self._reported(await self._degraded("hit", key, estimate, exc), key, estimate)
            return Reservation(self, key, estimate, degraded, None)
        return Reservation(self, key, estimate, decision, until)

    async def wait(self, key: str, cost: int = 1, *, timeout: float | None = None) -> Decision:
        """Wait until ``cost`` units are admitted for ``key``, then consume them.

        Args:
            key: The identity.
            cost: Units to consume.
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Raises:
            RateLimitExceeded: the cost can never be admitted, or not within
                ``timeout`` (raised at once when the wait needed is already
                longer than what is left of ``timeout``).
        """
        _check_timeout(timeout)
        if key.__class__ is not str:
            _bad_key(key)
        deadline = None if timeout is None else _monotonic() + timeout
        while True:
            decision = await self.hit(key, cost)
            if decision.allowed:
                return decision
            delay = decision.retry_after
            if delay is None:
                raise RateLimitExceeded(decision, f"cost {cost} exceeds the capacity of {decision.rate}")
            if deadline is not None and delay > deadline - _monotonic():
                raise RateLimitExceeded(decision)
            await _sleep(delay)

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
                wait, ``None`` waits as long as needed. A wait for a slot asks
                again every few milliseconds (a cap knows no time at which a
                slot frees); a wait on a rate sleeps its ``retry_after``.

        Raises:
            TypeError: the limiter has no cap (use :meth:`hit`), or ``key`` is
                not a ``str``.
            ValueError: a bad ``cost`` or ``timeout``.
        """
        if self._policy.cap is None:
            raise TypeError(f"{self!r} has no concurrency cap: use 'await limiter.hit(...)'")
        if key.__class__ is not str:
            _bad_key(key)
        if cost.__class__ is not int or cost < 0:
            _bad_cost(cost)
        _check_timeout(timeout)
        return Hold(self, key, cost, timeout)

    async def _take(self, key: str, cost: int, holder: str, timeout: float | None) -> tuple[Decision, Holding | None]:
        """An acquire for :class:`Hold`, waiting up to ``timeout``: the decision, and the store now holding the slot."""
        deadline = None if timeout is None else _monotonic() + timeout
        poll = _SLOT_POLL_FIRST
        while True:
            decision, store = await self._take_once(key, cost, holder)
            if decision.allowed:
                return decision, store
            left = math.inf if deadline is None else deadline - _monotonic()
            wait = decision.retry_after
            if wait is None:  # the cap is full: ask again soon
                if decision.rate is not self._policy.cap:  # a rate that can never admit the cost
                    return decision, None
                wait, poll = poll, min(poll * 2, _SLOT_POLL_MAX)
            if wait > left:
                return decision, None
            await _sleep(wait)

    async def _take_once(self, key: str, cost: int, holder: str) -> tuple[Decision, Holding | None]:
        store = cast(Holding, self._store)
        try:
            decision = await store.acquire(self._policy, key, cost, holder)
        except BACKEND_ERRORS as exc:
            self._warn(exc)
            if self._fallback is not None:
                fallback = cast(Holding, self._fallback)
                try:
                    decision = await fallback.acquire(self._policy, key, cost, holder)
                except BACKEND_ERRORS as fallback_exc:
                    exc = fallback_exc
                else:
                    degraded = self._reported(decision._replace(degraded=True), key, cost)
                    return degraded, fallback if decision.allowed else None
            return self._reported(self._by_policy(exc), key, cost), None  # no store holds a slot
        return decision, store if decision.allowed else None

    async def _degraded(self, action: str, key: str, cost: int, exc: Exception) -> Decision:
        """Answer after the primary store failed: fallback, then ``on_error``."""
        self._warn(exc)
        if self._fallback is not None:
            try:
                # The same operation: hit, peek, charge or refund.
                method: Callable[[Policy, str, int], Awaitable[Decision]] = getattr(self._fallback, action)
                return (await method(self._policy, key, cost))._replace(degraded=True)
            except BACKEND_ERRORS as fallback_exc:
                exc = fallback_exc
        return self._by_policy(exc)

    def _by_policy(self, exc: Exception) -> Decision:
        """What ``on_error`` answers when no store could decide."""
        if self._on_error == "raise":
            _raise_store_error(exc)
        rates = self._policy.limits
        rate, several = rates[0], len(rates) > 1
        if self._on_error == "allow":  # every rate full and admitting
            statuses = tuple(new_rate_status(r, True, r.capacity, 0.0, 0.0) for r in rates) if several else None
            return new_decision(True, rate.limit, rate.capacity, 0.0, 0.0, rate, True, statuses)
        # Every rate empty and denying, for a while.
        statuses = tuple(new_rate_status(r, False, 0, 0.0, DEGRADED_RETRY_AFTER) for r in rates) if several else None
        return new_decision(False, rate.limit, 0, 0.0, DEGRADED_RETRY_AFTER, rate, True, statuses)

    def _warn(self, exc: Exception) -> None:
        now = _monotonic()
        if now - self._last_warning >= _WARN_EVERY:
            self._last_warning = now
            logger.warning(
                "rate limit store failed (%r); on_error=%s, fallback=%r", exc, self._on_error, self._fallback
            )


def _use_acquire(key: object, cost: object) -> NoReturn:
    """What ``hit`` (and ``charge``, ``refund``, ``wait``, ``reserve``) do on a limiter with a concurrency cap."""
    raise TypeError(
        "this limiter has a concurrency cap: hold a slot with 'async with limiter.acquire(key) as decision:'"
    )


def _check_timeout(timeout: object) -> None:
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (math.isfinite(timeout) and timeout >= 0)
    ):
        raise ValueError(f"timeout must be None or a finite number of seconds >= 0, got {timeout!r}")


def _bound(store: Store, policy: Policy) -> Decide | None:
    """``store.bind(policy)`` for a store that decides without I/O, else ``None``."""
    return cast(Binding, store).bind(policy) if _kind(store)[2] else None


_KINDS: dict[type, tuple[bool, bool, bool, bool]] = {}


def _kind(store: object) -> tuple[bool, bool, bool, bool]:
    """Whether a store's class implements :class:`Store`, :class:`Preparing`, :class:`Binding`, :class:`Holding`.

    Checked once per class: a protocol check costs microseconds, and limiters
    may be made per request.
    """
    cls = type(store)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _KINDS[cls] = (
            issubclass(cls, Store),
            issubclass(cls, Preparing),
            issubclass(cls, Binding),
            issubclass(cls, Holding),
        )
    return kind


def _bad_key(key: object) -> NoReturn:
    hint = " (a missing header or field gives None: choose a fallback key)" if key is None else ""
    raise TypeError(f"key must be a str, got {type(key).__name__} {key!r}{hint}")


def _bad_cost(cost: object) -> NoReturn:
    raise ValueError(f"cost must be an int >= 0, got {cost!r}")


def _raise_store_error(exc: Exception) -> NoReturn:
    if isinstance(exc, StoreError):
        raise exc
    raise StoreError(f"rate limit store failed: {exc!r}") from exc
