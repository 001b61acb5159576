"""A FastAPI dependency for per-endpoint limits, with the middleware's header fields."""

from __future__ import annotations

import inspect

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ratelimit_asgi.fields import Fields, HeaderMode, retry_after_value
from ratelimit_asgi.keys import client_address
from ratelimit_asgi.middleware import KeyFunction, checked_key_func
from ratelimit_core import Decision, Limiter, StoreError

__all__ = ["RateLimit"]


class RateLimit:
    """Limits the endpoints that depend on it::

        search_limit = RateLimit(Limiter("10/minute", name="search"))

        @app.get("/search", dependencies=[Depends(search_limit)])
        async def search(q: str): ...

    Admitted requests get the same header fields as with the middleware;
    denied ones raise ``HTTPException(429)`` with those fields and
    ``Retry-After``. The endpoint may also take the :class:`~ratelimit_core.Decision`
    (``decision: Decision = Depends(search_limit)``); it is ``None`` when the
    store failed and ``fail_open`` let the request through. A denial made by the
    limiter's failure policy (``on_error="deny"``) is a 503, never a 429.

    Args:
        limiter: The limiter (give each endpoint group its own name).
        key_func: ``HTTPConnection -> str``, sync or async; default: the peer address.
        cost: Units each request consumes.
        headers: ``"both"``, ``"ietf"``, ``"x-ratelimit"`` or ``"none"``.
        fail_open: When the store fails, let the request through (``True``)
            or raise ``HTTPException(503)``.
    """

    def __init__(
        self,
        limiter: Limiter,
        *,
        key_func: KeyFunction | None = None,
        cost: int = 1,
        headers: HeaderMode = "both",
        fail_open: bool = True,
    ) -> None:
        if not isinstance(limiter, Limiter):
            raise ValueError(f"limiter must be a ratelimit_core.Limiter, got {limiter!r}")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"cost must be an int >= 0, got {cost!r}")
        self.limiter = limiter
        self.key_func: KeyFunction = client_address() if key_func is None else checked_key_func(key_func)
        self.cost = cost
        self.fail_open = fail_open
        self._fields = Fields(limiter.name, limiter.rates, headers)

    async def __call__(self, request: Request, response: Response) -> Decision | None:
        key = self.key_func(request)
        if inspect.isawaitable(key):
            key = await key
        try:
            decision = await self.limiter.hit(key, self.cost)
        except StoreError:
            if self.fail_open:
                return None
            raise HTTPException(503, "The rate limiter is unavailable.") from None
        if decision.degraded and not decision.allowed:  # the failure policy denied: an outage, not a limit
            raise HTTPException(503, "The rate limiter is unavailable.")
        fields = [] if decision.degraded else self._fields.of(decision)
        if not decision.allowed:
            retry = retry_after_value(decision)
            if retry is not None:
                fields.append((b"retry-after", retry))
            headers = {name.decode(): value.decode() for name, value in fields}
            headers["cache-control"] = "no-store"
            raise HTTPException(429, "Too Many Requests", headers=headers)
        for name, value in fields:
            response.headers.append(name.decode(), value.decode())
        return decision
