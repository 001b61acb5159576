"""Pure ASGI rate limiting middleware."""

from __future__ import annotations

import inspect
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ratelimit_asgi.fields import HeaderMode, retry_after_value
from ratelimit_asgi.keys import ANONYMOUS, FACTORIES, KeyFunc, address_key, client_address
from ratelimit_asgi.limits import Limit, Limits
from ratelimit_asgi.observed import enter, leave, route_template
from ratelimit_asgi.problems import PROBLEM_TYPES, UNAVAILABLE, ProblemType, Refusal, refusal, too_many
from ratelimit_asgi.rules import LimiterResolver, Rule, compile_path
from ratelimit_asgi.settle import USAGE, Settle, Usage, checked_outcomes
from ratelimit_core import Decision, Limiter, RateLimitExceeded, Reservation, StoreError

__all__ = [
    "MAX_KEY_BODY",
    "RATE_LIMITED",
    "DecisionEvent",
    "DecisionHook",
    "KeyFunction",
    "RateLimitMiddleware",
    "RateLimiterMiddleware",
]

logger = logging.getLogger("ratelimit_asgi")

KeyFunction = Callable[[HTTPConnection], "str | Awaitable[str]"]
DecisionHook = Callable[[HTTPConnection, "DecisionEvent"], "None | Awaitable[None]"]


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """What ``on_decision`` hears: a decision, or a store failure, and who made it.

    Attributes:
        decision: The decision, or ``None`` when the store failed (``error``).
        limiter: The limiter that decided (its ``name`` is a good metrics label).
        rule: The :class:`~ratelimit_asgi.Rule` that chose the limiter, or
            ``None`` for the middleware's own ``limiter``.
        error: The :class:`~ratelimit_core.StoreError` when the store failed.
    """

    decision: Decision | None
    limiter: Limiter
    rule: Rule | None = None
    error: StoreError | None = None


#: The close code for a WebSocket over its message limit, or refused at its handshake where the server
#: cannot answer it with a 429: in RFC 6455's private range (4000-4999), which every server accepts.
#: (Daphne refuses 1008, "policy violation": it allows only 1000 and 3000-4999.)
RATE_LIMITED = 4008
#: The most of a request body a key function may read (it is kept and given to the app after).
MAX_KEY_BODY = 1024 * 1024


class _BodyTooLarge(Exception):
    """A key function read more than :data:`MAX_KEY_BODY` bytes of the body."""


class _Recorder:
    """The ``receive`` a key function's request reads from: what it reads is kept for the app."""

    __slots__ = ("messages", "receive", "size")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.messages: list[Message] = []
        self.size = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > MAX_KEY_BODY:
                raise _BodyTooLarge
        self.messages.append(message)
        return message

    def replay(self) -> Receive:
        """``receive`` for the app: the messages the key function read, then the rest."""
        kept = deque(self.messages)

        async def receive() -> Message:
            return kept.popleft() if kept else await self.receive()

        return receive


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the middleware's limiter, or one rule, applies to a request: built once."""

    #: The limiter, when it is fixed; ``None`` when ``resolver`` chooses one per request.
    limit: Limit | None
    resolver: LimiterResolver | None
    cost: int
    key_func: KeyFunction
    per_path: bool = False
    rule: Rule | None = None
    #: The IPv6 prefix when keyed on the peer address alone (the default): read straight from the scope.
    peer_prefix: int | None = None
    count: Callable[[int], bool] | None = None
    settle: Settle | None = None
    #: Admitted requests are settled after their response (``count`` or ``settle``).
    accounting: bool = False
    #: Requests whose key function failed: the middleware's count, shared by its plans.
    unkeyed: _Unkeyed | None = None


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
        key_func: ``HTTPConnection -> str``, sync or async, such as what
            ``client_ip(...)``, ``header(...)`` or ``api_key(...)`` return.
            Default: ``client_address()``, the direct peer's address (never a
            forwarding header; see ``client_ip``). It may read the request
            body (up to :data:`MAX_KEY_BODY`); the app then gets it as sent.
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
        on_decision: Called with the connection and a :class:`DecisionEvent`
            (sync or async), for metrics: each decision, and each store
            failure, with the limiter (and the rule) that decided.

    A decision the limiter's failure policy made (``on_error="deny"``: the
    store failed) is refused with 503, never with 429. A path longer than
    8,192 characters is refused with 414 before any rule is matched.
        websocket_messages: Also limit each message a client sends on an open
            WebSocket (one unit each); over the limit the socket is closed with
            code 1008.
        problem_type: The 429's problem type: ``"about:blank"`` (default) or
            ``"quota-exceeded"`` (draft-11's, with ``violated-policies``).

    Raises:
        TypeError: for an argument of the wrong kind: a string where a list is
            expected (``exclude_routes="/health"``), a helper passed uncalled
            (``key_func=client_ip``), a key function that is not callable.
        ValueError: for a bad value.
    """

    __slots__ = (
        "_default",
        "_default_only",
        "_exact",
        "_limits",
        "_patterns",
        "_rules",
        "app",
        "fail_open",
        "limiter",
        "on_decision",
        "problem_type",
        "shadow",
        "websocket_messages",
    )

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Any = None,
        key_func: KeyFunction | None = None,
        exclude_routes: Iterable[str | re.Pattern[str]] = (),
        fail_open: bool = True,
        headers: HeaderMode = "both",
        cost: int = 1,
        rules: Sequence[Rule] = (),
        shadow: bool = False,
        on_decision: DecisionHook | None = None,
        websocket_messages: bool = False,
        problem_type: ProblemType = "about:blank",
        count: Callable[[int], bool] | None = None,
        settle: Settle | None = None,
    ) -> None:
        key_func = client_address() if key_func is None else checked_key_func(key_func)
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}")
        self.problem_type: ProblemType = problem_type
        core = getattr(limiter, "limiter", limiter)
        if core is not None and not isinstance(core, Limiter) and (isinstance(core, type) or not callable(core)):
            raise ValueError(
                "limiter must be a ratelimit_core.Limiter, a RateLimiterOrchestrator, or a function choosing one "
                f"per request (connection -> Limiter | None), got {limiter!r}"
            )
        if core is None and not rules:
            raise ValueError("give a limiter, rules, or both")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"cost must be an int >= 0, got {cost!r}")
        given: object = rules
        if isinstance(given, Rule | str | bytes):
            raise TypeError(f"rules must be a list of Rule objects, got one: {rules!r}")
        for rule in rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"rules must be Rule objects, got {rule!r}")
        self.app = app
        self.limiter = core if isinstance(core, Limiter) else None
        self.fail_open = fail_open
        self.shadow = shadow
        self.on_decision = on_decision
        self.websocket_messages = websocket_messages
        self._limits = Limits(headers)
        unkeyed = _Unkeyed()

        def plan(
            source: Limiter | LimiterResolver,
            cost: int,
            key: KeyFunction,
            rule: Rule | None = None,
            count: Callable[[int], bool] | None = None,
            settle: Settle | None = None,
        ) -> _Plan:
            limit = self._limits.of(source) if isinstance(source, Limiter) else None
            resolver = None if isinstance(source, Limiter) else source
            capped = isinstance(source, Limiter) and source.cap is not None
            if capped and (count is not None or settle is not None or websocket_messages):
                raise ValueError(_CAPPED.format(source))
            per_path = rule is not None and rule.per_path
            # The peer's address is read straight from the scope only when nothing else needs the connection.
            prefix = key.ipv6_prefix if isinstance(key, KeyFunc) and not per_path and limit is not None else None
            accounting = count is not None or settle is not None
            return _Plan(limit, resolver, cost, key, per_path, rule, prefix, count, settle, accounting, unkeyed)

        checked_outcomes(count, settle)
        self._default = None if core is None else plan(core, cost, key_func, count=count, settle=settle)
        self._rules = tuple(
            (
                r,
                plan(
                    r.limiter,
                    r.cost,
                    key_func if r.key_func is None else checked_key_func(r.key_func),
                    r,
                    r.count,
                    r.settle,
                ),
            )
            for r in rules
        )
        routes = _checked(exclude_routes)
        self._exact = frozenset(r for r in routes if isinstance(r, str) and not any(c in r for c in "*?{"))
        self._patterns = tuple(compile_path(r) for r in routes if r not in self._exact)
        self._default_only = not self._rules and not self._patterns  # a plan without matching

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(path) > MAX_PATH:
            await _refuse(scope, receive, send, _TOO_LONG)
            return
        if self._default_only and path not in self._exact:
            plan = self._default
        else:
            plan = self._plan(scope.get("method", "GET"), path)
        if plan is None:
            await self.app(scope, receive, send)
            return
        conn: HTTPConnection | None = None
        limit = plan.limit
        prefix = plan.peer_prefix
        if prefix is not None:  # keyed on the peer's address: no connection object needed
            key = _peer_key(scope, prefix)
        else:
            asked = await self._ask(plan, scope, receive, send)
            if asked is None:  # refused, or let through unlimited
                return
            key, limit, conn, receive = asked
        assert limit is not None  # noqa: S101 - a plan keyed on the peer has a fixed limiter
        limiter = limit.limiter
        if limiter.cap is not None:
            await self._held(plan, limit, key, conn, scope, receive, send)
            return
        try:
            if limiter.observer is not None:
                decided = await self._observed(plan, limit, key, scope)
            elif limit.nowait and not plan.accounting:  # the common case, without a coroutine of its own
                decided = limiter.hit_nowait(key, plan.cost)
            else:
                decided = await _decide(plan, limit, key)
        except StoreError as exc:
            await self._store_failed(plan, limiter, exc, conn, scope, receive, send)
            return
        await self._answer(plan, limit, key, decided, conn, scope, receive, send)

    async def _answer(
        self,
        plan: _Plan,
        limit: Limit,
        key: str,
        decided: Decision | Reservation,
        conn: HTTPConnection | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Act on a decision (a reservation's, when the request is settled later): tell the hook, refuse
        (503, 429) or run the app with the fields."""
        limiter = limit.limiter
        decision = decided if isinstance(decided, Decision) else decided.decision
        if self.on_decision is not None:
            event = DecisionEvent(decision, limiter, plan.rule)
            await _call(self.on_decision, conn or _connection(scope, receive, send), event)
        if decision.degraded and not decision.allowed and not self.shadow:  # an outage, not a limit
            await _refuse(scope, receive, send, UNAVAILABLE)
            return
        fields = [] if decision.degraded else limit.fields.of(decision)
        if not decision.allowed and not self.shadow:
            await self._too_many(decision, limit, fields, scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self._accept_websocket(plan, limiter, key, conn, scope, receive, send)
            return
        if isinstance(decided, Reservation) and decision.allowed and not decision.degraded:
            await self._settled(
                Usage(decided, plan.count, plan.settle),
                fields,
                scope,
                receive,
                send,
            )
            return
        if not fields:
            await self.app(scope, receive, send)
            return

        def send_with_fields(message: Message) -> Awaitable[None]:
            # A plain function handing back send's awaitable: no coroutine of its own per message.
            if message["type"] == "http.response.start":
                message["headers"] = _with_fields(message.get("headers", ()), fields)
            return send(message)

        await self.app(scope, receive, send_with_fields)

    async def _held(
        self,
        plan: _Plan,
        limit: Limit,
        key: str,
        conn: HTTPConnection | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """A limiter with a concurrency cap: its slot is held until the response has ended (or the socket closed).

        That is the response's last byte, or, when the app returns without one
        (it raised, the client went away, a WebSocket closed), its return:
        whichever comes first. A server may finish sending before the app's
        coroutine returns (Django's handler does): the slot is free by then.
        """
        limiter = limit.limiter
        if plan.accounting or (self.websocket_messages and scope["type"] == "websocket"):
            raise RuntimeError(_CAPPED.format(limiter))  # a resolver chose it: known only now
        hold, held = limiter.acquire(key, plan.cost), False
        token = None if limiter.observer is None else enter(_route(plan, scope, self.app), self.shadow)
        try:
            decision = await hold.__aenter__()
            held = True
        except RateLimitExceeded as denied:
            decision = denied.decision
        except StoreError as exc:
            await self._store_failed(plan, limiter, exc, conn, scope, receive, send)
            return
        finally:
            if token is not None:
                leave(token)
        if not held:
            await self._answer(plan, limit, key, decision, conn, scope, receive, send)
            return

        async def release() -> None:
            nonlocal held
            if held:
                held = False
                await hold.__aexit__(None, None, None)

        async def send_then_release(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await release()  # the response's last byte is out

        try:
            await self._answer(plan, limit, key, decision, conn, scope, receive, send_then_release)
        finally:
            await release()

    async def _observed(self, plan: _Plan, limit: Limit, key: str, scope: Scope) -> Decision | Reservation:
        """A decision with the route template and shadow mode set for the limiter's observer."""
        token = enter(_route(plan, scope, self.app), self.shadow)
        try:
            return await _decide(plan, limit, key)
        finally:
            leave(token)

    async def _accept_websocket(
        self,
        plan: _Plan,
        limiter: Limiter,
        key: str,
        conn: HTTPConnection | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Let an admitted handshake through, its messages limited too with ``websocket_messages``."""
        if self.websocket_messages:
            conn = conn or _connection(scope, receive, send)
            receive = self._limit_messages(plan, limiter, key, conn, receive, send)
        await self.app(scope, receive, send)

    async def _ask(
        self, plan: _Plan, scope: Scope, receive: Receive, send: Send
    ) -> tuple[str, Limit, HTTPConnection, Receive] | None:
        """The key function's key, and the limit (chosen now if need be); ``None`` once the request is answered."""
        asked = await _ask_key_func(plan, scope, receive, send)
        if asked is None:
            return None
        key, conn, receive = asked
        limit = plan.limit if plan.limit is not None else await self._resolve(plan, conn)
        if limit is None:  # the resolver chose no limit for this request
            await self.app(scope, receive, send)
            return None
        return key, limit, conn, receive

    async def _resolve(self, plan: _Plan, conn: HTTPConnection) -> Limit | None:
        """The limiter ``plan``'s resolver chooses for this request, or ``None`` (unlimited)."""
        assert plan.resolver is not None  # noqa: S101 - a plan without a fixed limiter has a resolver
        return await self._limits.chosen(plan.resolver, conn)

    async def _settled(self, usage: Usage, fields: list[Any], scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, then settle what the request really cost (see :mod:`ratelimit_asgi.settle`)."""
        if usage.settle is not None:
            scope[USAGE] = usage  # for report_cost
        settled = False

        async def send_and_note(message: Message) -> None:
            nonlocal settled
            if message["type"] != "http.response.start":
                await send(message)
                return
            usage.status = message["status"]
            usage.headers = list(message.get("headers", ()))
            if fields:
                message["headers"] = _with_fields(usage.headers, fields)
            await send(message)
            if usage.settles_at_start():  # counting by status: known now
                settled = True
                await usage.close()

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not settled:  # finished, raised (a 500) or the client went away
                settled = True
                await usage.close()

    async def _too_many(
        self, decision: Decision, limit: Limit, fields: list[Any], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Refuse a request over its limit with 429, or its WebSocket handshake."""
        if scope["type"] == "websocket":
            retry = retry_after_value(decision)
            await _refuse_websocket(scope, receive, send, 429, [*fields, (b"retry-after", retry)] if retry else fields)
        else:
            await too_many(decision, limit.fields, fields, self.problem_type).send(send)

    async def _store_failed(
        self,
        plan: _Plan,
        limiter: Limiter,
        exc: StoreError,
        conn: HTTPConnection | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The store failed: tell the hook, then let the request through or refuse it with 503."""
        if self.on_decision is not None:
            event = DecisionEvent(None, limiter, plan.rule, exc)
            await _call(self.on_decision, conn or _connection(scope, receive, send), event)
        if self.fail_open:
            await self.app(scope, receive, send)
        else:
            await _refuse(scope, receive, send, UNAVAILABLE)

    def _plan(self, method: str, path: str) -> _Plan | None:
        if path in self._exact or (self._patterns and any(p.fullmatch(path) for p in self._patterns)):
            return None
        if self._rules:
            method = method.upper()  # h11 and hypercorn pass the method as the client wrote it
            for rule, plan in self._rules:
                if rule.matches(method, path):
                    return plan
        return self._default

    def _limit_messages(
        self, plan: _Plan, limiter: Limiter, key: str, conn: HTTPConnection, receive: Receive, send: Send
    ) -> Receive:
        """``receive``, with each client message counted; over the limit the socket closes with 1008."""

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            try:
                decision = await limiter.hit(key, 1)
            except StoreError as exc:
                if self.on_decision is not None:
                    await _call(self.on_decision, conn, DecisionEvent(None, limiter, plan.rule, exc))
                if self.fail_open:
                    return message
                decision = None
            if decision is not None and self.on_decision is not None:
                await _call(self.on_decision, conn, DecisionEvent(decision, limiter, plan.rule))
            if decision is None or not (decision.allowed or self.shadow):
                await send({"type": "websocket.close", "code": RATE_LIMITED, "reason": "rate limit exceeded"})
                return {"type": "websocket.disconnect", "code": RATE_LIMITED}
            return message

        return receive_limited


#: The seed's name for the middleware, with its keywords (``limiter``,
#: ``key_func``, ``exclude_routes``, ``fail_open``).
RateLimiterMiddleware = RateLimitMiddleware


_CAPPED = (
    "{!r} has a concurrency cap: it holds a slot per request, and cannot count, settle or limit WebSocket "
    "messages (give those a limiter without a cap)"
)

#: The longest path the middleware matches against rules; a longer one is refused with 414.
MAX_PATH = 8192
_REASONS = {429: b"Too Many Requests", 503: b"Service Unavailable", 414: b"URI Too Long"}


def checked_key_func(key_func: Any) -> KeyFunction:
    """``key_func``, refused at once when it is not one (an uncalled helper, not a callable)."""
    if key_func in FACTORIES:
        name = key_func.__name__
        raise TypeError(f"key_func={name} is the helper, not a key function: call it, key_func={name}(...)")
    if not callable(key_func):
        raise TypeError(f"key_func must be a callable taking the connection, got {key_func!r}")
    function: KeyFunction = key_func
    return function


def _with_fields(headers: Iterable[tuple[bytes, bytes]], fields: list[Any]) -> list[tuple[bytes, bytes]]:
    """The app's headers and the limit fields; a field the app set itself is the app's (sent once)."""
    for name, _ in headers:
        if name and name[0] in _FIELD_INITIALS:  # the app may have set one of ours: look closer
            own = {name.lower() for name, _ in headers}
            return [*headers, *(field for field in fields if field[0] not in own)]
    return [*headers, *fields]


#: The first bytes of our field names, either case (``b"xXrR"`` as ints: ``name[0]`` is an int).
_FIELD_INITIALS = frozenset(b"xXrR")


async def _refuse(scope: Scope, receive: Receive, send: Send, refused: Refusal) -> None:
    """Refuse a request with ``refused``, or a WebSocket handshake with its status."""
    if scope["type"] == "websocket":
        await _refuse_websocket(scope, receive, send, refused.status, [])
    else:
        await refused.send(send)


_TOO_LONG = refusal(414, "URI Too Long", "The path is too long to be rate limited.")
_TOO_LARGE = refusal(413, "Content Too Large", "The body is too large to be rate limited.")


def _route(plan: _Plan, scope: Scope, app: ASGIApp) -> str | None:
    """The route template a decision is for: its rule's path, else the route of ``app`` that will answer."""
    if plan.rule is not None and isinstance(plan.rule.path, str):
        return plan.rule.path
    return route_template(scope, app)


async def _decide(plan: _Plan, limit: Limit, key: str) -> Decision | Reservation:
    """A hit of the plan's cost; a reservation when the request is settled after its response."""
    limiter = limit.limiter
    if plan.accounting:
        return await limiter.reserve(key, plan.cost)
    return limiter.hit_nowait(key, plan.cost) if limit.nowait else await limiter.hit(key, plan.cost)


def _peer_key(scope: Scope, prefix: int) -> str:
    """The direct peer's address as a key (an IPv6 one on its ``prefix``), read straight from the scope."""
    client = scope.get("client")
    if not client:
        return ANONYMOUS
    host: str = client[0]
    return host if ":" not in host else address_key(host, prefix)  # IPv4 is its own key


def _connection(scope: Scope, receive: Receive, send: Send) -> HTTPConnection:
    """What key functions and hooks receive: a ``Request``, or a ``WebSocket`` for WebSocket scopes."""
    if scope["type"] == "websocket":
        return WebSocket(scope, receive, send)
    return Request(scope, receive)


async def _ask_key_func(
    plan: _Plan, scope: Scope, receive: Receive, send: Send
) -> tuple[str, HTTPConnection, Receive] | None:
    """The key function's answer, its connection, and the ``receive`` the app gets; ``None`` once refused.

    What the key function reads of the body is kept and replayed to the app;
    reading more than :data:`MAX_KEY_BODY` is answered 413.
    """
    recorder = _Recorder(receive) if scope["type"] == "http" else None
    conn = _connection(scope, recorder or receive, send)
    try:
        key = await _key(plan, conn, scope["path"])
    except _BodyTooLarge:
        await _TOO_LARGE.send(send)
        return None
    except Exception as error:  # noqa: BLE001 - whatever the client's bytes made it raise: a 400, never a 500
        _failed(plan, error)
        await _refuse(scope, receive, send, _BAD_KEY)
        return None
    if key.__class__ is not str:  # a missing header or field gave None, say: the request cannot be keyed
        _failed(plan, TypeError(f"the key function returned {type(key).__name__}, not a str"))
        await _refuse(scope, receive, send, _BAD_KEY)
        return None
    if recorder is not None and recorder.messages:
        receive = recorder.replay()
    return key, conn, receive


async def _key(plan: _Plan, conn: HTTPConnection, path: str) -> Any:
    key = plan.key_func(conn)
    if inspect.isawaitable(key):
        key = await key
    return f"{key}|{path}" if plan.per_path and key.__class__ is str else key


class _Unkeyed:
    """Requests whose key function raised (or gave no ``str``): counted, and logged at most once a minute."""

    __slots__ = ("count", "last")

    def __init__(self) -> None:
        self.count = 0
        self.last = -math.inf

    def failed(self, key_func: object, error: Exception) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= _WARN_EVERY:
            self.last = now
            logger.warning(
                "rate limit: the key function %r failed (%s: %.200s); the request was refused with 400 "
                "(%d such requests so far). A key function that may meet malformed input "
                "should return a fallback key itself.",
                key_func,
                type(error).__name__,
                error,
                self.count,
            )


def _failed(plan: _Plan, error: Exception) -> None:
    if plan.unkeyed is not None:
        plan.unkeyed.failed(plan.key_func, error)


_WARN_EVERY = 60.0
_BAD_KEY = refusal(400, "Bad Request", "The request could not be keyed for rate limiting.")


async def _call(hook: DecisionHook, conn: HTTPConnection, event: DecisionEvent) -> None:
    result = hook(conn, event)
    if inspect.isawaitable(result):
        await result


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, status: int, fields: list[Any]) -> None:
    """Refuse a handshake: an HTTP response where the server supports it, else a close before accept."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = _REASONS.get(status, b"Refused")
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store"), *fields]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": RATE_LIMITED})


def _checked(routes: Iterable[str | re.Pattern[str]]) -> list[str | re.Pattern[str]]:
    if isinstance(routes, str | bytes | re.Pattern):
        raise TypeError(f"exclude_routes must be a list of paths, got one: {routes!r} (write [{routes!r}])")
    out = []
    for route in routes:
        if not isinstance(route, str | re.Pattern):
            raise TypeError(f"exclude_routes: not a path, glob or pattern: {route!r}")
        out.append(route)
    return out
