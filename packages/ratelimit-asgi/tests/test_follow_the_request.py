"""Limits that follow the request: a limiter chosen per request, counting by outcome, costs settled after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ratelimit_asgi import (
    Completion,
    RateLimit,
    RateLimitConfig,
    RateLimitMiddleware,
    Rule,
    api_key,
    from_header,
    report_cost,
    reported,
)
from ratelimit_core import Decision, Limiter, MemoryStore
from ratelimit_core.testing import ManualClock


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(clock=ManualClock())


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def login(request: Request) -> Response:
    ok = request.headers.get("x-password") == "right"
    return PlainTextResponse("welcome" if ok else "no", status_code=200 if ok else 401)


async def chat(request: Request) -> Response:
    tokens = int(request.query_params.get("tokens", "0"))
    report_cost(request, tokens)
    return JSONResponse({"tokens": tokens}, headers={"x-tokens-used": str(tokens)})


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(1, 5):
            report_cost(request, n * 10)  # known as it streams: the last report counts
            yield b"chunk "

    return StreamingResponse(chunks())


async def boom(request: Request) -> Response:
    raise RuntimeError("the handler failed")


def app_with(**options: Any) -> Starlette:
    app = Starlette(
        routes=[
            Route("/", hello),
            Route("/login", login, methods=["POST"]),
            Route("/chat", chat),
            Route("/stream", stream),
            Route("/boom", boom),
        ]
    )
    app.add_middleware(RateLimitMiddleware, **options)
    return app


# -- a limiter chosen per request ------------------------------------------------------


def tiers(store: MemoryStore) -> Any:
    free, pro = Limiter("2/minute", name="free", store=store), Limiter("100/minute", name="pro", store=store)

    def tier(conn: HTTPConnection) -> Limiter | None:
        key = conn.headers.get("x-api-key", "")
        if key == "internal":
            return None  # unlimited
        return pro if key.startswith("pro-") else free

    return tier


def test_tiers_from_an_api_key(store: MemoryStore) -> None:
    client = TestClient(app_with(limiter=tiers(store), key_func=api_key()))
    free = [client.get("/", headers={"x-api-key": "free-1"}).status_code for _ in range(3)]
    pro = [client.get("/", headers={"x-api-key": "pro-1"}).status_code for _ in range(3)]
    assert free == [200, 200, 429]
    assert pro == [200, 200, 200]
    answered = client.get("/", headers={"x-api-key": "pro-1"})
    assert answered.headers["ratelimit-policy"] == '"pro";q=100;w=60', "the fields describe the limiter that decided"
    assert answered.headers["ratelimit"] == '"pro";r=96;t=3'
    internal = client.get("/", headers={"x-api-key": "internal"})
    assert internal.status_code == 200
    assert "ratelimit" not in internal.headers, "None: unlimited"


def test_an_async_resolver_on_a_rule(store: MemoryStore) -> None:
    free = Limiter("1/minute", name="login-free", store=store)

    async def tier(conn: HTTPConnection) -> Limiter:
        await asyncio.sleep(0)
        return free

    client = TestClient(app_with(rules=[Rule("/", tier)]))
    assert [client.get("/").status_code for _ in range(2)] == [200, 429]


def test_limiters_made_per_request_share_state_and_stay_few(store: MemoryStore) -> None:
    def tier(conn: HTTPConnection) -> Limiter:
        plan = conn.headers.get("x-plan", "free")
        return Limiter("2/minute" if plan == "free" else "50/minute", name=plan, store=store)

    app = app_with(limiter=tier)
    client = TestClient(app)
    codes = [client.get("/", headers={"x-plan": "free"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429], "a limiter made per request on one store keeps its state"
    for _ in range(20):
        client.get("/", headers={"x-plan": "gold"})
    middleware = app.middleware_stack
    while not isinstance(middleware, RateLimitMiddleware):
        middleware = middleware.app  # type: ignore[union-attr]
    assert len(middleware._fields._known) == 2, "one entry per policy, not per request"


def test_a_limiter_made_per_request_without_a_store_is_an_error(store: MemoryStore) -> None:
    client = TestClient(app_with(limiter=lambda conn: Limiter("2/minute", name="free")), raise_server_exceptions=True)
    assert client.get("/").status_code == 200
    with pytest.raises(RuntimeError, match="different stores"):
        client.get("/")


def test_a_resolver_must_return_a_limiter(store: MemoryStore) -> None:
    client = TestClient(app_with(limiter=lambda conn: "10/minute"))
    with pytest.raises(TypeError, match="must return a Limiter or None"):
        client.get("/")


@pytest.mark.parametrize("bad", [Limiter, "10/minute", 42])
def test_a_limiter_that_is_neither_a_limiter_nor_a_resolver_is_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="limiter must be"):
        RateLimitMiddleware(Starlette(), limiter=bad)
    with pytest.raises(TypeError, match="a rule's limiter must be"):
        Rule("/", bad)


def test_the_dependency_takes_a_resolver(store: MemoryStore) -> None:
    app = FastAPI()
    limit = RateLimit(tiers(store), key_func=api_key())

    @app.get("/search")
    async def search(decision: Decision | None = Depends(limit)) -> dict[str, Any]:  # noqa: B008
        return {"limited": decision is not None}

    client = TestClient(app)
    assert [client.get("/search", headers={"x-api-key": "free-9"}).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/search", headers={"x-api-key": "internal"}).json() == {"limited": False}


# -- counting by outcome ----------------------------------------------------------


def test_a_login_limit_counts_only_failures(store: MemoryStore) -> None:
    failed_logins = Limiter("3/minute", name="login", store=store)
    client = TestClient(app_with(rules=[Rule("/login", failed_logins, methods=["POST"], count=lambda s: s == 401)]))
    for _ in range(5):
        assert client.post("/login", headers={"x-password": "right"}).status_code == 200
    assert [client.post("/login").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert client.post("/login", headers={"x-password": "right"}).status_code == 429, "three failures lock it"


async def test_an_admitted_request_consumes_at_once_so_concurrent_ones_cannot_overshoot(store: MemoryStore) -> None:
    limiter = Limiter("2/minute", name="slow", store=store)
    gate = asyncio.Event()

    async def slow(request: Request) -> Response:
        await gate.wait()
        return PlainTextResponse("no", status_code=401)

    app = Starlette(routes=[Route("/slow", slow)])
    app.add_middleware(RateLimitMiddleware, rules=[Rule("/slow", limiter, count=lambda s: s == 401)])
    pending = [asyncio.ensure_future(status_of(app, "/slow")) for _ in range(3)]
    await asyncio.sleep(0.05)
    gate.set()
    codes = sorted(await asyncio.gather(*pending))
    assert codes == [401, 401, 429], "two in flight held both units; the third was refused at once"


async def status_of(app: Any, path: str) -> int:
    """One GET straight through the ASGI app; its status."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [],
        "client": ("127.0.0.1", 1),
        "query_string": b"",
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


def test_an_app_that_raises_counts_as_a_500(store: MemoryStore) -> None:
    errors = Limiter("5/minute", name="errors", store=store)
    client = TestClient(
        app_with(rules=[Rule("/boom", errors, count=lambda s: s >= 500)], limiter=None), raise_server_exceptions=False
    )
    assert client.get("/boom").status_code == 500
    assert store_remaining(store, errors) == 4
    not_counted = Limiter("5/minute", name="not-errors", store=store)
    client = TestClient(
        app_with(rules=[Rule("/boom", not_counted, count=lambda s: s < 500)]), raise_server_exceptions=False
    )
    assert client.get("/boom").status_code == 500
    assert store_remaining(store, not_counted) == 5, "refunded"


def store_remaining(store: MemoryStore, limiter: Limiter, key: str = "testclient") -> int:
    return asyncio.run(limiter.peek(key)).remaining


# -- costs settled after the response -------------------------------------------------


def test_a_cost_from_a_response_header(store: MemoryStore) -> None:
    tokens = Limiter("100/minute", name="tokens", store=store)
    client = TestClient(app_with(rules=[Rule("/chat", tokens, cost=10, settle=from_header("x-tokens-used"))]))
    answered = client.get("/chat", params={"tokens": 37})
    assert answered.headers["ratelimit"] == '"tokens";r=90;t=6', "the fields tell the estimate, decided at admission"
    assert store_remaining(store, tokens) == 63, "settled at 37"


@pytest.mark.parametrize("value", ["9" * 400, "9" * 5000, "1" * 19, "-5", "12 tokens", "\u0661\u0662"])
def test_a_header_value_that_is_not_accepted_settles_at_the_estimate(store: MemoryStore, value: str) -> None:
    """Before the fix: 400 digits broke the key with an OverflowError, 4,301 raised after the response."""
    settle = from_header("x-tokens-used")
    completion = Completion(200, [(b"x-tokens-used", value.encode("utf-8"))], 10, None)
    assert settle(completion) == 10
    assert settle(Completion(200, [(b"x-tokens-used", b"9" * 18)], 10, None)) == 10**18 - 1, "18 digits are taken"


def test_a_cost_the_endpoint_reports(store: MemoryStore) -> None:
    tokens = Limiter("100/minute", name="reported", store=store)
    client = TestClient(app_with(rules=[Rule("/chat", tokens, cost=10, settle=reported())]))
    client.get("/chat", params={"tokens": 3})
    assert store_remaining(store, tokens) == 97, "settled at 3: 7 of the estimate came back"


def test_a_streamed_response_is_settled_after_its_last_byte(store: MemoryStore) -> None:
    tokens = Limiter("100/minute", name="streamed", store=store)
    client = TestClient(app_with(rules=[Rule("/stream", tokens, cost=5, settle=reported())]))
    assert client.get("/stream").text == "chunk " * 4
    assert store_remaining(store, tokens) == 60, "the report made during the last chunk: 40"


def test_a_charge_beyond_the_limit_is_waited_out(store: MemoryStore) -> None:
    tokens = Limiter("100/minute", name="overdraft", store=store)
    client = TestClient(app_with(rules=[Rule("/chat", tokens, cost=10, settle=reported())]))
    assert client.get("/chat", params={"tokens": 250}).status_code == 200
    denied = client.get("/chat", params={"tokens": 1})
    assert denied.status_code == 429
    # 250 taken from a bucket of 100: 150 units of debt (90 s at 100 a minute), then room for the estimate of 10 (6 s).
    assert int(denied.headers["retry-after"]) == 96


def test_report_cost_needs_a_rule_that_settles(store: MemoryStore) -> None:
    client = TestClient(app_with(limiter=Limiter("10/minute", store=store)))
    with pytest.raises(RuntimeError, match="settle=reported"):
        client.get("/chat", params={"tokens": 1})


@pytest.mark.parametrize("options", [{"count": 401}, {"settle": "x-tokens-used"}, {"count": int}])
def test_count_and_settle_must_be_functions(options: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="must be a function"):
        RateLimitMiddleware(Starlette(), limiter=Limiter("1/s"), **options)
    with pytest.raises(TypeError, match="must be a function"):
        Rule("/", Limiter("1/s"), **options)


def test_the_config_counts_statuses_and_settles_from_a_header(store: MemoryStore) -> None:
    config = RateLimitConfig.from_toml(
        """
        [[rules]]
        path = "/login"
        rates = "2/minute"
        count = [401]

        [[rules]]
        path = "/chat"
        rates = "100/minute"
        cost = 10
        settle = "header:x-tokens-used"
        """
    )
    app = Starlette(routes=[Route("/login", login, methods=["POST"]), Route("/chat", chat)])
    app.user_middleware.append(config.middleware(store=store))
    client = TestClient(app)
    assert [client.post("/login", headers={"x-password": "right"}).status_code for _ in range(3)] == [200] * 3
    assert [client.post("/login").status_code for _ in range(3)] == [401, 401, 429]
    client.get("/chat", params={"tokens": 30})
    chat_limiter = Limiter("100/minute", name="rule /chat", store=store)
    assert store_remaining(store, chat_limiter) == 70
    with pytest.raises(ValueError, match="settle must be"):
        RateLimitConfig.from_dict({"default": {"rates": "1/s", "settle": "body"}})
    with pytest.raises(ValueError, match="HTTP statuses"):
        RateLimitConfig.from_dict({"default": {"rates": "1/s", "count": [42]}})
