"""Which limit applies to a request: none for an excluded path, the first matching rule's, else the default.

Each rule, and the middleware's own limiter, becomes a :class:`Plan` once, when
the middleware is made: everything about a request that does not depend on the
request itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.types import Scope

from ratelimit_asgi.keying import KeyFunction, checked_key_func
from ratelimit_asgi.keys import KeyFunc
from ratelimit_asgi.limiter_fields import FieldsByPolicy, LimiterFields
from ratelimit_asgi.rules import LimiterResolver, Rule, compile_path
from ratelimit_asgi.settle import Settle
from ratelimit_core import Limiter
from ratelimit_core.throttled import ThrottledWarning

__all__ = ["CAPPED", "MAX_PATH", "Plan", "Plans"]

#: The longest path the middleware matches against rules; a longer one is refused with 414.
MAX_PATH = 8192

CAPPED = (
    "{!r} has a concurrency cap: it holds a slot per request, and cannot count, settle or limit WebSocket "
    "messages (give those a limiter without a cap)"
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the middleware's limiter, or one rule, applies to a request: built once."""

    #: The limiter with its fields, when it is fixed; ``None`` when ``resolver`` chooses one per request.
    limit: LimiterFields | None
    resolver: LimiterResolver | None
    cost: int
    key_func: KeyFunction
    #: Requests whose key function failed: counted and logged, for the whole middleware.
    unkeyed: ThrottledWarning
    per_path: bool = False
    #: The rule, or ``None`` for the middleware's own limiter.
    rule: Rule | None = None
    #: The IPv6 prefix when keyed on the peer address alone (the default): read straight from the scope.
    peer_prefix: int | None = None
    count: Callable[[int], bool] | None = None
    settle: Settle | None = None
    #: Admitted requests are settled after their response (``count`` or ``settle``).
    accounting: bool = False


class Plans:
    """A middleware's plans, and the paths it leaves alone.

    Args:
        default: The plan of the middleware's own limiter, or ``None`` (rules only).
        rules: Each rule with its plan, tried in order.
        exclude_routes: Paths that bypass limiting: exact paths, route
            templates, globs or compiled regular expressions.
    """

    __slots__ = ("_patterns", "_rules", "default", "default_only", "exact")

    def __init__(
        self,
        default: Plan | None,
        rules: Sequence[tuple[Rule, Plan]],
        exclude_routes: Iterable[str | re.Pattern[str]],
    ) -> None:
        routes = _checked(exclude_routes)
        self.default = default
        self._rules = tuple(rules)
        #: The exact paths excluded.
        self.exact = frozenset(r for r in routes if isinstance(r, str) and not any(c in r for c in "*?{"))
        self._patterns = tuple(compile_path(r) for r in routes if r not in self.exact)
        #: No rules and no patterns: every path but the exact exclusions takes the default (no need to match).
        self.default_only = not self._rules and not self._patterns

    def match(self, scope: Scope) -> Plan | None:
        """The plan for a request, or ``None`` when it is not limited."""
        path = scope["path"]
        if path in self.exact or (self._patterns and any(p.fullmatch(path) for p in self._patterns)):
            return None
        if self._rules:
            method = scope.get("method", "GET").upper()  # h11 and hypercorn pass the method as the client wrote it
            for rule, plan in self._rules:
                if rule.matches(method, path):
                    return plan
        return self.default


class Planner:
    """Makes a middleware's plans: with its fields, its key function and its count of unkeyed requests."""

    __slots__ = ("_key_func", "_limits", "_unkeyed", "_websocket_messages")

    def __init__(self, limits: FieldsByPolicy, key_func: KeyFunction, unkeyed: ThrottledWarning, websockets: bool):
        self._limits = limits
        self._key_func = key_func
        self._unkeyed = unkeyed
        self._websocket_messages = websockets

    def plan(self, terms: Rule, rule: Rule | None) -> Plan:
        """The plan of ``terms``: a rule's (``rule`` is ``terms``), or the middleware's own (``rule`` is ``None``)."""
        source = terms.limiter
        key = self._key_func if terms.key_func is None else checked_key_func(terms.key_func)
        accounting = terms.count is not None or terms.settle is not None
        capped = isinstance(source, Limiter) and source.cap is not None
        if capped and (accounting or self._websocket_messages):
            raise ValueError(CAPPED.format(source))
        limit = self._limits.of(source) if isinstance(source, Limiter) else None
        per_path = rule is not None and rule.per_path
        # The peer's address is read straight from the scope only when nothing else needs the connection.
        prefix = key.ipv6_prefix if isinstance(key, KeyFunc) and not per_path and limit is not None else None
        resolver = None if isinstance(source, Limiter) else source
        return Plan(
            limit,
            resolver,
            terms.cost,
            key,
            self._unkeyed,
            per_path,
            rule,
            prefix,
            terms.count,
            terms.settle,
            accounting,
        )


def _checked(routes: Iterable[str | re.Pattern[str]]) -> list[str | re.Pattern[str]]:
    if isinstance(routes, str | bytes | re.Pattern):
        raise TypeError(f"exclude_routes must be a list of paths, got one: {routes!r} (write [{routes!r}])")
    out = []
    for route in routes:
        if not isinstance(route, str | re.Pattern):
            raise TypeError(f"exclude_routes: not a path, glob or pattern: {route!r}")
        out.append(route)
    return out
