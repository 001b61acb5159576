"""An upstream API for the client tests: ``20/second`` per ``X-API-Key`` behind ratelimit-asgi, with the IETF fields.

Served by uvicorn in one process (its limiter in memory, exact); each answer
of a key says what is left (``RateLimit``) and its policy (``RateLimit-Policy``),
and a 429 carries ``Retry-After``. ``UPSTREAM_RATE`` changes the rate.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ratelimit_asgi import RateLimitMiddleware, header
from ratelimit_core import Limiter


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", ok)])
app.add_middleware(
    RateLimitMiddleware,
    limiter=Limiter(os.environ.get("UPSTREAM_RATE", "20/second"), name="upstream"),
    key_func=header("x-api-key"),
)
