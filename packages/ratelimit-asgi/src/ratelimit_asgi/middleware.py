"""Pure ASGI rate limiting middleware."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ratelimit_asgi.fields import Fields, HeaderMode, retry_after_value
from ratelimit_asgi.keys import ANONYMOUS, client_address
from ratelimit_asgi.problems import send_problem
from ratelimit_asgi.rules import Rule, compile_path
from ratelimit_core import Decision, Limiter, StoreError

__all__ = ["DecisionHook", "KeyFunc", "RateLimitMiddleware", "RateLimiterMiddleware"]

KeyFunc = Callable[[HTTPConnection], "str | Awaitable[str]"]
DecisionHook = Callable[[HTTPConnection, Decision], "None | Awaitable[None]"]

#: The close code for a WebSocket over its limit (RFC 6455: policy violation).
POLICY_VIOLATION = 1008


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one limiter applies to a request: built once per limiter or rule."""

    limiter: Limiter
    cost: int
    key_func: KeyFunc
    fields: Fields
    per_path: bool = False

    @property
    def by_peer(self) -> bool:
        """Keyed on the peer address (the default): read straight from the scope."""
        return self.key_func is client_address


class RateLimitMiddleware:
    """Limits HTTP requests and WebSocket handshakes before the app sees them.

    ::

        app.add_middleware(RateLimitMiddleware, limiter=Limiter("100/minute"),
                           key_func=client_ip(trusted_proxies=["10.0.0.0/8"]),
                           exclude_routes=["/health"], fail_open=True)

    Args:
        app: The ASGI app.
        limiter: A :class:`~ratelimit_core.Limiter`, or the seed-compatible
            ``RateLimiterOrchestrator`` (its limiter is used), for requests no
            rule matches; ``None`` leaves them unlimited (rules only).
        key_func: ``HTTPConnection -> str``, sync or async. Default: the direct
            peer's address (never a forwarding header; see ``client_ip``).
        exclude_routes: Paths that bypass limiting (no counting, no headers):
            exact paths, route templates, globs (``"/static/*"``) or compiled
            regular expressions (matched against the whole path).
        fail_open: When the store fails: ``True`` lets the request through
            without limit headers; ``False`` answers 503.
        headers: ``"both"`` (default), ``"ietf"``, ``"x-ratelimit"`` or ``"none"``.
        cost: Units each request consumes under ``limiter``.
        rules: :class:`~ratelimit_asgi.Rule` objects, tried in order before
            ``limiter``: the first whose path and methods match decides.
        shadow: Decide, count and set headers, but never block: for trying
            limits on live traffic.
        on_decision: Called with the connection and each decision (sync or
            async), for metrics; not called for store failures.
        websocket_messages: Also limit each message a client sends on an open
            WebSocket (one unit each); over the limit the socket is closed with
            code 1008.

    Raises:
        ValueError: for a bad argument.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Any = None,
        key_func: KeyFunc | None = None,
        exclude_routes: Iterable[str | re.Pattern[str]] = (),
        fail_open: bool = True,
        headers: HeaderMode = "both",
        cost: int = 1,
        rules: Sequence[Rule] = (),
        shadow: bool = False,
        on_decision: DecisionHook | None = None,
        websocket_messages: bool = False,
    ) -> None:
        key_func = key_func or client_address
        core = getattr(limiter, "limiter", limiter)
        if core is not None and not isinstance(core, Limiter):
            raise ValueError(f"limiter must be a ratelimit_core.Limiter or a RateLimiterOrchestrator, got {limiter!r}")
        if core is None and not rules:
            raise ValueError("give a limiter, rules, or both")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"cost must be an int >= 0, got {cost!r}")
        for rule in rules:
            if not isinstance(rule, Rule):
                raise ValueError(f"rules must be Rule objects, got {rule!r}")
        self.app = app
        self.limiter = core
        self.fail_open = fail_open
        self.shadow = shadow
        self.on_decision = on_decision
        self.websocket_messages = websocket_messages
        fields: dict[int, Fields] = {}

        def plan(limiter: Limiter, cost: int, key: KeyFunc, per_path: bool = False) -> _Plan:
            made = fields.setdefault(id(limiter), Fields(limiter.name, limiter.rates, headers))
            return _Plan(limiter, cost, key, made, per_path)

        self._default = None if core is None else plan(core, cost, key_func)
        self._rules = tuple((r, plan(r.limiter, r.cost, r.key_func or key_func, r.per_path)) for r in rules)
        routes = _checked(exclude_routes)
        self._exact = frozenset(r for r in routes if isinstance(r, str) and not any(c in r for c in "*?{"))
        self._patterns = tuple(compile_path(r) for r in routes if r not in self._exact)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        plan = self._plan(scope.get("method", "GET"), path)
        if plan is None:
            await self.app(scope, receive, send)
            return
        conn: HTTPConnection | None = None
        if plan.by_peer and not plan.per_path:
            client = scope.get("client")
            key = client[0] if client else ANONYMOUS
        else:
            conn = _connection(scope, receive, send)
            key = await _key(plan, conn, path)
        try:
            decision = await plan.limiter.hit(key, plan.cost)
        except StoreError:
            if self.fail_open:
                await self.app(scope, receive, send)
            elif kind == "http":
                await send_problem(send, 503, "Service Unavailable", "The rate limiter is unavailable.", ())
            else:
                await _refuse_websocket(scope, receive, send, 503, [])
            return
        if self.on_decision is not None:
            await _call(self.on_decision, conn or _connection(scope, receive, send), decision)
        fields = [] if decision.degraded else plan.fields.of(decision)
        if not decision.allowed and not self.shadow:
            retry = retry_after_value(decision)
            if retry is not None:
                fields.append((b"retry-after", retry))
            if kind == "websocket":
                await _refuse_websocket(scope, receive, send, 429, fields)
            elif retry is not None:
                await send_problem(
                    send, 429, "Too Many Requests", f"Too many requests: retry in {retry.decode()} s.", fields
                )
            else:
                detail = "This request costs more than the rate limit ever allows."
                await send_problem(send, 429, "Too Many Requests", detail, fields)
            return
        if kind == "websocket":
            if self.websocket_messages:
                receive = self._limit_messages(plan, key, conn or _connection(scope, receive, send), receive, send)
            await self.app(scope, receive, send)
            return
        if not fields:
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await self.app(scope, receive, send_with_fields)

    def _plan(self, method: str, path: str) -> _Plan | None:
        if path in self._exact or any(p.fullmatch(path) for p in self._patterns):
            return None
        for rule, plan in self._rules:
            if rule.matches(method, path):
                return plan
        return self._default

    def _limit_messages(self, plan: _Plan, key: str, conn: HTTPConnection, receive: Receive, send: Send) -> Receive:
        """``receive``, with each client message counted; over the limit the socket closes with 1008."""

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            try:
                decision = await plan.limiter.hit(key, 1)
            except StoreError:
                if self.fail_open:
                    return message
                decision = None
            if decision is not None and self.on_decision is not None:
                await _call(self.on_decision, conn, decision)
            if decision is None or not (decision.allowed or self.shadow):
                await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "rate limit exceeded"})
                return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
            return message

        return receive_limited


#: The seed's name for the middleware, with its keywords (``limiter``,
#: ``key_func``, ``exclude_routes``, ``fail_open``).
RateLimiterMiddleware = RateLimitMiddleware


def _connection(scope: Scope, receive: Receive, send: Send) -> HTTPConnection:
    """What key functions and hooks receive: a ``Request``, or a ``WebSocket`` for WebSocket scopes."""
    if scope["type"] == "websocket":
        return WebSocket(scope, receive, send)
    return Request(scope, receive)


async def _key(plan: _Plan, conn: HTTPConnection, path: str) -> str:
    key = plan.key_func(conn)
    if inspect.isawaitable(key):
        key = await key
    return f"{key}|{path}" if plan.per_path else key


async def _call(hook: DecisionHook, conn: HTTPConnection, decision: Decision) -> None:
    result = hook(conn, decision)
    if inspect.isawaitable(result):
        await result


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, status: int, fields: list[Any]) -> None:
    """Refuse a handshake: an HTTP response where the server supports it, else a close before accept."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = b"Too Many Requests" if status == 429 else b"Service Unavailable"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store"), *fields]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})


def _checked(routes: Iterable[str | re.Pattern[str]]) -> list[str | re.Pattern[str]]:
    out = []
    for route in routes:
        if not isinstance(route, str | re.Pattern):
            raise ValueError(f"exclude_routes: not a path, glob or pattern: {route!r}")
        out.append(route)
    return out
