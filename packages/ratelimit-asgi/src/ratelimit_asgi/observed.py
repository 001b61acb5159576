"""What the middleware tells a limiter's observer: the route template and shadow mode, around each decision."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from starlette.routing import Match, Mount
from starlette.types import Scope

from ratelimit_core.observe import RequestContext, request_context

__all__ = ["MOUNTED", "enter", "leave", "route_template"]

#: A routing table deeper than this is not followed (an app mounted in itself, say).
_MAX_DEPTH = 8


def route_template(scope: Scope, app: Any) -> str | None:
    """The template of the route of ``app`` that ``scope`` will reach (``"/items/{item_id}"``), never the raw path.

    ``app`` is what the middleware wraps: its routes are found through the
    middleware around them (each keeps the next as ``app``) and matched by
    their own rules, through mounts. When the middleware itself sits under a
    mount, the mount's path comes first (``"/api/items/{item_id}"``), as a
    template (``"/t/{tenant}/items/{item_id}"``): matched from Starlette's
    outermost router when the scope holds it, else with the mount's
    parameters put back by name, or :data:`MOUNTED` when they cannot be told
    apart from its text. Never a client's text: that would make a series per
    value a client chooses.
    ``None`` when no route matches or the app has no routes.
    """
    root, top = scope.get("root_path", ""), scope.get("app_root_path", "")
    router = scope.get("router")  # Starlette's outermost router, set before it routes to a mount
    if root != top and router is not None:  # under a mount: route from the top, as the router did
        whole = _template(getattr(router, "routes", None), {**scope, "root_path": top}, "", 0)
        if whole is not None:
            return whole
    inner = _template(_routes_of(app), scope, "", 0)
    return None if inner is None else _mount_template(scope) + inner


#: The mount of the middleware when its template cannot be read from the scope.
MOUNTED = "/{mount}"


def _mount_template(scope: Scope) -> str:
    """The path of the mount the middleware sits under, with its parameters named, never their values."""
    root, top = scope.get("root_path", ""), scope.get("app_root_path", "")
    mounted: str = root[len(top) :] if top and root.startswith(top) else root
    params = scope.get("path_params") or {}
    if not mounted or not params:  # no mount, or a mount without parameters: its path is its template
        return mounted
    names = {str(value): name for name, value in params.items()}
    segments = mounted.split("/")
    if any(value not in segments for value in names):  # a parameter within a segment, or across several
        return MOUNTED
    return "/".join("{" + names[segment] + "}" if segment in names else segment for segment in segments)


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
