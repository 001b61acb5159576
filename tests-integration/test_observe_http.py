"""Metrics through uvicorn and a real Redis: allowed, denied, shadow, degraded and breaker-open traffic.

A Prometheus scrape of the app's ``/metrics``, and the OpenTelemetry SDK's
in-memory reader in the server (``/otel``), after each phase give exact counts,
labelled by route template; no label carries a client's key or address. The
deny cache and the batches are reported from a real Redis too.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from http_load import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from servers import free_port

from ratelimit_core import Limiter
from ratelimit_core.deny_cache import DenyCachedStore
from ratelimit_core.prometheus import PrometheusObserver
from ratelimit_redis import RedisStore

pytestmark = pytest.mark.timeout(60)

CLIENT = "client-secret-a7"  # the key: it must appear in no label


def _get(port: int, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nX-Client: {CLIENT}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def _samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    status, body = _get(port, "/metrics")
    assert status == 200
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    found = [value for sample, have, value in samples if sample == name and have == labels]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def _otel_decisions(port: int) -> dict[tuple[str, str, str], float]:
    """The OpenTelemetry ``ratelimit.decisions`` points in the server: (policy, outcome, route) -> count."""
    status, body = _get(port, "/otel")
    assert status == 200
    points = [p for p in json.loads(body) if p["name"] == "ratelimit.decisions"]
    for point in points:
        assert set(point["attributes"]) == {
            "ratelimit.policy", "ratelimit.outcome", "ratelimit.algorithm", "ratelimit.store", "http.route",
        }  # fmt: skip
    return {
        (p["attributes"]["ratelimit.policy"], p["attributes"]["ratelimit.outcome"], p["attributes"]["http.route"]): p[
            "value"
        ]
        for p in points
    }


def test_metrics_through_uvicorn_count_every_outcome(own_redis: Any, tmp_path: Path) -> None:
    port = free_port()
    with uvicorn(port, 1, {"OBSERVED_REDIS_URL": own_redis.url}, tmp_path / "uvicorn.log", app="observed_app:app"):
        assert [_get(port, "/api/items/1")[0] for _ in range(4)] == [200, 200, 200, 429]
        assert [_get(port, "/shadow/items/1")[0] for _ in range(2)] == [200, 200], "shadow mode never blocks"
        samples = _samples(port)
        api = {"policy": "api", "algorithm": "token_bucket", "store": "redis", "route": "/api/items/{item_id}"}
        shadowed = {**api, "policy": "shadowed", "route": "/shadow/items/{item_id}"}
        assert _value(samples, "ratelimit_decisions_total", outcome="allowed", **api) == 3
        assert _value(samples, "ratelimit_decisions_total", outcome="denied", **api) == 1
        assert _value(samples, "ratelimit_decisions_total", outcome="allowed", **shadowed) == 1
        assert _value(samples, "ratelimit_decisions_total", outcome="shadow_denied", **shadowed) == 1
        assert _otel_decisions(port) == {
            ("api", "allowed", "/api/items/{item_id}"): 3,
            ("api", "denied", "/api/items/{item_id}"): 1,
            ("shadowed", "allowed", "/shadow/items/{item_id}"): 1,
            ("shadowed", "shadow_denied", "/shadow/items/{item_id}"): 1,
        }
        ok_calls = {"store": "redis", "operation": "hit", "error_type": ""}
        assert _value(samples, "ratelimit_store_duration_seconds_count", **ok_calls) == 6
        assert [s for s in samples if s[0] == "ratelimit_batch_size_count"], "batches reported"

        own_redis.stop()  # Redis goes away: the limits fail open, the breaker opens after two failures
        assert [_get(port, "/api/items/2")[0] for _ in range(4)] == [200] * 4
        samples = _samples(port)
        assert _value(samples, "ratelimit_decisions_total", outcome="degraded_allowed", **api) == 4
        assert _otel_decisions(port)[("api", "degraded_allowed", "/api/items/{item_id}")] == 4
        assert _value(samples, "ratelimit_breaker_state", store="redis", state="open") == 1
        assert _value(samples, "ratelimit_breaker_state", store="redis", state="closed") == 0
        failed = sum(
            value
            for name, labels, value in samples
            if name == "ratelimit_store_duration_seconds_count" and labels["error_type"]
        )
        assert failed == 4, "every failed store call timed, with its error type"
        labels = [value for _, have, _ in samples for value in have.values()]
        assert not [v for v in labels if CLIENT in v or "127.0.0.1" in v], "no key or address in a label"


async def test_the_deny_cache_and_batches_are_reported(redis_url: str) -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    client = Redis.from_url(redis_url)
    store = DenyCachedStore(RedisStore(client, observer=observer), observer=observer)
    name = f"cached-{id(store)}"
    limiter = Limiter("1/hour", name=name, store=store, observer=observer)
    try:
        assert [(await limiter.hit("k")).allowed for _ in range(4)] == [True, False, False, False]
    finally:
        await store.aclose()
        await client.aclose()
    assert registry.get_sample_value("ratelimit_deny_cache_hits_total", {"store": "redis", "policy": name}) == 2
    labels = {"policy": name, "algorithm": "token_bucket", "store": "redis", "route": ""}
    assert registry.get_sample_value("ratelimit_decisions_total", {**labels, "outcome": "denied"}) == 3
    calls = {"store": "redis", "operation": "hit", "error_type": ""}
    assert registry.get_sample_value("ratelimit_store_duration_seconds_count", calls) == 4, "cached answers timed too"
    batches = registry.get_sample_value("ratelimit_batch_size_count", {"store": "redis"})
    assert batches is not None
    assert batches >= 2, "the two calls that went to Redis were written"
