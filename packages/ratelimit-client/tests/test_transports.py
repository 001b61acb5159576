"""The transports against upstreams in this process: ratelimit-asgi's own, and scripted ones.

httpx talks to them through ``httpx.ASGITransport`` (the ASGI app is the real
upstream code; only the socket is skipped); aiohttp, which has no such
transport, through a real server on a loopback port. The tests across
processes and over real HTTP are in tests-integration/test_client_*.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from aiohttp import ClientSession, web
from ratelimit_client import AsyncRateLimitTransport, Quota, RateLimitTransport, Reading, rate_limit_middleware, read
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ratelimit_asgi import RateLimitMiddleware
from ratelimit_core import Limiter, MemoryStore, Rate, RateLimitExceeded, sync

Scope = MutableMapping[str, Any]


def upstream(rate: str = "20/second") -> Starlette:
    """An API limited per ``x-api-key`` by ratelimit-asgi, sending the IETF fields."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])])
    app.add_middleware(
        RateLimitMiddleware,
        limiter=Limiter(rate, name="upstream"),
        key_func=lambda conn: conn.headers.get("x-api-key", "none"),
    )
    return app


class Scripted:
    """An upstream that answers each request with the next of ``answers`` (status, headers), then 200s."""

    def __init__(self, *answers: tuple[int, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, float]] = []  # (method, monotonic time) of each request received

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Scope]], send: Callable[[Scope], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            return
        self.seen.append((scope["method"], time.monotonic()))
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = json.dumps({"usage": {"input_tokens": 20, "output_tokens": 10}}).encode()
        raw = [(k.encode(), v.encode()) for k, v in headers.items()] + [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def by_api_key(request: httpx.Request) -> str:
    return request.headers["x-api-key"]


async def test_learns_the_limit_and_sends_no_request_the_upstream_refuses() -> None:
    transport = AsyncRateLimitTransport(transport=httpx.ASGITransport(upstream()), key=by_api_key)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        calls = [client.get("/", headers={"x-api-key": f"k{i % 2}"}) for i in range(60)]
        statuses = [r.status_code for r in await asyncio.gather(*calls)]
    assert statuses.count(429) == 0, "one request per key went first; the others waited for what it taught"
    assert transport.gate.limiter_for("k0")[0].rates == (Rate(20, 1, burst=10),)


async def test_an_upstream_that_announces_nothing_is_held_by_its_pauses_alone() -> None:
    scripted = Scripted()
    transport = AsyncRateLimitTransport(transport=httpx.ASGITransport(scripted), timeout=0)
    async with httpx.AsyncClient(transport=transport) as client:
        statuses = [(await client.get("http://api/")).status_code for _ in range(5)]
    assert statuses == [200] * 5, "no limit was learned, so none is applied (a timeout of 0 would raise)"
    assert transport.gate.limiter_for("api") == (transport.gate.pauses, False)


async def test_a_learned_limit_is_noted_in_the_store_for_the_other_processes() -> None:
    store = MemoryStore()
    teacher = AsyncRateLimitTransport(transport=httpx.ASGITransport(upstream()), key=by_api_key, store=store)
    async with httpx.AsyncClient(transport=teacher, base_url="http://api") as client:
        await client.get("/", headers={"x-api-key": "k"})
    silent = Scripted()  # announces nothing: what the second transport knows, it read from the store
    later = AsyncRateLimitTransport(transport=httpx.ASGITransport(silent), key=by_api_key, store=store)
    async with httpx.AsyncClient(transport=later, base_url="http://api") as client:
        await client.get("/", headers={"x-api-key": "k"})
    assert later.gate.limiter_for("k")[0].rates == (Rate(20, 1, burst=10),)


async def test_a_pause_holds_every_transport_that_shares_the_store() -> None:
    store = MemoryStore()
    scripted = Scripted((429, {"retry-after": "1"}))
    first, second = (
        AsyncRateLimitTransport(transport=httpx.ASGITransport(scripted), store=store, learn=False) for _ in range(2)
    )
    async with httpx.AsyncClient(transport=first) as one, httpx.AsyncClient(transport=second) as two:
        refused = await one.get("http://api/")
        started = time.monotonic()
        later = await two.get("http://api/")  # another transport (another process, on a shared store)
    assert refused.status_code == 429
    assert later.status_code == 200
    assert scripted.seen[1][1] - started >= 0.95, "sent only once the pause had ended"


def test_learned_limits_and_pauses_share_one_store_when_none_is_given() -> None:
    transport = AsyncRateLimitTransport()
    learned = transport.gate.adopt("k", read(200, [("RateLimit-Policy", '"p";q=5;w=1')], now=0.0, max_wait=60.0))
    assert learned is not None
    assert learned[0].store is transport.gate.pauses.store, "a block written for a pause is the one hits read"


def test_a_reader_that_fails_leaves_the_response_to_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    import ratelimit_client.gate as gate_module  # noqa: PLC0415

    def broken(*args: object, **kwargs: object) -> Reading:
        raise OverflowError("a date past the year 9999")

    monkeypatch.setattr(gate_module, "read", broken)
    transport = AsyncRateLimitTransport()
    assert transport.gate.read(429, [("Retry-After", "Fri, 31 Dec 99999 23:59:59 GMT")]) == Reading()
    assert transport.gate.malformed == 1


def test_an_announced_limit_no_limiter_can_hold_is_ignored_and_counted_never_raised() -> None:
    transport = AsyncRateLimitTransport()
    absurd = Reading(quotas=(Quota("p", limit=5, window=1e-9),))  # a window shorter than a microsecond
    assert transport.gate.adopt("k", absurd) is None
    assert transport.gate.malformed == 1
    assert transport.gate.limiter_for("k") == (transport.gate.pauses, False)


async def test_a_paused_key_raises_without_being_sent_past_the_timeout() -> None:
    scripted = Scripted((429, {"retry-after": "30"}))
    transport = AsyncRateLimitTransport(transport=httpx.ASGITransport(scripted), learn=False, timeout=0.5)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("http://api/")
        with pytest.raises(RateLimitExceeded) as raised:
            await client.get("http://api/")
    assert len(scripted.seen) == 1, "the second request was never sent"
    assert 29 < (raised.value.decision.retry_after or 0) <= 30


async def test_an_idempotent_request_is_retried_once_the_pause_ends_a_post_is_not() -> None:
    scripted = Scripted((429, {"retry-after-ms": "200"}), (429, {"retry-after-ms": "200"}))
    transport = AsyncRateLimitTransport(transport=httpx.ASGITransport(scripted), learn=False, retries=2)
    async with httpx.AsyncClient(transport=transport) as client:
        got = await client.get("http://api/")
        assert got.status_code == 200
        assert [m for m, _ in scripted.seen] == ["GET"] * 3
        scripted.answers.append((429, {"retry-after-ms": "200"}))
        posted = await client.post("http://api/", content=b"order")
    assert posted.status_code == 429, "a POST is never sent twice unless the caller says so"
    assert len(scripted.seen) == 4


async def test_a_reservation_is_settled_at_the_cost_the_response_reports() -> None:
    limiter = Limiter("1000/minute", name="tokens")
    transport = AsyncRateLimitTransport(
        limiter,
        transport=httpx.ASGITransport(Scripted()),
        cost=lambda request: 100,  # e.g. max_tokens
        settle=lambda response: sum(response.json()["usage"].values()),
    )
    async with httpx.AsyncClient(transport=transport) as client, client.stream("GET", "http://api/") as response:
        assert (await limiter.peek("api")).remaining == 900, "the estimate, while the stream runs"
        await response.aread()
    assert (await limiter.peek("api")).remaining == 970, "settled at 30 when the stream ended"


async def test_a_failed_call_settles_at_what_the_caller_says() -> None:
    limiter = Limiter("1000/minute", name="tokens")

    async def down(
        scope: Scope, receive: Callable[[], Awaitable[Scope]], send: Callable[[Scope], Awaitable[None]]
    ) -> None:
        raise ConnectionError("upstream unreachable")

    for failed_cost, left in ((0, 1000), (5, 995)):
        await limiter.reset("api")
        transport = AsyncRateLimitTransport(
            limiter,
            transport=httpx.ASGITransport(down),
            cost=lambda request: 100,
            settle=lambda response: 1,
            failed_cost=failed_cost,
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(ConnectionError):
                await client.get("http://api/")
        assert (await limiter.peek("api")).remaining == left


async def test_a_capped_limiter_holds_its_slot_for_the_exchange() -> None:
    limiter = Limiter("100/second; 1 concurrent", name="one-at-a-time")
    transport = AsyncRateLimitTransport(limiter, transport=httpx.ASGITransport(Scripted()))
    async with httpx.AsyncClient(transport=transport) as client:
        async with client.stream("GET", "http://api/"):
            assert not (await limiter.peek("api")).allowed, "the slot is held while the response is open"
        assert (await limiter.peek("api")).allowed, "and freed when it closes"


def test_the_sync_transport_learns_and_pauses_across_threads() -> None:
    store = sync.MemoryStore()
    transport = RateLimitTransport(transport=_sync_over(upstream("10/second")), key=by_api_key, store=store)
    with httpx.Client(transport=transport, base_url="http://api") as client:
        statuses: list[int] = []

        def call() -> None:
            for _ in range(10):
                statuses.append(client.get("/", headers={"x-api-key": "k"}).status_code)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(statuses) == 40
    assert statuses.count(429) == 0
    assert transport.gate.limiter_for("k")[0].rates == (Rate(10, 1, burst=5),)


async def test_aiohttp_learns_and_pauses(unused_tcp_port: int) -> None:
    answers = [web.Response(status=429, headers={"Retry-After": "1"})]

    async def handler(request: web.Request) -> web.Response:
        if answers:
            return answers.pop(0)
        return web.Response(text="ok", headers={"RateLimit-Policy": '"p";q=50;w=1', "RateLimit": '"p";r=49;t=1'})

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    middleware = rate_limit_middleware()
    try:
        async with ClientSession(middlewares=(middleware,)) as session:
            first = await session.get(f"http://127.0.0.1:{unused_tcp_port}/")
            started = time.monotonic()
            second = await session.get(f"http://127.0.0.1:{unused_tcp_port}/")
            waited = time.monotonic() - started
    finally:
        await runner.cleanup()
    assert (first.status, second.status) == (429, 200)
    assert waited >= 0.95, "the second request waited out the pause"
    assert middleware.gate.limiter_for(f"127.0.0.1:{unused_tcp_port}")[0].rates == (Rate(50, 1, burst=25),)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"timeout": -1}, ValueError),
        ({"max_wait": 0}, ValueError),
        ({"retries": -1}, ValueError),
        ({"key": "host"}, TypeError),
        ({"cost": lambda r: 1}, ValueError),  # without a limiter, learned limits count requests
        ({"limiter": sync.Limiter("1/second")}, TypeError),  # the other colour
        ({"limiter": Limiter("1/second"), "store": MemoryStore()}, ValueError),
        ({"limiter": Limiter("1/second; 1 concurrent"), "settle": lambda r: 1}, ValueError),
    ],
)
def test_a_bad_argument_is_an_error_at_once(arguments: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        AsyncRateLimitTransport(**arguments)


def _sync_over(app: Any) -> httpx.BaseTransport:
    """A blocking transport onto an ASGI app: one event loop in a thread of its own."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    inner = httpx.ASGITransport(app)

    class OverLoop(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            async def send() -> httpx.Response:
                response = await inner.handle_async_request(request)
                content = await response.aread()
                return httpx.Response(response.status_code, headers=response.headers, content=content)

            return asyncio.run_coroutine_threadsafe(send(), loop).result()

    return OverLoop()
