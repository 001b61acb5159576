"""An observer on OpenTelemetry: ``pip install ratelimit-core[otel]`` (the API only, never the SDK).

::

    from ratelimit_core import Limiter
    from ratelimit_core.otel import OpenTelemetryObserver

    observer = OpenTelemetryObserver()  # the global MeterProvider and TracerProvider
    limiter = Limiter("100/minute", name="api", observer=observer)

Instruments (attributes in brackets; never a key or a client address). The
counters are observable: counted in the observer (a dict increment per
decision) and read, cumulative and exact, at each collection.

* ``ratelimit.decisions`` counter [``ratelimit.policy``, ``ratelimit.outcome``,
  ``ratelimit.algorithm``, ``ratelimit.store``, ``http.route`` through ASGI];
* ``ratelimit.store.duration`` histogram, seconds [``ratelimit.store``,
  ``ratelimit.operation``, ``error.type`` on failure];
* ``ratelimit.near_limit`` counter: admitted decisions left with at most
  ``near_limit`` of the limit [as decisions, without the outcome];
* ``ratelimit.breaker.state`` gauge, 1 for a breaker's current state and 0 for
  the others [``ratelimit.store``, ``ratelimit.breaker.state``: ``closed``,
  ``open``, ``half_open``];
* ``ratelimit.deny_cache.hits`` counter [``ratelimit.store``, ``ratelimit.policy``];
* ``ratelimit.batch.size`` histogram, commands per write [``ratelimit.store``].

Spans: ``spans="current"`` (the default) sets ``ratelimit.policy``,
``ratelimit.outcome``, ``ratelimit.remaining`` and ``ratelimit.retry_after``
on the current span when it is recording (the request's span under an
instrumented server); ``"own"`` records a span ``ratelimit.decision`` per
decision; ``"none"`` neither. ``hash_keys=secret`` adds ``ratelimit.key.hash``
to those spans, never to metrics: 16 hex characters of BLAKE2b keyed with the
operator's secret (16 to 64 bytes), so that a span store's reader cannot
recover a key by hashing guesses (a client address is one of 2^32).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from hashlib import blake2b
from typing import Any, Literal

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from ratelimit_core.__about__ import __version__
from ratelimit_core.observe import BATCH_BUCKETS, BREAKER_STATES, DURATION_BUCKETS, DecisionReport, Observer

__all__ = ["OpenTelemetryObserver"]


Spans = Literal["current", "own", "none"]


class OpenTelemetryObserver(Observer):
    """Records what limiters and stores report as OpenTelemetry metrics (and spans).

    Args:
        meter: A ``Meter``; default: ``metrics.get_meter("ratelimit")`` of the global provider.
        tracer: A ``Tracer`` for ``spans="own"``; default: the global provider's.
        spans: ``"current"``, ``"own"`` or ``"none"`` (see the module's docstring).
        near_limit: The fraction of the limit at or under which an admitted
            decision counts in ``ratelimit.near_limit`` (default 0.1).
        hash_keys: A secret of 16 to 64 bytes: add the key's hash, keyed with it,
            to spans (opt-in; never to metrics). Keep it out of the code, and
            the same across processes to correlate their spans.

    Raises:
        ValueError: a bad ``spans`` or ``near_limit``.
        TypeError: ``hash_keys`` that is not ``bytes`` (``True`` included: an
            unkeyed hash of a client address is reversed by hashing guesses).
    """

    def __init__(
        self,
        meter: Meter | None = None,
        tracer: trace.Tracer | None = None,
        *,
        spans: Spans = "current",
        near_limit: float = 0.1,
        hash_keys: bytes | None = None,
    ) -> None:
        _check_options(spans, near_limit, hash_keys)
        meter = meter or metrics.get_meter("ratelimit", __version__)
        self._tracer = tracer or trace.get_tracer("ratelimit", __version__)
        self._spans = spans
        self._near = near_limit
        self._hash = hash_keys
        self._duration = meter.create_histogram(
            "ratelimit.store.duration",
            unit="s",
            description="Duration of store calls",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._batch = meter.create_histogram(
            "ratelimit.batch.size",
            unit="{command}",
            description="Commands written in one batch",
            explicit_bucket_boundaries_advisory=list(BATCH_BUCKETS),
        )
        # Counters are counted here and read by the SDK at each collection (observable counters): a
        # dict increment per decision instead of the SDK's attribute checks and hashing. Only the event
        # loop writes them; a reader's thread copies them whole (``list(d.items())`` runs under the GIL).
        self._decisions: dict[tuple[str | None, ...], int] = {}
        self._near_limit: dict[tuple[str | None, ...], int] = {}
        self._deny_hits: dict[tuple[str, str], int] = {}
        self._breakers: dict[str, str] = {}
        self._attributes: dict[tuple[Any, ...], dict[str, str]] = {}  # made once per label set
        self._observe_counts(meter)

    def _observe_counts(self, meter: Meter) -> None:
        """Register the observable instruments, read from this observer's counts at each collection."""
        counters = (
            ("ratelimit.decisions", self._decision_counts, "{decision}", "Admission decisions, by outcome"),
            ("ratelimit.near_limit", self._near_limit_counts, "{decision}", "Admitted decisions near the limit"),
            ("ratelimit.deny_cache.hits", self._deny_hit_counts, "{hit}", "Denials answered from the deny cache"),
        )
        for name, callback, unit, description in counters:
            meter.create_observable_counter(name, callbacks=[callback], unit=unit, description=description)
        meter.create_observable_gauge(
            "ratelimit.breaker.state",
            callbacks=[self._breaker_states],
            unit="1",
            description="1 for a circuit breaker's current state, 0 for the others",
        )

    def decision(self, report: DecisionReport) -> None:
        labels = (report.policy, report.outcome, report.algorithm, report.store, report.route)
        self._decisions[labels] = self._decisions.get(labels, 0) + 1
        decision = report.decision
        if decision.allowed and decision.remaining <= self._near * decision.limit:
            near = (report.policy, report.algorithm, report.store, report.route)
            self._near_limit[near] = self._near_limit.get(near, 0) + 1
        if self._spans != "none":
            self._span(report)

    def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
        labels = ("store", store, operation, error)
        attributes = self._attributes.get(labels)
        if attributes is None:
            attributes = {"ratelimit.store": store, "ratelimit.operation": operation}
            if error is not None:
                attributes["error.type"] = error
            self._attributes[labels] = attributes
        self._duration.record(seconds, attributes)

    def breaker(self, store: str, state: str) -> None:
        self._breakers[store] = state

    def deny_cache_hit(self, store: str, policy: str) -> None:
        self._deny_hits[store, policy] = self._deny_hits.get((store, policy), 0) + 1

    def batch(self, store: str, size: int) -> None:
        self._batch.record(size, {"ratelimit.store": store})

    def _decision_counts(self, options: CallbackOptions) -> Iterable[Observation]:
        for (policy, outcome, algorithm, store, route), count in list(self._decisions.items()):
            attributes = {
                "ratelimit.policy": policy,
                "ratelimit.outcome": outcome,
                "ratelimit.algorithm": algorithm,
                "ratelimit.store": store,
            }
            if route is not None:
                attributes["http.route"] = route
            yield Observation(count, attributes)

    def _near_limit_counts(self, options: CallbackOptions) -> Iterable[Observation]:
        for (policy, algorithm, store, route), count in list(self._near_limit.items()):
            attributes = {"ratelimit.policy": policy, "ratelimit.algorithm": algorithm, "ratelimit.store": store}
            if route is not None:
                attributes["http.route"] = route
            yield Observation(count, attributes)

    def _deny_hit_counts(self, options: CallbackOptions) -> Iterable[Observation]:
        for (store, policy), count in list(self._deny_hits.items()):
            yield Observation(count, {"ratelimit.store": store, "ratelimit.policy": policy})

    def _breaker_states(self, options: CallbackOptions) -> Iterable[Observation]:
        for store, current in self._breakers.items():
            for state in BREAKER_STATES:
                yield Observation(int(state == current), {"ratelimit.store": store, "ratelimit.breaker.state": state})

    def _span(self, report: DecisionReport) -> None:
        decision = report.decision
        attributes: dict[str, Any] = {
            "ratelimit.policy": report.policy,
            "ratelimit.outcome": report.outcome,
            "ratelimit.remaining": decision.remaining,
        }
        if decision.retry_after is not None and not decision.allowed:
            attributes["ratelimit.retry_after"] = decision.retry_after
        if self._hash is not None:
            attributes["ratelimit.key.hash"] = blake2b(
                report.key.encode("utf-8", "surrogatepass"), digest_size=8, key=self._hash
            ).hexdigest()
        if self._spans == "current":
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attributes(attributes)
            return
        ended = time.time_ns()
        span = self._tracer.start_span("ratelimit.decision", start_time=ended - round(report.seconds * 1e9))
        span.set_attributes(attributes)
        span.end(end_time=ended)


def _check_options(spans: object, near_limit: object, hash_keys: object) -> None:
    if spans not in ("current", "own", "none"):
        raise ValueError(f"spans must be 'current', 'own' or 'none', got {spans!r}")
    if isinstance(near_limit, bool) or not isinstance(near_limit, int | float) or not 0 <= near_limit <= 1:
        raise ValueError(f"near_limit must be a fraction between 0 and 1, got {near_limit!r}")
    if hash_keys is not None and not isinstance(hash_keys, bytes):
        raise TypeError(
            f"hash_keys must be a secret of 16 to 64 bytes, got {type(hash_keys).__name__}: an unkeyed "
            "hash of a client address is reversed by hashing every address"
        )
    if hash_keys is not None and not 16 <= len(hash_keys) <= 64:
        raise ValueError(f"hash_keys must be a secret of 16 to 64 bytes, got {len(hash_keys)} bytes")
