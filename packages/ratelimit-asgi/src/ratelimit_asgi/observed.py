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


def route_template(scope: Scope, app: Any) -> str | None:
    """The template of the route of ``app`` that ``scope`` will reach (``"/items/{item_id}"``), never the raw path.

    ``app`` is what the middleware wraps: its routes are found through the
    middleware around them (each keeps the next as ``app``) and matched by
    their own rules, through mounts. Under a mount, the mount's path comes
    first (``"/api/items/{item_id}"``). ``None`` when no route matches or the
    app has no routes.
    """
    root, top = scope.get("root_path", ""), scope.get("app_root_path", "")
    mounted = root[len(top) :] if top and root.startswith(top) else root
    inner = _template(_routes_of(app), scope, "", 0)
    return None if inner is None else mounted + inner


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
            inner = _template(_routes_of(route.app), {**scope, **child}, prefix + path, depth + 1)
            return inner if inner is not None else prefix + path
        return prefix + path
    return None


def _routes_of(app: Any) -> Any:
    """The routes of a mounted app, through the middleware wrapped around it (each keeps the next as ``app``)."""
    for _ in range(_MAX_DEPTH):
        routes = getattr(app, "routes", None)
        if routes is not None:
            return routes
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def enter(route: str | None, shadow: bool) -> Token[RequestContext | None]:
    """Set the request context for the decision about to be made; give the token to :func:`leave`."""
    return request_context.set(RequestContext(route, shadow))


def leave(token: Token[RequestContext | None]) -> None:
    request_context.reset(token)
