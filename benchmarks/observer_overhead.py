"""What observing costs: no observer, OpenTelemetry, Prometheus, on the hot key and through the middleware.

Run from the repository root::

    hatch run bench:observers            # full run, writes benchmarks/results/
    hatch run bench:observers --quick    # a quick look, nothing written

Cases, each with no observer, with ``OpenTelemetryObserver`` (the SDK's
``MeterProvider`` with an in-memory reader, as an exporting app would have;
``spans="current"`` with no span recording) and with ``PrometheusObserver``
(its own registry):

* ``memory hit``: ``await limiter.hit("hot")`` on a ``MemoryStore``, one hot key;
* ``ASGI request``: a raw ASGI call of a one-route Starlette app behind
  ``RateLimitMiddleware`` (memory store), every request admitted.

The best of ``--repeat`` interleaved runs counts; ``x none`` is the time per
operation against the same case without an observer.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from asgi_requests import SCOPE, bare_app
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry
from redis_decisions import save, table

from ratelimit_asgi import RateLimitMiddleware
from ratelimit_core import Limiter
from ratelimit_core.observe import Observer
from ratelimit_core.otel import OpenTelemetryObserver
from ratelimit_core.prometheus import PrometheusObserver

LIMIT = "1000000000/hour"


def observers() -> dict[str, Callable[[], Observer | None]]:
    def otel() -> Observer:
        meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
        return OpenTelemetryObserver(meter)

    return {"none": lambda: None, "OpenTelemetry": otel, "Prometheus": lambda: PrometheusObserver(CollectorRegistry())}


async def per_second(op: Callable[[], Awaitable[Any]], n: int) -> float:
    await op()  # warm up
    started = time.perf_counter()
    for _ in range(n):
        await op()
    return n / (time.perf_counter() - started)


def memory_hit(observer: Observer | None) -> Callable[[], Awaitable[Any]]:
    limiter = Limiter(LIMIT, name="bench", observer=observer)
    return lambda: limiter.hit("hot")


def asgi_request(observer: Observer | None) -> Callable[[], Awaitable[Any]]:
    app = bare_app()
    app.add_middleware(RateLimitMiddleware, limiter=Limiter(LIMIT, name="bench", observer=observer))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"expected 200, got {message['status']}")

    return lambda: app(dict(SCOPE), receive, send)


async def run(n: int, repeat: int) -> list[dict[str, str]]:
    cases = {"memory hit": (memory_hit, n), "ASGI request": (asgi_request, n // 5)}
    best: dict[tuple[str, str], float] = {}
    for _ in range(repeat):
        for case, (make, ops) in cases.items():
            for name, observer in observers().items():
                rate = await per_second(make(observer()), ops)
                best[(case, name)] = max(best.get((case, name), 0.0), rate)
                print(f"{case:14} {name:14} {rate:12,.0f}/s", file=sys.stderr)
    rows = []
    for (case, name), rate in best.items():
        plain = best[(case, "none")]
        rows.append(
            {
                "case": case,
                "observer": name,
                "per second": f"{rate:,.0f}",
                "µs each": f"{1e6 / rate:.2f}",
                "added µs": f"{1e6 / rate - 1e6 / plain:.2f}",
                "x none": f"{plain / rate:.2f}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations; writes nothing")
    args = parser.parse_args()
    n, repeat = (20_000, 1) if args.quick else (200_000, 5)
    rows = asyncio.run(run(n, repeat))
    columns = list(rows[0])
    versions = ", ".join(
        f"{d} {version(d)}"
        for d in ("ratelimit-core", "ratelimit-asgi", "opentelemetry-sdk", "prometheus-client", "starlette")
    )
    report = (
        f"# What observing costs\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"{versions}; best of {repeat}.\n\n" + table(rows, columns) + "\n"
    )
    print(report)
    if not args.quick:
        save("observers", report, rows, columns)


if __name__ == "__main__":
    main()
