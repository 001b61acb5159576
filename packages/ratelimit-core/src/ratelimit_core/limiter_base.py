"""What both colours of limiter share: the policy, the stores, the failure policy and the observer. No I/O.

``ratelimit_core.Limiter`` (coroutines) and ``ratelimit_core.sync.Limiter``
(blocking calls) are thin shells over this: each operation checks its
arguments, calls its store and, when the store fails, asks
:class:`~ratelimit_core.failures.Failures`. What a decision is, is decided
below them: in the store, by the executor and the algorithms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ratelimit_core import tracking
from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.checks import bound, check_store, use_acquire
from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision
from ratelimit_core.failures import Failures, OnError
from ratelimit_core.observe import Guarded, Observer, guarded, report, store_label
from ratelimit_core.observed import observed_decide
from ratelimit_core.policy import Policy, policy_for
from ratelimit_core.rate import Rate, parse_limits

__all__ = ["LimiterBase"]

#: The store type of a colour: ``ratelimit_core.Store`` or ``ratelimit_core.sync.Store``.
S = TypeVar("S")


class LimiterBase(Generic[S]):
    """The parts of a limiter that do no I/O; a subclass adds the operations in its colour (``S``: its stores)."""

    #: Whether the limiter's stores are coroutines (``True``) or blocking calls.
    asynchronous: ClassVar[bool]
    #: The store a limiter made without one gets, and the observing wrapper of its colour.
    _memory: ClassVar[type[Any]]
    _observed: ClassVar[type[Any]]

    __slots__ = (
        "__weakref__",  # ratelimit_core.tracking holds limiters weakly
        "_decide",
        "_failures",
        "_fallback_decide",
        "_given",
        "_guard",
        "_nowait",
        "_policy",
        "_store",
    )

    def __init__(
        self,
        rates: str | Rate | Concurrency | Sequence[str | Rate | Concurrency],
        *,
        algorithm: Algorithm | str = Algorithm.TOKEN_BUCKET,
        store: S | None = None,
        name: str = "default",
        on_error: OnError = "raise",
        fallback: S | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._policy = policy = policy_for(name, Algorithm(algorithm), *parse_limits(rates))
        self._failures = Failures(policy, on_error, fallback)
        for label, candidate in (("store", store), ("fallback", fallback)):
            check_store(label, candidate, policy, asynchronous=self.asynchronous)
        self._store: S = self._memory() if store is None else store
        self._given: S = self._store
        # A store that decides without I/O may bind: a plain decide(key, cost), called without a coroutine.
        if policy.cap is None:
            self._decide: Callable[[str, int], Decision] | None = bound(self._store, policy)
            self._fallback_decide = None if fallback is None else bound(fallback, policy)
            self._nowait = self._decide is not None and (fallback is None or self._fallback_decide is not None)
        else:  # hit is refused, at no cost to other limiters' hits
            self._decide, self._fallback_decide, self._nowait = use_acquire, None, False
        self._guard: Guarded | None = None
        if observer is not None:
            if not isinstance(observer, Observer):
                raise ValueError(f"observer must be a ratelimit_core.observe.Observer, got {observer!r}")
            # An observer never changes a decision: what it raises is caught, counted and logged.
            self._guard = guarded(observer)
            self._observe(self._guard)
        tracking.made(self)

    def _observe(self, observer: Observer) -> None:
        """Put the observing code where the plain code was: nothing of it runs without an observer."""
        policy, failures = self._policy, self._failures
        if self._decide is not None and policy.cap is None:
            self._decide = observed_decide(self._decide, observer, policy, self._store, decisions=True)
        if self._fallback_decide is not None:
            fallback = self._fallback_decide
            self._fallback_decide = observed_decide(fallback, observer, policy, failures.fallback, decisions=False)
        self._store = self._observed(self._store, observer, decisions=True)
        if failures.fallback is not None:
            failures.fallback = self._observed(failures.fallback, observer, decisions=False)

    def _stores(self) -> tuple[Any, ...]:
        """The store and the fallback it was given (as wrapped for an observer): where its state is."""
        fallback = self._failures.fallback
        return (self._given,) if fallback is None else (self._given, fallback)

    def _unlimit(self, store: S) -> tuple[Any, ...]:
        """Decide with ``store`` (``ratelimit_core.testing``'s store that admits everything); the wiring it replaced."""
        saved = (self._store, self._decide, self._fallback_decide, self._nowait)
        self._store = store
        if self._policy.cap is None:
            self._decide, self._nowait = bound(store, self._policy), True
        self._fallback_decide = None
        return saved

    def _rewire(self, saved: tuple[Any, ...]) -> None:
        """Put back the wiring :meth:`_unlimit` replaced."""
        self._store, self._decide, self._fallback_decide, self._nowait = saved

    def _reported(self, decision: Decision, key: str, cost: int) -> Decision:
        """``decision`` (the failure policy's, or a fallback's), told to the observer."""
        if self._guard is not None:
            report(self._guard, self._policy, store_label(self._given), key, cost, decision)
        return decision

    def __repr__(self) -> str:
        rates = "; ".join(str(r) for r in self._policy.limits)
        failures = self._failures
        return (
            f"{type(self).__name__}({rates!r}, algorithm={self.algorithm.value!r}, name={self.name!r}, "
            f"store={self._store!r}, on_error={failures.on_error!r}, fallback={failures.fallback!r})"
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
    def store(self) -> S:
        return self._given

    @property
    def policy(self) -> Policy:
        """What stores are given: name, algorithm, rates and their arithmetic."""
        return self._policy

    @property
    def observer(self) -> Observer | None:
        """The observer, or ``None``."""
        return None if self._guard is None else self._guard.observer

    @property
    def observer_errors(self) -> int:
        """How many of the observer's reports raised (each caught and counted; decisions go on unaffected)."""
        return 0 if self._guard is None else self._guard.errors
