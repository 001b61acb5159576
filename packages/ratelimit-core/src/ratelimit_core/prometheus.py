"""An observer on Prometheus: ``pip install ratelimit-core[prometheus]`` (``prometheus-client``).

::

    from ratelimit_core import Limiter
    from ratelimit_core.prometheus import PrometheusObserver

    observer = PrometheusObserver()  # the default registry; or registry=CollectorRegistry()
    limiter = Limiter("100/minute", name="api", observer=observer)

Metrics (base units, ``_total`` on counters; labels in brackets, never a key or
a client address; ``route`` is the route template through ASGI, else empty):

* ``ratelimit_decisions_total`` [policy, outcome, algorithm, store, route];
* ``ratelimit_store_duration_seconds`` histogram [store, operation, error_type
  (empty on success)];
* ``ratelimit_near_limit_total``: admitted decisions left with at most
  ``near_limit`` of the limit [policy, algorithm, store, route];
* ``ratelimit_breaker_state`` gauge, 1 for a breaker's current state [store, state];
* ``ratelimit_deny_cache_hits_total`` [store, policy];
* ``ratelimit_batch_size`` histogram, commands per write [store].
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ratelimit_core.observe import BATCH_BUCKETS, BREAKER_STATES, DURATION_BUCKETS, DecisionReport, Observer

__all__ = ["PrometheusObserver"]


class PrometheusObserver(Observer):
    """Records what limiters and stores report as Prometheus metrics.

    Args:
        registry: Where the metrics are registered; default: the global ``REGISTRY``.
            One observer per registry: the metrics' names are registered once.
        near_limit: The fraction of the limit at or under which an admitted
            decision counts in ``ratelimit_near_limit_total`` (default 0.1).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, near_limit: float = 0.1) -> None:
        if isinstance(near_limit, bool) or not isinstance(near_limit, int | float) or not 0 <= near_limit <= 1:
            raise ValueError(f"near_limit must be a fraction between 0 and 1, got {near_limit!r}")
        registry = REGISTRY if registry is None else registry
        self._near = near_limit
        self._decisions = Counter(
            "ratelimit_decisions",
            "Admission decisions, by outcome",
            ["policy", "outcome", "algorithm", "store", "route"],
            registry=registry,
        )
        self._duration = Histogram(
            "ratelimit_store_duration_seconds",
            "Duration of store calls",
            ["store", "operation", "error_type"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._near_limit = Counter(
            "ratelimit_near_limit",
            "Admitted decisions near the limit",
            ["policy", "algorithm", "store", "route"],
            registry=registry,
        )
        self._breakers = Gauge(
            "ratelimit_breaker_state", "1 for a circuit breaker's current state", ["store", "state"], registry=registry
        )
        self._deny_hits = Counter(
            "ratelimit_deny_cache_hits", "Denials answered from the deny cache", ["store", "policy"], registry=registry
        )
        self._batch = Histogram(
            "ratelimit_batch_size", "Commands written in one batch", ["store"], buckets=BATCH_BUCKETS, registry=registry
        )
        self._children: dict[tuple[Any, ...], Any] = {}  # a metric's child per label set, looked up once

    def decision(self, report: DecisionReport) -> None:
        route = report.route or ""
        labels = ("decision", report.policy, report.outcome, report.algorithm, report.store, route)
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._decisions.labels(*labels[1:])
        child.inc()
        decision = report.decision
        if decision.allowed and decision.remaining <= self._near * decision.limit:
            self._near_limit.labels(report.policy, report.algorithm, report.store, route).inc()

    def store_call(self, store: str, operation: str, seconds: float, error: str | None) -> None:
        labels = ("store", store, operation, error or "")
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._duration.labels(*labels[1:])
        child.observe(seconds)

    def breaker(self, store: str, state: str) -> None:
        for each in BREAKER_STATES:
            self._breakers.labels(store, each).set(int(each == state))

    def deny_cache_hit(self, store: str, policy: str) -> None:
        self._deny_hits.labels(store, policy).inc()

    def batch(self, store: str, size: int) -> None:
        self._batch.labels(store).observe(size)
