"""Requests per second through the middleware: raw ASGI calls, in process, in one run.

Run from the repository root::

    hatch run bench:asgi            # full run, writes benchmarks/results/
    hatch run bench:asgi --quick    # a quick look, nothing written

One Starlette app with one route is called directly (no server, no
sockets): bare; behind this project's ``RateLimitMiddleware`` (memory store);
behind ``slowapi``'s pure ASGI middleware with an equivalent limit;
behind the seed's ``RateLimiterMiddleware`` (``BaseHTTPMiddleware``); and
behind an inline sketch, the same work in one function with no layers (the
floor this project's middleware is measured against). Cases:

* ``allowed``: a plain-text route, a limit every request fits in;
* ``allowed, JSON``: the same with a JSON response;
* ``allowed, JSON, 7/s``: this project only, a rate whose interval (1/7 s) is
  not a whole number of microseconds (with a burst every request fits in);
* ``denied``: every request gets a 429 with its headers and body.

``x bare time`` is the time per request against the bare app's with the same
response. The best of ``--repeat`` interleaved runs counts.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from math import ceil
from pathlib import Path
from time import monotonic_ns
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ratelimit_core.decision import new_decision

RESULTS = Path(__file__).parent / "results"
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("bench", 80),
}


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def hello_json(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


def bare_app(json: bool = False) -> Starlette:
    return Starlette(routes=[Route("/", hello_json if json else hello)])


def ours(limit: str, json: bool = False) -> Any:
    from ratelimit_asgi import RateLimitMiddleware
    from ratelimit_core import Limiter, Rate

    app = bare_app(json)
    rate = Rate(7, 1, burst=10**9) if limit == "7/s" else limit  # an interval of 1/7 s: ticks, not microseconds
    app.add_middleware(RateLimitMiddleware, limiter=Limiter(rate))
    return app


def slowapi_(limit: str, json: bool = False) -> Any:
    from slowapi import Limiter
    from slowapi.middleware import SlowAPIASGIMiddleware
    from slowapi.util import get_remote_address

    app = bare_app(json)
    app.state.limiter = Limiter(key_func=get_remote_address, default_limits=[limit.replace("/", " per ")])
    app.add_middleware(SlowAPIASGIMiddleware)
    return app


def seed(limit: str, json: bool = False) -> Any:
    from rate_limiter import AlgorithmType, RateLimiterOrchestrator, RateLimiterType
    from rate_limiter.backend.middleware import RateLimiterMiddleware

    count, _, unit = limit.partition("/")
    window = {"minute": 60, "hour": 3600}[unit]
    orchestrator = RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, AlgorithmType.TOKEN_BUCKET, int(count), window)
    app = bare_app(json)
    app.add_middleware(RateLimiterMiddleware, limiter=orchestrator)
    return app


class InlineSketch:
    """The floor: one limit's work inlined in one function, with no layers and no options.

    A token bucket on a dict keyed by the peer address, a ``Decision``, and the
    same five fields as this project's default: what the middleware would cost
    with no store, algorithm or field modules between the request and the
    arithmetic. For reference only; it handles nothing else.
    """

    __slots__ = ("app", "interval", "limit_field", "policy_field", "rate", "tats", "tolerance")

    def __init__(self, app: Any, limit: str) -> None:
        from ratelimit_core import Rate

        self.app, self.rate = app, Rate.parse(limit)
        self.interval = self.rate.period_us // self.rate.limit
        self.tolerance = self.rate.limit * self.interval
        self.tats: dict[str, int] = {}
        self.limit_field = (b"x-ratelimit-limit", b"%d" % self.rate.limit)
        self.policy_field = (b"ratelimit-policy", b'"default";q=%d;w=%d' % (self.rate.limit, round(self.rate.period)))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        key = scope["client"][0]
        now = monotonic_ns() // 1000
        interval, tolerance, tats = self.interval, self.tolerance, self.tats
        tat = tats.get(key, now)
        if tat < now:
            tat = now
        debt = tat - now + interval
        allowed = debt <= tolerance
        if allowed:
            tats[key] = tat + interval
        decision = new_decision(
            allowed, self.rate.limit, (tolerance - debt) // interval, debt / 1e6, 0.0, self.rate, False, None
        )
        r, t = b"%d" % decision.remaining, b"%d" % ceil(decision.reset_after)
        fields = [
            self.limit_field,
            (b"x-ratelimit-remaining", r),
            (b"x-ratelimit-reset", t),
            self.policy_field,
            (b"ratelimit", b'"default";r=' + r + b";t=" + t),
        ]

        def send_with_fields(message: Any) -> Any:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            return send(message)

        await self.app(scope, receive, send_with_fields)


def sketch(limit: str, json: bool = False) -> Any:
    app = bare_app(json)
    app.add_middleware(InlineSketch, limit=limit)
    return app


APPS: dict[str, Callable[[str, bool], Any]] = {
    "bare Starlette": lambda limit, json: bare_app(json),
    "ratelimit-asgi": ours,
    "inline sketch (floor)": sketch,
    "slowapi (ASGI middleware)": slowapi_,
    "async-ratelimit (seed)": seed,
}


async def requests_per_second(app: Any, n: int, expect: int) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(dict(SCOPE), receive, send)  # the first call builds the middleware stack
    statuses.clear()
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    rate = n / (time.perf_counter() - started)
    if set(statuses) != {expect}:
        raise SystemExit(f"expected only {expect}, got {sorted(set(statuses))}")
    return rate


CASES = (
    ("allowed", "100000000/hour", False, 200),
    ("allowed, JSON", "100000000/hour", True, 200),
    ("allowed, JSON, 7/s", "7/s", True, 200),
    ("denied", "1/hour", False, 429),
)


async def best_rates(n: int, repeat: int) -> dict[tuple[str, str], float]:
    """The best requests per second of each app and case, over ``repeat`` interleaved runs."""
    best: dict[tuple[str, str], float] = {}
    for _ in range(repeat):
        for name, make in APPS.items():
            for case, limit, json, expect in CASES:
                if (case == "denied" and name in ("bare Starlette", "inline sketch (floor)")) or (
                    limit == "7/s" and name != "ratelimit-asgi"
                ):
                    continue
                rate = await requests_per_second(make(limit, json), n, expect)
                best[(name, case)] = max(best.get((name, case), 0.0), rate)
                print(f"{name:28} {case:20} {rate:10,.0f}/s", file=sys.stderr)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests; writes nothing")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    n = 5_000 if args.quick else 30_000
    repeat = args.repeat or (2 if args.quick else 5)
    logging.disable(logging.CRITICAL)
    best = await best_rates(n, repeat)
    bare = {False: best[("bare Starlette", "allowed")], True: best[("bare Starlette", "allowed, JSON")]}
    rows = []
    for (name, case), rate in best.items():
        us, bare_rate = 1e6 / rate, bare["JSON" in case]
        slowapi = best.get(("slowapi (ASGI middleware)", case))
        rows.append(
            {
                "app": name,
                "case": case,
                "requests/s": f"{rate:,.0f}",
                "µs/request": f"{us:.1f}",
                "µs over bare": f"{us - 1e6 / bare_rate:+.1f}" if case != "denied" else "",
                "x bare time": f"{bare_rate / rate:.2f}",
                "x slowapi": f"{rate / slowapi:.2f}" if slowapi else "",
            }
        )
    columns = ["app", "case", "requests/s", "µs/request", "µs over bare", "x bare time", "x slowapi"]
    versions = ", ".join(
        f"{d} {version(d)}" for d in ("ratelimit-asgi", "starlette", "slowapi", "limits", "async-ratelimit")
    )
    table = "\n".join(
        ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
        + ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    )
    report = (
        f"# Requests through the middleware\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
        f"{platform.python_version()}; raw ASGI calls in process; {n} requests, best of {repeat}.\n\n"
        f"{versions}.\n\n{table}\n"
    )
    print(report)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "asgi.md").write_text(report)
        with (RESULTS / "asgi.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    asyncio.run(main())
