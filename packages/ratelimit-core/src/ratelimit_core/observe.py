"""Observers: what a limiter and its stores report, for metrics and traces. Standard library only.

Give a limiter an :class:`Observer` (``Limiter(..., observer=...)``) and it
reports each admission decision (a hit, or an acquire) and each store call;
give a ``RedisStore`` one and it reports its circuit breaker, its deny cache
and its batches. ``ratelimit_core.otel`` and ``ratelimit_core.prometheus``
hold observers for OpenTelemetry and Prometheus; subclass :class:`Observer`
for anything else.

Without an observer nothing of this runs: the limiter's hot path is the same
code as before (the observing one is installed only when one is given).

Labels are low-cardinality by design: a limiter's name, an outcome, an
algorithm, a store, an operation, an error type, a route template. A report
carries the key too, for an observer that hashes it into a span attribute
when asked to; it must never become a metric attribute.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ratelimit_core.throttled import ThrottledWarning

if TYPE_CHECKING:
    from ratelimit_core.decision import Decision
    from ratelimit_core.policy import Policy

__all__ = [
    "BATCH_BUCKETS",
    "BREAKER_STATES",
    "DURATION_BUCKETS",
    "OUTCOMES",
    "DecisionReport",
    "Guarded",
    "Observer",
    "Observers",
    "OutcomeLabel",
    "RequestContext",
    "guarded",
    "outcome_of",
    "report",
    "request_context",
    "store_label",
]

#: How a decision is labelled in metrics (``outcome``); not :data:`ratelimit_core.Outcome`, one limit's result.
OutcomeLabel = Literal["allowed", "denied", "shadow_denied", "degraded_allowed", "degraded_denied"]
logger = logging.getLogger("ratelimit_core")

#: Every outcome a decision report may carry.
OUTCOMES: tuple[OutcomeLabel, ...] = ("allowed", "denied", "shadow_denied", "degraded_allowed", "degraded_denied")
#: A circuit breaker's states, as :meth:`Observer.breaker` names them.
BREAKER_STATES = ("closed", "open", "half_open")
#: Histogram boundaries for store calls, in seconds: 10 µs to 1 s (both shipped observers).
DURATION_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
#: Histogram boundaries for batch sizes, in commands.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the ASGI layer knows of the request a decision is for (set around the decision)."""

    route: str | None  # the route template ("/items/{id}"), never the raw path
    shadow: bool  # shadow mode: a denial does not block


#: The request being decided, when the decision comes through ``ratelimit-asgi`` with an observer.
request_context: ContextVar[RequestContext | None] = ContextVar("ratelimit_request", default=None)


@dataclass(frozen=True, slots=True)
class DecisionReport:
    """One admission decision.

    Attributes:
        policy: The limiter's name.
        outcome: ``allowed``, ``denied``, ``shadow_denied`` (denied, let through
            by shadow mode), ``degraded_allowed`` or ``degraded_denied`` (the
            store failed and the failure policy, or a fallback store, answered).
        algorithm: The algorithm's name.
        store: The store's label (``memory``, ``sqlite``, ``redis``...).
        cost: Units asked for.
        decision: The decision.
        route: The route template when it came through ASGI, else ``None``.
        seconds: How long the store call that decided took (0 when the
            failure policy answered).
        key: The key. Never a metric attribute: an observer may hash it into
            a span attribute, and only when asked to.
    """

    policy: str
    outcome: OutcomeLabel
    algorithm: str
    store: str
    cost: int
    decision: Decision
    route: str | None
    seconds: float
    key: str


class Observer:
    """Receives reports; every method does nothing here: override what you record.

    Methods are called on the event loop, inside the decision: keep them quick
    (count, observe a histogram; no I/O).
    """

    def decision(self, report: DecisionReport) -> None:
        """An admission decision (a hit, or an acquire)."""

    def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
        """A store call: ``operation`` (``hit``, ``peek``, ``acquire``...) took ``seconds``; ``error`` is the
        exception's type name when it failed."""

    def breaker(self, store: str, state: str) -> None:
        """A circuit breaker changed state: ``closed``, ``open`` or ``half_open``."""

    def deny_cache_hit(self, store: str, policy: str) -> None:
        """A denial was answered from the deny cache, without a round trip."""

    def batch(self, store: str, size: int) -> None:
        """A batch of ``size`` commands was written in one go."""


class Observers(Observer):
    """Several observers as one (OpenTelemetry and Prometheus both, say): each hears every report, in order.

    One that raises does not keep the others from hearing it (see :class:`Guarded`).
    """

    def __init__(self, *observers: Observer) -> None:
        for observer in observers:
            if not isinstance(observer, Observer):
                raise ValueError(f"observers must be Observer instances, got {observer!r}")
        self.observers = tuple(guarded(observer) for observer in observers)

    def decision(self, report: DecisionReport) -> None:
        for observer in self.observers:
            observer.decision(report)

    def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
        for observer in self.observers:
            observer.store_call(store, operation, seconds, error)

    def breaker(self, store: str, state: str) -> None:
        for observer in self.observers:
            observer.breaker(store, state)

    def deny_cache_hit(self, store: str, policy: str) -> None:
        for observer in self.observers:
            observer.deny_cache_hit(store, policy)

    def batch(self, store: str, size: int) -> None:
        for observer in self.observers:
            observer.batch(store, size)


#: At most one warning per this many seconds for each observer that keeps raising.
_WARN_EVERY = 60.0


class Guarded(Observer):
    """An observer whose exceptions are caught, counted and logged: an observer never changes a decision.

    A limiter and a store wrap the observer they are given in one. An
    exception from a report (a dead StatsD socket raising ``OSError``, say) is
    never taken for a store failure, never leaks a slot or a reservation, and
    never reaches the caller: it is counted in :attr:`errors` and logged as a
    warning at most once a minute, with the count.

    Attributes:
        observer: The observer it guards.
        errors: How many reports raised.
    """

    __slots__ = ("_warning", "observer")

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self._warning = ThrottledWarning(
            logger,
            "rate limit observer %r raised %r on %s (%d errors so far); decisions go on, unobserved by it",
            _WARN_EVERY,
        )

    @property
    def errors(self) -> int:
        return self._warning.count

    def __repr__(self) -> str:
        return f"Guarded({self.observer!r}, errors={self.errors})"

    def _failed(self, report: str, error: Exception) -> None:
        self._warning(self.observer, error, report)

    def decision(self, report: DecisionReport) -> None:
        try:
            self.observer.decision(report)
        except Exception as error:  # noqa: BLE001 - whatever an observer raises, the decision stands
            self._failed("decision", error)

    def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
        try:
            self.observer.store_call(store, operation, seconds, error)
        except Exception as raised:  # noqa: BLE001
            self._failed("store_call", raised)

    def breaker(self, store: str, state: str) -> None:
        try:
            self.observer.breaker(store, state)
        except Exception as error:  # noqa: BLE001
            self._failed("breaker", error)

    def deny_cache_hit(self, store: str, policy: str) -> None:
        try:
            self.observer.deny_cache_hit(store, policy)
        except Exception as error:  # noqa: BLE001
            self._failed("deny_cache_hit", error)

    def batch(self, store: str, size: int) -> None:
        try:
            self.observer.batch(store, size)
        except Exception as error:  # noqa: BLE001
            self._failed("batch", error)


def guarded(observer: Observer) -> Guarded:
    """``observer`` in a :class:`Guarded` (itself when it is one)."""
    return observer if isinstance(observer, Guarded) else Guarded(observer)


def store_label(store: object) -> str:
    """A store's label for metrics: its ``label`` attribute, else its class name."""
    label = getattr(store, "label", None)
    return label if isinstance(label, str) else type(store).__name__


def outcome_of(decision: Decision, context: RequestContext | None) -> OutcomeLabel:
    """The outcome a decision reports, shadow mode included."""
    if decision.degraded:
        return "degraded_allowed" if decision.allowed else "degraded_denied"
    if decision.allowed:
        return "allowed"
    return "shadow_denied" if context is not None and context.shadow else "denied"


def report(
    observer: Observer, policy: Policy, store: str, key: str, cost: int, decision: Decision, seconds: float = 0.0
) -> None:
    """Tell ``observer`` of ``decision``, with what the request context says."""
    context = request_context.get()
    observer.decision(
        DecisionReport(
            policy.name,
            outcome_of(decision, context),
            policy.algorithm.value,
            store,
            cost,
            decision,
            None if context is None else context.route,
            seconds,
            key,
        )
    )
