"""Per-route rules, shadow mode, the decision hook, WebSockets and the FastAPI dependency."""

from __future__ import annotations

import re

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ratelimit_asgi import DecisionEvent, RateLimit, RateLimitMiddleware, Rule
from ratelimit_asgi.middleware import RATE_LIMITED
from ratelimit_core import Decision, Limiter, MemoryStore
from ratelimit_core.testing import ManualClock


async def ok(request: Request) -> Response:
    return PlainTextResponse(request.url.path)


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


def make_app() -> Starlette:
    api = Starlette(routes=[Route("/items/{id}", ok, methods=["GET", "POST"]), Route("/search", ok)])
    return Starlette(
        routes=[
            Route("/", ok),
            Route("/login", ok, methods=["GET", "POST"]),
            Mount("/api", app=api),
            WebSocketRoute("/ws", echo),
        ]
    )


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(clock=ManualClock())


def limiter(rate: str, store: MemoryStore, name: str) -> Limiter:
    return Limiter(rate, name=name, store=store)


# -- rules ------------------------------------------------------------------------


def test_rules_pick_the_limiter_by_path_and_method(store: MemoryStore) -> None:
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter("100/minute", store, "default"),
        rules=[
            Rule("/login", limiter("1/minute", store, "login"), methods=["post"]),
            Rule("/api/items/{id}", limiter("2/minute", store, "items")),
        ],
    )
    with TestClient(app) as client:
        assert client.post("/login").status_code == 200
        assert client.post("/login").status_code == 429, "the login rule"
        assert client.get("/login").status_code == 200, "GET is not in the rule: the default limiter"
        assert client.get("/api/items/1").headers["x-ratelimit-limit"] == "2"
        assert client.get("/api/items/2").status_code == 200
        assert client.get("/api/items/3").status_code == 429, "a template's paths share the limit"
        assert client.get("/api/search").headers["x-ratelimit-limit"] == "100"


def test_per_path_rules_limit_each_path_apart(store: MemoryStore) -> None:
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware, rules=[Rule("/api/items/{id}", limiter("1/minute", store, "items"), per_path=True)]
    )
    with TestClient(app) as client:
        assert client.get("/api/items/1").status_code == 200
        assert client.get("/api/items/2").status_code == 200
        assert client.get("/api/items/1").status_code == 429
        assert "x-ratelimit-limit" not in client.get("/").headers, "no rule, no default limiter: unlimited"


def test_rule_costs(store: MemoryStore) -> None:
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware,
        rules=[Rule(re.compile(r"/api/search"), limiter("10/minute", store, "search"), cost=4)],
    )
    with TestClient(app) as client:
        remaining = [client.get("/api/search").headers.get("x-ratelimit-remaining") for _ in range(3)]
    assert remaining == ["6", "2", "2"]


def test_exclusions_accept_route_templates(store: MemoryStore) -> None:
    app = make_app()
    app.add_middleware(RateLimitMiddleware, limiter=limiter("1/minute", store, "d"), exclude_routes=["/api/items/{id}"])
    with TestClient(app) as client:
        for _ in range(3):
            assert "x-ratelimit-limit" not in client.get("/api/items/9").headers
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("bad", ["no-slash", "/items/{id", 3])
def test_bad_rule_paths_are_value_errors(store: MemoryStore, bad: object) -> None:
    with pytest.raises(ValueError, match=r"path|template|pattern"):
        Rule(bad, limiter("1/s", store, "x"))  # type: ignore[arg-type]


def test_a_middleware_needs_a_limiter_or_rules() -> None:
    with pytest.raises(ValueError, match="limiter, rules"):
        RateLimitMiddleware(make_app())


# -- shadow mode and the hook ---------------------------------------------------


def test_shadow_mode_decides_and_reports_but_never_blocks(store: MemoryStore) -> None:
    seen: list[Decision | None] = []
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter("1/minute", store, "shadow"),
        shadow=True,
        on_decision=lambda conn, event: seen.append(event.decision),
    )
    with TestClient(app) as client:
        responses = [client.get("/") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["0", "0", "0"]
    assert [d is not None and d.allowed for d in seen] == [True, False, False], "counted as if enforced"


def test_async_decision_hook_sees_the_connection(store: MemoryStore) -> None:
    paths: list[tuple[str, bool]] = []

    async def hook(conn: HTTPConnection, event: DecisionEvent) -> None:
        assert event.decision is not None
        paths.append((conn.url.path, event.decision.allowed))

    app = make_app()
    app.add_middleware(RateLimitMiddleware, limiter=limiter("1/minute", store, "h"), on_decision=hook)
    with TestClient(app) as client:
        client.get("/")
        client.get("/login")
    assert paths == [("/", True), ("/login", False)]


# -- WebSockets -----------------------------------------------------------------


def test_websocket_handshakes_are_limited(store: MemoryStore) -> None:
    app = make_app()
    app.add_middleware(RateLimitMiddleware, limiter=limiter("1/minute", store, "ws"))
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
            pass
    assert denied.value.status_code == 429
    assert denied.value.headers["retry-after"] == "60"


def test_websocket_messages_over_the_limit_close_the_socket(store: MemoryStore) -> None:
    app = make_app()
    app.add_middleware(RateLimitMiddleware, limiter=limiter("3/minute", store, "msgs"), websocket_messages=True)
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        for text in ("a", "b"):  # the handshake took one unit
            ws.send_text(text)
            assert ws.receive_text() == text
        ws.send_text("c")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == RATE_LIMITED


# -- the FastAPI dependency -----------------------------------------------------


def test_fastapi_dependency_limits_one_endpoint_with_the_same_headers(store: MemoryStore) -> None:
    app = FastAPI()
    search_limit = RateLimit(limiter("2/minute", store, "search"))

    @app.get("/search")
    async def search(decision: Decision = Depends(search_limit)) -> dict[str, int]:  # noqa: B008
        return {"remaining": decision.remaining}

    @app.get("/free")
    async def free() -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as client:
        first = client.get("/search")
        assert first.json() == {"remaining": 1}
        assert first.headers["ratelimit"] == '"search";r=1;t=30'  # one unit comes back in 30 s
        assert first.headers["x-ratelimit-remaining"] == "1"
        client.get("/search")
        denied = client.get("/search")
        assert denied.status_code == 429
        assert denied.headers["retry-after"] == "30"
        assert denied.headers["cache-control"] == "no-store"
        assert "ratelimit" not in client.get("/free").headers


def test_key_functions_get_a_request_or_a_websocket(store: MemoryStore) -> None:
    kinds: list[str] = []

    def key(conn: HTTPConnection) -> str:
        kinds.append(type(conn).__name__)
        return "k"

    app = make_app()
    app.add_middleware(RateLimitMiddleware, limiter=limiter("10/minute", store, "kinds"), key_func=key)
    with TestClient(app) as client:
        client.get("/")
        with client.websocket_connect("/ws") as ws:
            ws.send_text("x")
            ws.receive_text()
    assert kinds == ["Request", "WebSocket"]


def test_the_hook_hears_which_limiter_or_rule_decided_and_every_store_failure(store: MemoryStore) -> None:
    from ratelimit_core.testing import FailingStore  # noqa: PLC0415

    events: list[DecisionEvent] = []
    login = Rule("/login", limiter("1/minute", store, "login"), methods=["POST"])
    broken = Rule("/api/search", Limiter("1/minute", name="search", store=FailingStore()))
    app = make_app()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter("5/minute", store, "default"),
        rules=[login, broken],
        on_decision=lambda conn, event: events.append(event),
    )
    with TestClient(app) as client:
        client.get("/")
        client.post("/login")
        client.get("/api/search")
    assert [(e.limiter.name, e.rule) for e in events] == [("default", None), ("login", login), ("search", broken)]
    failure = events[-1]
    assert failure.decision is None
    assert failure.error is not None
    assert all(e.decision is not None and e.error is None for e in events[:2])
