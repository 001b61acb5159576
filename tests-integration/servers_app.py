"""One small app, as Starlette and as Django's ASGI handler, behind the middleware: what test_asgi_servers serves.

Per client (``X-User``):

* ``/ok`` is limited to 3 a minute: header fields, then a 429;
* ``/stream`` holds one of a single slot while it streams four chunks, 0.2 s apart;
* ``/fails`` holds one of a single slot and raises (a 500);
* ``/ws`` (Starlette only: Django's handler takes no WebSockets) echoes, each
  client message counted against 3 a minute, the handshake included.

``starlette_app`` and ``django_app`` are the two apps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ratelimit_asgi import RateLimitMiddleware, Rule, header
from ratelimit_core import Limiter

CHUNKS, GAP = 4, 0.2


def limited(app: object) -> RateLimitMiddleware:
    """``app`` behind the middleware: 3 a minute, and one slot for /stream and /fails."""
    capped = Limiter("1 concurrent", name="capped")
    return RateLimitMiddleware(
        app,  # type: ignore[arg-type]
        limiter=Limiter("3/minute", name="ok"),
        key_func=header("x-user"),
        rules=[Rule("/stream", capped), Rule("/fails", capped)],
        exclude_routes=["/ws"],
    )


def messages_limited(app: object) -> RateLimitMiddleware:
    """``app`` with /ws's messages limited too (a capped limiter counts no messages: a middleware of its own)."""
    return RateLimitMiddleware(
        app,  # type: ignore[arg-type]
        key_func=header("x-user"),
        rules=[Rule("/ws", Limiter("3/minute", name="ws"))],
        websocket_messages=True,
    )


# -- Starlette ------------------------------------------------------------------------


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(CHUNKS):
            yield b"chunk %d\n" % i
            await asyncio.sleep(GAP)

    return StreamingResponse(chunks(), media_type="text/plain")


async def fails(request: Request) -> Response:
    raise RuntimeError("the endpoint failed")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(text)
    except WebSocketDisconnect:
        pass


starlette_app = messages_limited(
    limited(
        Starlette(
            routes=[Route("/ok", ok), Route("/stream", stream), Route("/fails", fails), WebSocketRoute("/ws", echo)]
        )
    )
)


# -- Django ---------------------------------------------------------------------------

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="test-only",  # noqa: S106 - a throwaway app on loopback
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    LOGGING_CONFIG=None,
)
django.setup()


def django_ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


async def django_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(CHUNKS):
            yield b"chunk %d\n" % i
            await asyncio.sleep(GAP)

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def django_fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the endpoint failed")


urlpatterns = [path("ok", django_ok), path("stream", django_stream), path("fails", django_fails)]

from django.core.asgi import get_asgi_application  # noqa: E402 - after settings.configure

django_app = limited(get_asgi_application())
