"""Concurrency caps through the middleware, a Rule and the dependency: a slot per request, held to its end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import http_sf
import pytest
from fastapi import Depends, FastAPI
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from ratelimit_asgi import RateLimit, RateLimitConfig, RateLimitMiddleware, Rule, header
from ratelimit_core import Concurrency, Limiter

Message = dict[str, Any]
KEY = "x-user:u"  # what header("x-user") makes of user "u"


class Gate:
    """Endpoints that wait until opened: requests stay in flight while a test looks."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.inside = 0

    async def slow(self, request: Request) -> Response:
        self.inside += 1
        try:
            await self.open.wait()
        finally:
            self.inside -= 1
        return PlainTextResponse("done")

    async def stream(self, request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            await self.open.wait()
            yield b"last"

        return StreamingResponse(chunks())

    async def fails(self, request: Request) -> Response:
        raise RuntimeError("the endpoint failed")


def app_with(limiter: Limiter, gate: Gate, **options: Any) -> RateLimitMiddleware:
    routes = [Route("/slow", gate.slow), Route("/stream", gate.stream), Route("/fails", gate.fails)]
    return RateLimitMiddleware(Starlette(routes=routes), limiter=limiter, key_func=header("x-user"), **options)


async def request(app: Any, path: str, *, user: str = "u") -> tuple[int, dict[str, str], bytes]:
    """One request straight through ASGI: status, headers, body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"t"), (b"x-user", user.encode())], "client": ("127.0.0.1", 5000),
        "server": ("t", 80),
    }  # fmt: skip
    sent: list[Message] = []
    asked = False

    async def receive() -> Message:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays until the response ends
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_slot_per_request_held_until_the_response_ends() -> None:
    gate, limiter = Gate(), Limiter("100/minute; 2 concurrent", name="api")
    app = app_with(limiter, gate)
    first = [asyncio.create_task(request(app, "/slow")) for _ in range(2)]
    await settle()
    assert gate.inside == 2
    status, headers, _ = await request(app, "/slow")
    assert status == 429
    assert "retry-after" not in headers, "no wait is known to free a slot"
    assert headers["ratelimit-policy"] == '"api/1min";q=100;w=60, "api/concurrent";q=2;qu="concurrent-requests"'
    http_sf.parse(headers["ratelimit-policy"].encode(), tltype="list")  # valid structured fields
    http_sf.parse(headers["ratelimit"].encode(), tltype="list")
    assert headers["ratelimit"] == '"api/1min";r=98;t=2, "api/concurrent";r=0'
    gate.open.set()
    assert [(await task)[0] for task in first] == [200, 200]
    status, headers, _ = await request(app, "/slow")
    assert status == 200
    assert headers["ratelimit"].endswith('"api/concurrent";r=1'), "the slot is held while the response goes"
    assert (await limiter.peek(KEY, 0)).statuses[-1].remaining == 2, "and freed after"


async def test_a_streamed_response_holds_its_slot_to_its_last_byte() -> None:
    gate, limiter = Gate(), Limiter("1 concurrent", name="stream")
    app = app_with(limiter, gate)
    streaming = asyncio.create_task(request(app, "/stream"))
    await settle()
    assert (await request(app, "/slow"))[0] == 429, "the stream still holds the slot"
    gate.open.set()
    status, _, body = await streaming
    assert (status, body) == (200, b"first;last")
    assert (await limiter.peek(KEY)).remaining == 1


async def test_an_endpoint_that_raises_or_is_cancelled_frees_its_slot() -> None:
    gate, limiter = Gate(), Limiter("1 concurrent", name="errors")
    app = app_with(limiter, gate)
    with pytest.raises(RuntimeError, match="the endpoint failed"):
        await request(app, "/fails")
    assert (await limiter.peek(KEY)).remaining == 1
    held = asyncio.create_task(request(app, "/slow"))  # a server cancels the app when the client leaves
    await settle()
    assert (await limiter.peek(KEY)).remaining == 0
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    await settle()
    assert (await limiter.peek(KEY)).remaining == 1


async def test_slots_are_per_key() -> None:
    gate, limiter = Gate(), Limiter("1 concurrent", name="keys")
    app = app_with(limiter, gate)
    held = asyncio.create_task(request(app, "/slow", user="alice"))
    await settle()
    assert (await request(app, "/slow", user="alice"))[0] == 429
    gate.open.set()
    assert (await request(app, "/slow", user="bob"))[0] == 200
    await held


async def test_a_rule_with_a_cap_holds_a_slot_and_shadow_mode_never_blocks() -> None:
    gate, capped = Gate(), Limiter("1 concurrent", name="rule")
    app = app_with(Limiter("100/minute", name="default"), gate, rules=[Rule("/slow", limiter=capped)])
    held = asyncio.create_task(request(app, "/slow"))
    await settle()
    assert (await request(app, "/slow"))[0] == 429
    open_gate = Gate()
    open_gate.open.set()
    assert (await request(app_with(Limiter("1/minute", name="other"), open_gate), "/stream"))[0] == 200
    shadow = app_with(capped, open_gate, shadow=True)
    status, headers, _ = await request(shadow, "/slow")
    assert status == 200, "shadow mode decides but never blocks"
    assert headers["ratelimit"] == '"rule";r=0'
    gate.open.set()
    await held


async def test_a_slot_is_free_at_the_responses_last_byte_though_the_app_has_not_returned() -> None:
    """Django's handler sends the whole response, then returns: a request in between found the slot held."""
    finished, release = asyncio.Event(), asyncio.Event()

    async def sends_then_lingers(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"failed", "more_body": False})
        finished.set()
        await release.wait()  # the handler's coroutine has not returned yet

    limiter = Limiter("1 concurrent", name="django-like")
    app = RateLimitMiddleware(sends_then_lingers, limiter=limiter, key_func=header("x-user"))
    first = asyncio.create_task(request(app, "/"))
    await finished.wait()
    assert (await limiter.peek(KEY)).remaining == 1, "before the fix: held until the app returned"
    second = asyncio.create_task(request(app, "/"))
    await settle()
    assert not second.done() or (await second)[0] == 500, "the second got the slot, not a 429"
    release.set()
    assert [(await task)[0] for task in (first, second)] == [500, 500]
    assert (await limiter.peek(KEY)).remaining == 1


async def test_an_app_that_returns_without_a_response_frees_its_slot() -> None:
    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        return None

    limiter = Limiter("1 concurrent", name="silent")
    app = RateLimitMiddleware(nothing, limiter=limiter, key_func=header("x-user"))
    with pytest.raises(RuntimeError, match="StopIteration"):  # the helper finds no response start
        await request(app, "/")
    assert (await limiter.peek(KEY)).remaining == 1


def test_the_config_refuses_count_settle_and_websocket_messages_with_a_cap() -> None:
    """Before the fix these passed validation and failed only when the app started."""
    for limit in ({"count": [401]}, {"settle": "reported"}):
        with pytest.raises(ValidationError, match="concurrency cap"):
            RateLimitConfig.from_dict({"rules": [{"path": "/login", "rates": "5/minute; 1 concurrent", **limit}]})
        with pytest.raises(ValidationError, match="concurrency cap"):
            RateLimitConfig.from_dict({"default": {"rates": "1 concurrent", **limit}})
    with pytest.raises(ValidationError, match="concurrency cap"):
        RateLimitConfig.from_dict({"default": {"rates": "1 concurrent"}, "websocket_messages": True})


def test_a_cap_cannot_count_settle_or_limit_websocket_messages() -> None:
    capped = Limiter("2 concurrent")
    for options in ({"count": lambda status: True}, {"websocket_messages": True}):
        with pytest.raises(ValueError, match="concurrency cap"):
            RateLimitMiddleware(Starlette(), limiter=capped, **options)


def test_a_websocket_holds_its_slot_for_the_life_of_the_connection() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    limiter = Limiter("1 concurrent", name="sockets")
    app = Starlette(routes=[WebSocketRoute("/ws", echo)])
    app.add_middleware(RateLimitMiddleware, limiter=limiter, key_func=header("x-user"))
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers={"x-user": "u"}) as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                client.websocket_connect("/ws", headers={"x-user": "u"}),
            ):
                pass
            assert denied.value.status_code == 429
        with client.websocket_connect("/ws", headers={"x-user": "u"}) as ws:  # the first socket closed
            ws.send_text("again")
            assert ws.receive_text() == "again"


def test_the_dependency_holds_a_slot_until_the_response_is_sent() -> None:
    limiter = Limiter("1 concurrent", name="dep")
    app = FastAPI()
    seen: list[int] = []

    @app.get("/work", dependencies=[Depends(RateLimit(limiter, key_func=header("x-user")))])
    async def work() -> dict[str, int]:
        free = (await limiter.peek(KEY)).remaining
        seen.append(free)
        return {"free": free}

    with TestClient(app) as client:
        response = client.get("/work", headers={"x-user": "u"})
        assert response.status_code == 200
        assert response.headers["ratelimit"] == '"dep";r=0'
        assert client.get("/work", headers={"x-user": "u"}).status_code == 200, "freed after the first"
    assert seen == [0, 0], "the endpoint ran holding the slot"


async def test_the_dependency_holds_the_slot_of_a_streamed_response_to_its_last_byte() -> None:
    gate, limiter = Gate(), Limiter("1 concurrent", name="dep-stream")
    app = FastAPI()
    hold = RateLimit(limiter, key_func=header("x-user"))

    @app.get("/stream", dependencies=[Depends(hold)])
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            await gate.open.wait()
            yield b"last"

        return StreamingResponse(chunks())

    streaming = asyncio.create_task(request(app, "/stream"))
    await settle()
    assert (await request(app, "/stream"))[0] == 429, "the stream still holds the slot"
    gate.open.set()
    assert (await streaming)[2] == b"first;last"
    await settle()
    assert (await limiter.peek(KEY)).remaining == 1


def test_a_cap_is_written_among_the_rates_in_the_config() -> None:
    config = RateLimitConfig.from_dict(
        {"default": {"rates": "100/minute; 2 concurrent"}, "rules": [{"path": "/ws", "rates": ["3 concurrent"]}]}
    )
    options = config.middleware_options()
    assert options["limiter"].cap == Concurrency(2)
    assert options["rules"][0].limiter.cap == Concurrency(3)
    with pytest.raises(ValidationError, match="one concurrency cap"):
        RateLimitConfig.from_dict({"default": {"rates": "1 concurrent; 2 concurrent"}})
