"""Pure ASGI rate limiting middleware."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ratelimit_asgi.fields import Fields, HeaderMode, retry_after_value
from ratelimit_asgi.keys import client_address
from ratelimit_asgi.problems import send_problem
from ratelimit_core import Limiter, StoreError

__all__ = ["KeyFunc", "RateLimitMiddleware", "RateLimiterMiddleware"]

KeyFunc = Callable[[HTTPConnection], "str | Awaitable[str]"]


class RateLimitMiddleware:
    """Limits every HTTP request that reaches it, before the app sees it.

    ::

        app.add_middleware(RateLimitMiddleware, limiter=Limiter("100/minute"),
                           key_func=client_ip(trusted_proxies=["10.0.0.0/8"]),
                           exclude_routes=["/health"], fail_open=True)

    Args:
        app: The ASGI app.
        limiter: A :class:`~ratelimit_core.Limiter`, or the seed-compatible
            ``RateLimiterOrchestrator`` (its limiter is used).
        key_func: ``HTTPConnection -> str``, sync or async. Default: the direct
            peer's address (never a forwarding header; see ``client_ip``).
        exclude_routes: Paths that bypass limiting (no counting, no headers):
            exact paths, glob patterns (``"/static/*"``) or compiled regular
            expressions (matched against the whole path).
        fail_open: When the store fails: ``True`` lets the request through
            without limit headers; ``False`` answers 503.
        headers: ``"both"`` (default), ``"ietf"``, ``"x-ratelimit"`` or ``"none"``.
        cost: Units each request consumes.

    A denied request never reaches the app: it gets 429, ``Retry-After``
    (whole seconds, rounded up, at least 1; none when the cost can never fit),
    ``Cache-Control: no-store`` and an ``application/problem+json`` body.
    Admitted responses get the limit headers added to their start message;
    bodies stream through untouched. Lifespan and other scopes pass through.

    Raises:
        ValueError: for a bad argument.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Any,
        key_func: KeyFunc | None = None,
        exclude_routes: Iterable[str | re.Pattern[str]] = (),
        fail_open: bool = True,
        headers: HeaderMode = "both",
        cost: int = 1,
    ) -> None:
        core = getattr(limiter, "limiter", limiter)
        if not isinstance(core, Limiter):
            raise ValueError(f"limiter must be a ratelimit_core.Limiter or a RateLimiterOrchestrator, got {limiter!r}")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"cost must be an int >= 0, got {cost!r}")
        self.app = app
        self.limiter = core
        self.key_func: KeyFunc = key_func or client_address
        self.fail_open = fail_open
        self.cost = cost
        self._fields = Fields(core.name, core.rates, headers)
        self._exact, self._patterns = _exclusions(exclude_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._excluded(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = self.key_func(HTTPConnection(scope))
        if inspect.isawaitable(key):
            key = await key
        try:
            decision = await self.limiter.hit(key, self.cost)
        except StoreError:
            if self.fail_open:
                await self.app(scope, receive, send)
            else:
                await send_problem(send, 503, "Service Unavailable", "The rate limiter is unavailable.", ())
            return
        fields = [] if decision.degraded else self._fields.of(decision)
        if not decision.allowed:
            retry = retry_after_value(decision)
            if retry is not None:
                fields.append((b"retry-after", retry))
                detail = f"Too many requests: retry in {retry.decode()} s."
            else:
                detail = "This request costs more than the rate limit ever allows."
            await send_problem(send, 429, "Too Many Requests", detail, fields)
            return
        if not fields:
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await self.app(scope, receive, send_with_fields)

    def _excluded(self, path: str) -> bool:
        return path in self._exact or any(p.fullmatch(path) for p in self._patterns)


#: The seed's name for the middleware, with its keywords (``limiter``,
#: ``key_func``, ``exclude_routes``, ``fail_open``).
RateLimiterMiddleware = RateLimitMiddleware


def _exclusions(routes: Iterable[str | re.Pattern[str]]) -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for route in routes:
        if isinstance(route, re.Pattern):
            patterns.append(route)
        elif isinstance(route, str) and any(c in route for c in "*?"):
            patterns.append(re.compile(_glob(route)))
        elif isinstance(route, str):
            exact.add(route)
        else:
            raise ValueError(f"exclude_routes: not a path, glob or pattern: {route!r}")
    return frozenset(exact), tuple(patterns)


def _glob(pattern: str) -> str:
    """A path glob as a regular expression: ``*`` within a segment, ``**`` across them."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append({"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c)))
        i += 1
    return "".join(out)
