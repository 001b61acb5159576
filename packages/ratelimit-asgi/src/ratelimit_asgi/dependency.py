"""A FastAPI dependency for per-endpoint limits, with the middleware's header fields."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from ratelimit_asgi.fields import HeaderMode
from ratelimit_asgi.keying import KeyFunction, checked_key_func
from ratelimit_asgi.keys import client_address
from ratelimit_asgi.limiter_fields import FieldsByPolicy
from ratelimit_asgi.observed import enter, leave, route_template
from ratelimit_asgi.problems import PROBLEM_TYPES, UNAVAILABLE, ProblemType, RateLimitRefusal, too_many
from ratelimit_asgi.rules import LimiterResolver
from ratelimit_core import Decision, Limiter, RateLimitExceeded, StoreError

__all__ = ["RateLimit"]


class RateLimit:
    """Limits the endpoints that depend on it::

        search_limit = RateLimit(Limiter("10/minute", name="search"))

        @app.get("/search", dependencies=[Depends(search_limit)])
        async def search(q: str): ...

    Admitted requests get the same header fields as with the middleware;
    denied ones raise :class:`~ratelimit_asgi.RateLimitRefusal` (an
    ``HTTPException``) with those fields, ``Retry-After`` and the
    middleware's problem document, which ``problem_handler`` sends as it is::

        app.add_exception_handler(RateLimitRefusal, problem_handler)

    The endpoint may also take the :class:`~ratelimit_core.Decision`
    (``decision: Decision = Depends(search_limit)``); it is ``None`` when the
    store failed and ``fail_open`` let the request through. A denial made by the
    limiter's failure policy (``on_error="deny"``) is a 503, never a 429.

    A limiter with a concurrency cap holds its slot until the response has
    been sent (a dependency with ``yield``: FastAPI runs its exit after the
    response), or the endpoint raised.

    Args:
        limiter: The limiter (give each endpoint group its own name), or a
            function choosing one per request, sync or async
            (``request -> Limiter | None``; ``None``: unlimited, and the
            endpoint gets ``None``).
        key_func: ``HTTPConnection -> str``, sync or async; default: the peer address.
        cost: Units each request consumes.
        headers: ``"both"``, ``"ietf"``, ``"x-ratelimit"`` or ``"none"``.
        fail_open: When the store fails, let the request through (``True``)
            or refuse it with 503.
        problem_type: ``"about:blank"`` (default) or ``"quota-exceeded"``, as for the middleware.
    """

    def __init__(
        self,
        limiter: Limiter | LimiterResolver,
        *,
        key_func: KeyFunction | None = None,
        cost: int = 1,
        headers: HeaderMode = "both",
        fail_open: bool = True,
        problem_type: ProblemType = "about:blank",
    ) -> None:
        if not isinstance(limiter, Limiter) and (isinstance(limiter, type) or not callable(limiter)):
            raise ValueError(f"limiter must be a ratelimit_core.Limiter or a function choosing one, got {limiter!r}")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"cost must be an int >= 0, got {cost!r}")
        self.limiter = limiter
        self.key_func: KeyFunction = client_address() if key_func is None else checked_key_func(key_func)
        self.cost = cost
        self.fail_open = fail_open
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}")
        self.problem_type: ProblemType = problem_type
        self._limits = FieldsByPolicy(headers)
        self._fixed = self._limits.of(limiter) if isinstance(limiter, Limiter) else None

    async def __call__(self, request: Request, response: Response) -> AsyncIterator[Decision | None]:
        limit = self._fixed
        if limit is None:
            limit = await self._limits.chosen(self.limiter, request)  # type: ignore[arg-type]  # a resolver
            if limit is None:
                yield None
                return
        key = self.key_func(request)
        if inspect.isawaitable(key):
            key = await key
        limiter = limit.limiter
        hold = limiter.acquire(key, self.cost) if limiter.cap is not None else None
        # For the limiter's observer: the route FastAPI matched (its template, never the raw path).
        token = None if limiter.observer is None else enter(_route_of(request), shadow=False)
        try:
            if hold is None:
                decision = await limiter.hit(key, self.cost)
            else:
                try:
                    decision = await hold.__aenter__()
                except RateLimitExceeded as denied:
                    decision, hold = denied.decision, None
        except StoreError:
            if not self.fail_open:
                raise RateLimitRefusal(UNAVAILABLE) from None
            yield None
            return
        finally:
            if token is not None:
                leave(token)
        try:
            if decision.degraded and not decision.allowed:  # the failure policy denied: an outage, not a limit
                raise RateLimitRefusal(UNAVAILABLE)
            fields = [] if decision.degraded else limit.fields.of(decision)
            if not decision.allowed:
                raise RateLimitRefusal(too_many(decision, limit.fields, fields, self.problem_type))
            for name, value in fields:
                response.headers.append(name.decode(), value.decode())
            yield decision
        finally:
            if hold is not None:
                await hold.__aexit__(None, None, None)


def _route_of(request: Request) -> str | None:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else route_template(request.scope, request.scope.get("app"))
