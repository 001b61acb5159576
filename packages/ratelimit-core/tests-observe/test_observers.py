"""The observers on OpenTelemetry (with the SDK's in-memory reader) and Prometheus: exact counts and attributes."""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import blake2b
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from ratelimit_core import Limiter, MemoryStore
from ratelimit_core.observe import Observer, RequestContext, request_context
from ratelimit_core.otel import OpenTelemetryObserver
from ratelimit_core.prometheus import PrometheusObserver
from ratelimit_core.testing import FailingStore

#: Keys that look like what must never become a metric attribute: an address and an API key.
SECRET_KEYS = ("203.0.113.7", "sk-live-7f3a9c")


class Otel:
    def __init__(self, **options: Any) -> None:
        self.reader = InMemoryMetricReader()
        self.spans = InMemorySpanExporter()
        tracing = TracerProvider()
        tracing.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = tracing.get_tracer("test")
        meter = MeterProvider(metric_readers=[self.reader]).get_meter("test")
        self.observer = OpenTelemetryObserver(meter, self.tracer, **options)

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def counts(self, name: str) -> dict[tuple[tuple[str, Any], ...], int]:
        return {tuple(sorted(attributes(p).items())): p.value for p in self.points(name)}


def attributes(point: Any) -> dict[str, Any]:
    return dict(point.attributes or {})


@pytest.fixture
def otel() -> Otel:
    return Otel(near_limit=0.5)


def attrs(**values: str) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted({f"ratelimit.{k}" if k != "route" else "http.route": v for k, v in values.items()}.items()))


@pytest.fixture
def shadow_request() -> Iterator[None]:
    token = request_context.set(RequestContext("/items/{item_id}", shadow=True))
    yield
    request_context.reset(token)


async def test_otel_counts_each_outcome_with_its_attributes(otel: Otel) -> None:
    limiter = Limiter("2/minute", name="api", observer=otel.observer)
    for _ in range(3):
        await limiter.hit(SECRET_KEYS[0])
    allowed = attrs(policy="api", outcome="allowed", algorithm="token_bucket", store="memory")
    denied = attrs(policy="api", outcome="denied", algorithm="token_bucket", store="memory")
    assert otel.counts("ratelimit.decisions") == {allowed: 2, denied: 1}
    # remaining 1 then 0, both at most half of 2
    near = attrs(policy="api", algorithm="token_bucket", store="memory")
    assert otel.counts("ratelimit.near_limit") == {near: 2}
    (duration,) = otel.points("ratelimit.store.duration")
    assert attributes(duration) == {"ratelimit.store": "memory", "ratelimit.operation": "hit"}
    assert duration.count == 3
    assert 0 < duration.sum < 1


async def test_otel_counts_degraded_answers_and_the_failed_store_calls(otel: Otel) -> None:
    allowing = Limiter("5/minute", name="open", store=FailingStore(), on_error="allow", observer=otel.observer)
    denying = Limiter("5/minute", name="closed", store=FailingStore(), on_error="deny", observer=otel.observer)
    await allowing.hit("k")
    await allowing.hit("k")
    await denying.hit("k")
    counts = otel.counts("ratelimit.decisions")
    assert counts == {
        attrs(policy="open", outcome="degraded_allowed", algorithm="token_bucket", store="failing"): 2,
        attrs(policy="closed", outcome="degraded_denied", algorithm="token_bucket", store="failing"): 1,
    }
    (failed,) = otel.points("ratelimit.store.duration")
    assert attributes(failed) == {
        "ratelimit.store": "failing",
        "ratelimit.operation": "hit",
        "error.type": "ConnectionError",
    }
    assert failed.count == 3


async def test_a_fallback_store_answers_as_degraded_once(otel: Otel) -> None:
    limiter = Limiter("5/minute", name="fb", store=FailingStore(), fallback=MemoryStore(), observer=otel.observer)
    await limiter.hit("k")
    assert otel.counts("ratelimit.decisions") == {
        attrs(policy="fb", outcome="degraded_allowed", algorithm="token_bucket", store="failing"): 1
    }
    operations = sorted((attributes(p)["ratelimit.store"], p.count) for p in otel.points("ratelimit.store.duration"))
    assert operations == [("failing", 1), ("memory", 1)], "both store calls timed"


@pytest.mark.usefixtures("shadow_request")
async def test_shadow_denials_and_the_route_come_from_the_request(otel: Otel) -> None:
    limiter = Limiter("1/minute", name="shadowed", observer=otel.observer)
    await limiter.hit("k")
    await limiter.hit("k")
    route = "/items/{item_id}"
    assert otel.counts("ratelimit.decisions") == {
        attrs(policy="shadowed", outcome="allowed", algorithm="token_bucket", store="memory", route=route): 1,
        attrs(policy="shadowed", outcome="shadow_denied", algorithm="token_bucket", store="memory", route=route): 1,
    }


async def test_acquires_are_decisions_and_slots_are_store_calls(otel: Otel) -> None:
    limiter = Limiter("1 concurrent", name="slots", observer=otel.observer)
    async with limiter.acquire("k"):
        with pytest.raises(Exception, match="no room"):
            async with limiter.acquire("k"):
                pass
    assert otel.counts("ratelimit.decisions") == {
        attrs(policy="slots", outcome="allowed", algorithm="token_bucket", store="memory"): 1,
        attrs(policy="slots", outcome="denied", algorithm="token_bucket", store="memory"): 1,
    }
    operations = {attributes(p)["ratelimit.operation"]: p.count for p in otel.points("ratelimit.store.duration")}
    assert operations == {"acquire": 2, "release": 1}


async def test_otel_breaker_deny_cache_and_batches() -> None:
    otel = Otel()
    observer = otel.observer
    observer.breaker("redis", "open")
    observer.deny_cache_hit("redis", "api")
    observer.batch("redis", 7)
    states = {attributes(p)["ratelimit.breaker.state"]: p.value for p in otel.points("ratelimit.breaker.state")}
    assert states == {"closed": 0, "open": 1, "half_open": 0}
    assert otel.counts("ratelimit.deny_cache.hits") == {attrs(store="redis", policy="api"): 1}
    (batch,) = otel.points("ratelimit.batch.size")
    assert (batch.count, batch.sum) == (1, 7)


SECRET = b"operator-secret-0123456789"


async def test_spans_own_or_current_with_a_key_hash_only_when_asked() -> None:
    own = Otel(spans="own", hash_keys=SECRET)
    limiter = Limiter("1/minute", name="traced", observer=own.observer)
    await limiter.hit(SECRET_KEYS[1])
    await limiter.hit(SECRET_KEYS[1])
    spans = own.spans.get_finished_spans()
    assert [s.name for s in spans] == ["ratelimit.decision"] * 2
    assert [attributes(s)["ratelimit.outcome"] for s in spans] == ["allowed", "denied"]
    assert attributes(spans[1])["ratelimit.retry_after"] == pytest.approx(60, abs=0.01)
    key_hash = attributes(spans[0])["ratelimit.key.hash"]
    assert isinstance(key_hash, str)
    assert len(key_hash) == 16
    assert SECRET_KEYS[1] not in key_hash
    unkeyed = blake2b(SECRET_KEYS[1].encode(), digest_size=8).hexdigest()
    assert key_hash != unkeyed, "keyed: hashing guesses without the secret finds nothing"
    again = Otel(spans="own", hash_keys=SECRET)
    await Limiter("1/minute", name="traced", observer=again.observer).hit(SECRET_KEYS[1])
    (span,) = again.spans.get_finished_spans()
    assert attributes(span)["ratelimit.key.hash"] == key_hash, "one secret, one hash: spans of processes correlate"
    current = Otel()  # spans="current", no key hash
    limiter = Limiter("1/minute", name="current", observer=current.observer)
    with current.tracer.start_as_current_span("request"):
        await limiter.hit(SECRET_KEYS[1])
    (request,) = current.spans.get_finished_spans()
    assert attributes(request) == {
        "ratelimit.policy": "current",
        "ratelimit.outcome": "allowed",
        "ratelimit.remaining": 0,
    }


@pytest.mark.parametrize("secret", [True, "a secret as text", 12345])
def test_an_unkeyed_key_hash_is_refused(secret: object) -> None:
    with pytest.raises(TypeError, match="secret of 16 to 64 bytes"):
        OpenTelemetryObserver(hash_keys=secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 65])
def test_a_key_hash_secret_has_16_to_64_bytes(secret: bytes) -> None:
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        OpenTelemetryObserver(hash_keys=secret)


async def test_no_metric_attribute_carries_a_key_or_an_address() -> None:
    otel = Otel(spans="own", hash_keys=SECRET)
    registry = CollectorRegistry()
    prometheus = PrometheusObserver(registry)
    for observer in (otel.observer, prometheus):
        for store in (MemoryStore(), FailingStore()):
            limiter = Limiter("1/minute; 2 concurrent", name="leak", store=store, on_error="allow", observer=observer)
            for key in SECRET_KEYS:
                async with limiter.acquire(key):
                    pass
            plain = Limiter("1/minute", name="plain", store=store, on_error="allow", observer=observer)
            for key in SECRET_KEYS * 2:
                await plain.hit(key)
    data = otel.reader.get_metrics_data()
    assert data is not None
    values = [
        str(value)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
        for value in attributes(point).values()
    ]
    values += [value for family in registry.collect() for sample in family.samples for value in sample.labels.values()]
    assert values, "metrics were recorded"
    for secret in SECRET_KEYS:
        assert not [v for v in values if secret in v], f"{secret!r} in a metric attribute"


async def test_prometheus_names_and_exact_counts() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry, near_limit=0.5)
    limiter = Limiter("2/minute", name="api", observer=observer)
    for _ in range(3):
        await limiter.hit("k")
    degraded = Limiter("2/minute", name="down", store=FailingStore(), on_error="deny", observer=observer)
    await degraded.hit("k")
    observer.breaker("redis", "half_open")
    observer.deny_cache_hit("redis", "api")
    observer.batch("redis", 3)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    base = {"policy": "api", "algorithm": "token_bucket", "store": "memory", "route": ""}
    assert value("ratelimit_decisions_total", outcome="allowed", **base) == 2
    assert value("ratelimit_decisions_total", outcome="denied", **base) == 1
    assert (
        value("ratelimit_decisions_total", outcome="degraded_denied", **{**base, "policy": "down", "store": "failing"})
        == 1
    )
    assert value("ratelimit_near_limit_total", **base) == 2
    assert value("ratelimit_store_duration_seconds_count", store="memory", operation="hit", error_type="") == 3
    assert (
        value("ratelimit_store_duration_seconds_count", store="failing", operation="hit", error_type="ConnectionError")
        == 1
    )
    assert value("ratelimit_breaker_state", store="redis", state="half_open") == 1
    assert value("ratelimit_breaker_state", store="redis", state="open") == 0
    assert value("ratelimit_deny_cache_hits_total", store="redis", policy="api") == 1
    assert value("ratelimit_batch_size_sum", store="redis") == 3


def test_without_an_observer_the_hot_path_is_the_stores_own_function() -> None:
    store = MemoryStore()
    plain = Limiter("10/second", name="fast", store=store)
    assert plain._decide is store.bind(plain.policy), "no observing code installed"
    watched = Limiter("10/second", name="fast", store=store, observer=Observer())
    assert watched._decide is not store.bind(watched.policy)
    assert watched.store is store


def test_bad_observer_options_are_errors() -> None:
    with pytest.raises(ValueError, match="observer"):
        Limiter("1/second", observer=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spans"):
        OpenTelemetryObserver(spans="all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="near_limit"):
        PrometheusObserver(CollectorRegistry(), near_limit=2)
