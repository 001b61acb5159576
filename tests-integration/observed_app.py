"""The app the observability test serves under uvicorn: limits on Redis, reported to Prometheus.

``/api/items/{item_id}`` is limited to 3 an hour per client, ``/shadow/items/{item_id}``
to 1 an hour in shadow mode; ``/metrics`` serves the registry. The Redis URL is
``OBSERVED_REDIS_URL``; the store's breaker opens after two failures and stays
open for a minute. Every limit fails open (``on_error="allow"``). The same
reports go to OpenTelemetry (the SDK's in-memory reader): ``/otel`` answers its
``ratelimit.decisions`` points as JSON.
"""

from __future__ import annotations

import os

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from ratelimit_asgi import RateLimitMiddleware, header
from ratelimit_core import Limiter
from ratelimit_core.observe import Observers
from ratelimit_core.otel import OpenTelemetryObserver
from ratelimit_core.prometheus import PrometheusObserver
from ratelimit_redis import RedisStore

registry = CollectorRegistry()
reader = InMemoryMetricReader()
observer = Observers(
    PrometheusObserver(registry),
    OpenTelemetryObserver(MeterProvider(metric_readers=[reader]).get_meter("observed")),
)
store = RedisStore(
    Redis.from_url(os.environ["OBSERVED_REDIS_URL"]),
    timeout=0.2,
    connect_timeout=0.2,
    breaker_failures=2,
    breaker_cooldown=60,
    observer=observer,
)


async def item(request: Request) -> Response:
    return PlainTextResponse(request.path_params["item_id"])


async def metrics(request: Request) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def otel(request: Request) -> Response:
    data = reader.get_metrics_data()
    points = [
        {"name": metric.name, "attributes": dict(point.attributes or {}), "value": getattr(point, "value", None)}
        for resource in (data.resource_metrics if data is not None else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    return JSONResponse(points)


def limited(name: str, rates: str, *, shadow: bool = False) -> RateLimitMiddleware:
    limiter = Limiter(rates, name=name, store=store, on_error="allow", observer=observer)
    inner = Starlette(routes=[Route("/items/{item_id}", item)])
    return RateLimitMiddleware(inner, limiter=limiter, key_func=header("x-client"), shadow=shadow)


app = Starlette(
    routes=[
        Mount("/api", app=limited("api", "3/hour")),
        Mount("/shadow", app=limited("shadowed", "1/hour", shadow=True)),
        Route("/metrics", metrics),
        Route("/otel", otel),
    ]
)
