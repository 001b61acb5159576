"""What the middleware tells a limiter's observer: the route template and shadow mode, around each decision."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from starlette.routing import Match, Mount
from starlette.types import Scope

from ratelimit_core.observe import RequestContext, request_context

__all__ = ["enter", "leave", "route_template"]

#: A routing table deeper than this is not followed (an app mounted in itself, say).
_MAX_DEPTH = 8


def route_template(scope: Scope) -> str | None:
    """The template of the route ``scope`` will reach (``"/items/{item_id}"``), never the raw path.

    Read from the Starlette or FastAPI app in the scope (``scope["app"]``), by
    the routes' own matching, through mounts; ``None`` when no route matches
    or the app has no routes.
    """
    app = scope.get("app")
    return _template(getattr(app, "routes", None), scope, "", 0)


def _template(routes: Any, scope: Scope, prefix: str, depth: int) -> str | None:
    if not routes or depth > _MAX_DEPTH:
        return None
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        match, child = matches(scope)
        if match is not Match.FULL:
            continue
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return None
        if isinstance(route, Mount):
            inner = _template(route.routes, {**scope, **child}, prefix + path, depth + 1)
            return inner if inner is not None else prefix + path
        return prefix + path
    return None


def enter(route: str | None, shadow: bool) -> Token[RequestContext | None]:
    """Set the request context for the decision about to be made; give the token to :func:`leave`."""
    return request_context.set(RequestContext(route, shadow))


def leave(token: Token[RequestContext | None]) -> None:
    request_context.reset(token)
