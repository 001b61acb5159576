"""The picture in docs/observability.md: the metrics of a real run, as a dashboard would plot them.

Run from the repository root (needs ``redis-server`` on PATH)::

    hatch run bench:metrics-picture      # writes docs/img/metrics.png

A Starlette app behind ``RateLimitMiddleware`` (``10/second`` per client, on a
``RedisStore`` of its own server, failing open), reporting to a
``PrometheusObserver``, is called in process for twelve seconds: five clients
at 4 requests a second throughout; from 3 s to 6 s one client bursts at 80 a
second; from 7 s to 9.5 s the Redis server is stopped (``SIGSTOP``), so store
calls time out, the circuit breaker opens and the limits fail open; then it
resumes. The registry is read every quarter of a second, and the picture
plots what a dashboard would: decisions per second by outcome, the store's
p99 call time, and the breaker's state.
"""

from __future__ import annotations

import asyncio
import signal
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis_decisions import start_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ratelimit_asgi import RateLimitMiddleware, header
from ratelimit_core import Limiter
from ratelimit_core.observe import DURATION_BUCKETS, OUTCOMES
from ratelimit_core.prometheus import PrometheusObserver
from ratelimit_redis import RedisStore

OUT = Path(__file__).parent.parent / "docs" / "img" / "metrics.png"
RUN, STEP = 12.0, 0.25
BURST, OUTAGE = (3.0, 6.0), (7.0, 9.5)
COLOURS = {
    "allowed": "#73bf69",
    "denied": "#f2495c",
    "shadow_denied": "#b877d9",
    "degraded_allowed": "#fade2a",
    "degraded_denied": "#ff9830",
}


async def item(request: Request) -> Response:
    return PlainTextResponse("ok")


def scope_for(client: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/items/1", "raw_path": b"/items/1", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"demo"), (b"x-client", client.encode())], "client": ("127.0.0.1", 5000),
        "server": ("demo", 80),
    }  # fmt: skip


def sample(registry: CollectorRegistry) -> dict[str, Any]:
    """Cumulative decisions by outcome, store-call buckets, and the breaker's state, now."""
    decisions = dict.fromkeys(OUTCOMES, 0.0)
    buckets: dict[float, float] = {}
    state = "closed"
    for family in registry.collect():
        for s in family.samples:
            if s.name == "ratelimit_decisions_total":
                decisions[s.labels["outcome"]] += s.value
            elif s.name == "ratelimit_store_duration_seconds_bucket":
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + s.value
            elif s.name == "ratelimit_breaker_state" and s.value == 1:
                state = s.labels["state"]
    return {"decisions": decisions, "buckets": buckets, "state": state}


def p99(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The 99th percentile of the store calls between two samples (the bucket's upper bound), in ms."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    for bound, count in zip(bounds, counts, strict=True):
        if count >= 0.99 * total:
            return min(bound, DURATION_BUCKETS[-1]) * 1000
    return None


async def main() -> None:
    server, url, folder = start_server()
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    client = Redis.from_url(url)
    store = RedisStore(client, timeout=0.1, breaker_failures=3, breaker_cooldown=0.5, observer=observer)
    limiter = Limiter("10/second", name="api", store=store, on_error="allow", observer=observer)
    app = RateLimitMiddleware(
        Starlette(routes=[Route("/items/{item_id}", item)]), limiter=limiter, key_func=header("x-client")
    )
    started = time.monotonic()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def traffic(name: str, per_second: float, start: float, stop: float) -> None:
        await asyncio.sleep(start)
        while time.monotonic() - started < stop:
            asyncio.ensure_future(app(scope_for(name), receive, send))  # noqa: RUF006 - awaited at the end
            await asyncio.sleep(1 / per_second)

    async def outage() -> None:
        await asyncio.sleep(OUTAGE[0])
        server.send_signal(signal.SIGSTOP)
        await asyncio.sleep(OUTAGE[1] - OUTAGE[0])
        server.send_signal(signal.SIGCONT)

    samples: list[tuple[float, dict[str, Any]]] = []

    async def sampler() -> None:
        while (now := time.monotonic() - started) < RUN:
            samples.append((now, sample(registry)))
            await asyncio.sleep(STEP)

    try:
        await asyncio.gather(
            *(traffic(f"client-{n}", 4, 0, RUN) for n in range(5)),
            traffic("bursting-client", 80, *BURST),
            outage(),
            sampler(),
        )
        await asyncio.sleep(0.5)  # the last requests end
    finally:
        server.send_signal(signal.SIGCONT)
        await store.aclose()
        await client.aclose()
        server.kill()
        server.wait()
        folder.cleanup()
    plot(samples)


def plot(samples: list[tuple[float, dict[str, Any]]]) -> None:
    times, rates, latency, states = [], {o: [] for o in OUTCOMES}, [], []
    for (t0, a), (t1, b) in pairwise(samples):
        times.append(t1)
        for outcome in OUTCOMES:
            rates[outcome].append((b["decisions"][outcome] - a["decisions"][outcome]) / (t1 - t0))
        latency.append(p99(a["buckets"], b["buckets"]))
        states.append({"closed": 0, "half_open": 1, "open": 2}[b["state"]])
    plt.style.use("dark_background")
    figure, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(7.0, 6.0), sharex=True, height_ratios=[3, 1.6, 1], facecolor="#181b1f"
    )
    shown = [o for o in OUTCOMES if any(rates[o])]
    top.stackplot(times, *(rates[o] for o in shown), labels=shown, colors=[COLOURS[o] for o in shown], alpha=0.85)
    top.set_ylabel("decisions / s")
    top.set_title("ratelimit_decisions_total, rate by outcome", loc="left", fontsize=10)
    top.legend(loc="upper right", fontsize=8, frameon=False, ncol=len(shown))
    middle.plot(times, [v if v is not None else float("nan") for v in latency], color="#5794f2")
    middle.set_yscale("log")
    middle.set_ylabel("ms")
    middle.set_title("ratelimit_store_duration_seconds, p99 per 0.25 s", loc="left", fontsize=10)
    bottom.step(times, states, where="post", color="#ff9830")
    bottom.set_yticks([0, 1, 2], ["closed", "half open", "open"])
    bottom.set_title("ratelimit_breaker_state", loc="left", fontsize=10)
    bottom.set_xlabel("seconds")
    for axis in (top, middle, bottom):
        axis.set_facecolor("#111217")
        axis.grid(alpha=0.15)
        for start, end, what in ((*BURST, "burst"), (*OUTAGE, "Redis stopped")):
            axis.axvspan(start, end, color="white", alpha=0.05)
            if axis is top:
                axis.text(start + 0.05, axis.get_ylim()[1] * 0.8, what, fontsize=8, alpha=0.7)
    figure.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    # Drawn for the docs' page width, as benchmarks/charts.py draws its charts (the docs' test checks it).
    figure.savefig(OUT, dpi=200, facecolor=figure.get_facecolor(), metadata={"ratelimit-min-font-pt": "8"})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
