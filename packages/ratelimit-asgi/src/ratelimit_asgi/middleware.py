"""Pure ASGI rate limiting middleware: dispatch and the decision.

A request goes through named steps (see docs/architecture.md): its plan
(:mod:`~ratelimit_asgi.plans`), its key (:mod:`~ratelimit_asgi.keying`), the
decision (here, or a held slot: :mod:`~ratelimit_asgi.slots`), then the answer:
a refusal (:mod:`~ratelimit_asgi.refusing`), or the app with the limit fields,
settled after the response (:mod:`~ratelimit_asgi.settle`), or an accepted
WebSocket (:mod:`~ratelimit_asgi.websocket`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ratelimit_asgi.events import DecisionEvent, DecisionHook, tell
from ratelimit_asgi.exchange import Exchange
from ratelimit_asgi.fields import Header, HeaderMode, retry_after_value
from ratelimit_asgi.keying import MAX_KEY_BODY, KeyFunction, ask_key, checked_key_func, peer_key, unkeyed_warning
from ratelimit_asgi.keys import client_address
from ratelimit_asgi.limiter_fields import FieldsByPolicy, LimiterFields
from ratelimit_asgi.observed import enter, leave, route_template
from ratelimit_asgi.plans import MAX_PATH, Plan, Planner, Plans
from ratelimit_asgi.problems import PROBLEM_TYPES, UNAVAILABLE, ProblemType, too_many
from ratelimit_asgi.refusing import RATE_LIMITED, TOO_LONG, handshake, refuse, refuse_handshake
from ratelimit_asgi.rules import Rule
from ratelimit_asgi.settle import Reserved, Settle, Usage, checked_outcomes, run_settled
from ratelimit_asgi.slots import hold_slot
from ratelimit_asgi.websocket import accept
from ratelimit_core import Decision, Limiter, Reservation, StoreError

__all__ = [
    "MAX_KEY_BODY",
    "MAX_PATH",
    "RATE_LIMITED",
    "DecisionEvent",
    "DecisionHook",
    "KeyFunction",
    "RateLimitMiddleware",
    "RateLimiterMiddleware",
]

#: The scope types the middleware limits; any other (``lifespan``) goes straight to the app.
_LIMITED = frozenset(("http", "websocket"))


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
        websocket_messages: Also limit each message a client sends on an open
            WebSocket (one unit each); over the limit the socket is closed with
            code :data:`RATE_LIMITED` (4008).
        problem_type: The 429's problem type: ``"about:blank"`` (default) or
            ``"quota-exceeded"`` (draft-11's, with ``violated-policies``).
        count: Count only some outcomes of requests under ``limiter``, by
            response status (``lambda status: status >= 400``): the cost is
            refunded when the response starts with a status that does not count.
        settle: The real cost of a request under ``limiter``, known after its
            response (:func:`~ratelimit_asgi.from_header`,
            :func:`~ratelimit_asgi.reported`).

    A decision the limiter's failure policy made (``on_error="deny"``: the
    store failed) is refused with 503, never with 429. A path longer than
    8,192 characters is refused with 414 before any rule is matched.

    Raises:
        TypeError: for an argument of the wrong kind: a string where a list is
            expected (``exclude_routes="/health"``), a helper passed uncalled
            (``key_func=client_ip``), a key function that is not callable.
        ValueError: for a bad value.
    """

    __slots__ = (
        "_fields",
        "_plans",
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
        core = _checked_limiter(limiter, rules)
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"cost must be an int >= 0, got {cost!r}")
        checked_outcomes(count, settle)
        self.app = app
        self.limiter = core if isinstance(core, Limiter) else None
        self.fail_open = fail_open
        self.shadow = shadow
        self.on_decision = on_decision
        self.websocket_messages = websocket_messages
        self.problem_type: ProblemType = problem_type
        self._fields = FieldsByPolicy(headers)
        planner = Planner(self._fields, key_func, unkeyed_warning(), websocket_messages)
        # The middleware's own limiter is planned as a rule for every path, reported as no rule.
        default = None if core is None else planner.plan(Rule("/**", core, cost=cost, count=count, settle=settle), None)
        self._plans = Plans(default, [(rule, planner.plan(rule, rule)) for rule in rules], exclude_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in _LIMITED:
            await self.app(scope, receive, send)
            return
        path, plans = scope["path"], self._plans
        if len(path) > MAX_PATH:
            await refuse(scope, receive, send, TOO_LONG)
            return
        plan = plans.default if plans.default_only and path not in plans.exact else plans.match(scope)
        if plan is None:
            await self.app(scope, receive, send)
            return
        exchange = Exchange(scope, receive, send, plan)
        if plan.peer_prefix is not None:  # keyed on the peer's address: no connection object needed
            exchange.key = peer_key(scope, plan.peer_prefix)
        elif not await self._keyed(exchange):  # refused, or let through unlimited
            return
        limit = exchange.limit
        assert limit is not None  # noqa: S101 - keyed: the limit is known
        if limit.capped:
            await hold_slot(self, exchange)
            return
        try:
            if limit.nowait and not limit.observed and not plan.accounting:  # no coroutine of its own
                decided: Decision | Reserved = limit.limiter.hit_nowait(exchange.key, plan.cost)
            else:
                decided = await self._decision(exchange)
        except StoreError as exc:
            await self.failed(exchange, exc)
            return
        await self.answer(exchange, decided)

    async def _keyed(self, exchange: Exchange) -> bool:
        """Ask the key function, and the resolver when there is one; ``False`` once the request is answered."""
        if not await ask_key(exchange):
            return False
        plan = exchange.plan
        if plan.resolver is not None:
            exchange.limit = await self._fields.chosen(plan.resolver, exchange.conn)
            if exchange.limit is None:  # the resolver chose no limit for this request
                await self.app(exchange.scope, exchange.receive, exchange.send)
                return False
        return True

    async def _decision(self, exchange: Exchange) -> Decision | Reserved:
        """A hit of the plan's cost, or a reservation when the request is settled after its response;
        with the route template and shadow mode set for the limiter's observer."""
        if not exchange.limit.observed:  # type: ignore[union-attr]  # the limit is known before a decision
            return await _decided(exchange.limit, exchange.plan, exchange.key)  # type: ignore[arg-type]
        token = enter(self.route(exchange), self.shadow)
        try:
            return await _decided(exchange.limit, exchange.plan, exchange.key)  # type: ignore[arg-type]
        finally:
            leave(token)

    def answer(self, exchange: Exchange, decided: Decision | Reserved) -> Awaitable[None]:
        """Act on a decision (a reservation's, when the request is settled later): tell the hook, then
        refuse (503, 429) or run the app with the fields.

        Like the steps it hands over to, it returns what answers, to be awaited: the common case (no
        hook) is the app's own coroutine, with none of the middleware's in between.
        """
        decision = decided if isinstance(decided, Decision) else decided.decision
        if self.on_decision is not None:
            return self._told(exchange, decided, decision)
        return self._respond(exchange, decided, decision)

    async def _told(self, exchange: Exchange, decided: Decision | Reserved, decision: Decision) -> None:
        limiter = exchange.limit.limiter  # type: ignore[union-attr]  # the limit is known before a decision
        await tell(self.on_decision, exchange.conn, DecisionEvent(decision, limiter, exchange.plan.rule))  # type: ignore[arg-type]
        await self._respond(exchange, decided, decision)

    def _respond(self, exchange: Exchange, decided: Decision | Reserved, decision: Decision) -> Awaitable[None]:
        limit = exchange.limit
        assert limit is not None  # noqa: S101 - the limit is known before a decision
        if decision.degraded and not decision.allowed and not self.shadow:  # an outage, not a limit
            return refuse(exchange.scope, exchange.receive, exchange.send, UNAVAILABLE)
        fields = [] if decision.degraded else limit.fields.of(decision)
        if not decision.allowed and not self.shadow:
            return self._too_many(exchange, decision, fields)
        if exchange.scope["type"] == "websocket":
            return accept(self, exchange)
        if isinstance(decided, Reservation) and decision.allowed and not decision.degraded:
            plan = exchange.plan
            return run_settled(self.app, exchange, Usage(decided, plan.count, plan.settle), fields)
        if not fields:
            return self.app(exchange.scope, exchange.receive, exchange.send)
        exchange.fields = fields
        return self.app(exchange.scope, exchange.receive, exchange.send_with_fields)

    async def failed(self, exchange: Exchange, exc: StoreError) -> None:
        """The store failed: tell the hook, then let the request through or refuse it with 503."""
        if self.on_decision is not None:
            limiter = exchange.limit.limiter  # type: ignore[union-attr]  # the limit is known before a decision
            await tell(self.on_decision, exchange.conn, DecisionEvent(None, limiter, exchange.plan.rule, exc))
        if self.fail_open:
            await self.app(exchange.scope, exchange.receive, exchange.send)
        else:
            await refuse(exchange.scope, exchange.receive, exchange.send, UNAVAILABLE)

    def route(self, exchange: Exchange) -> str | None:
        """The route template a decision is for: its rule's path, else the route of the app that will answer."""
        rule = exchange.plan.rule
        if rule is not None and isinstance(rule.path, str):
            return rule.path
        return route_template(exchange.scope, self.app)

    def _too_many(self, exchange: Exchange, decision: Decision, fields: list[Header]) -> Awaitable[None]:
        """Refuse a request over its limit with 429, or its WebSocket handshake."""
        scope, receive, send = exchange.scope, exchange.receive, exchange.send
        if scope["type"] == "websocket":
            retry = retry_after_value(decision)
            refused = handshake(429, [*fields, (b"retry-after", retry)] if retry else fields)
            return refuse_handshake(scope, receive, send, refused)
        limit_fields = exchange.limit.fields  # type: ignore[union-attr]  # the limit is known before a decision
        return too_many(decision, limit_fields, fields, self.problem_type).send(send)


#: The seed's name for the middleware, with its keywords (``limiter``,
#: ``key_func``, ``exclude_routes``, ``fail_open``).
RateLimiterMiddleware = RateLimitMiddleware


def _checked_limiter(limiter: Any, rules: Sequence[Rule]) -> Any:
    """The limiter (a seed orchestrator's own), a resolver or ``None``; checked with the rules."""
    core = getattr(limiter, "limiter", limiter)
    if core is not None and not isinstance(core, Limiter) and (isinstance(core, type) or not callable(core)):
        raise ValueError(
            "limiter must be a ratelimit_core.Limiter, a RateLimiterOrchestrator, or a function choosing one "
            f"per request (connection -> Limiter | None), got {limiter!r}"
        )
    if core is None and not rules:
        raise ValueError("give a limiter, rules, or both")
    given: object = rules
    if isinstance(given, Rule | str | bytes):
        raise TypeError(f"rules must be a list of Rule objects, got one: {rules!r}")
    for rule in rules:
        if not isinstance(rule, Rule):
            raise TypeError(f"rules must be Rule objects, got {rule!r}")
    return core


async def _decided(limit: LimiterFields, plan: Plan, key: str) -> Decision | Reserved:
    """A hit of the plan's cost; a reservation when the request is settled after its response."""
    limiter = limit.limiter
    if plan.accounting:
        return await limiter.reserve(key, plan.cost)
    return limiter.hit_nowait(key, plan.cost) if limit.nowait else await limiter.hit(key, plan.cost)
