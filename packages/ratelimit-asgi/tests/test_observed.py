"""What the middleware and the dependency tell a limiter's observer: the route template, shadow mode."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ratelimit_asgi import RateLimit, RateLimitMiddleware, Rule, header
from ratelimit_asgi.observed import route_template
from ratelimit_core import Limiter
from ratelimit_core.observe import DecisionReport, Observer


class Recorder(Observer):
    def __init__(self) -> None:
        self.reports: list[DecisionReport] = []

    def decision(self, report: DecisionReport) -> None:
        self.reports.append(report)

    def seen(self) -> list[tuple[str | None, str]]:
        return [(r.route, r.outcome) for r in self.reports]


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def test_the_middleware_reports_route_templates_never_raw_paths() -> None:
    recorder = Recorder()
    limiter = Limiter("2/minute", name="api", observer=recorder)
    inner = Starlette(routes=[Route("/orders/{order_id}", ok)])
    app = Starlette(routes=[Route("/items/{item_id:int}", ok), Mount("/shop", app=inner), Route("/", ok)])
    app.add_middleware(RateLimitMiddleware, limiter=limiter, key_func=header("x-user"))
    with TestClient(app) as client:
        for path in ("/items/1", "/shop/orders/77", "/nowhere"):
            client.get(path, headers={"x-user": "u"})
    assert recorder.seen() == [
        ("/items/{item_id:int}", "allowed"),
        ("/shop/orders/{order_id}", "allowed"),
        (None, "denied"),  # no route matches: no http.route, and never the path itself
    ]


def test_under_a_mount_with_parameters_the_label_is_the_template_never_client_text() -> None:
    """The middleware inside Mount("/t/{tenant}"): before the fix, "/t/attacker-7/items/{id}", a series per tenant."""
    recorder = Recorder()
    limiter = Limiter("5/minute", name="api", observer=recorder)
    tenant = Starlette(routes=[Route("/items/{item_id}", ok)])
    tenant.add_middleware(RateLimitMiddleware, limiter=limiter, key_func=header("x-user"))
    app = Starlette(routes=[Mount("/t/{tenant}", app=tenant), Mount("/static/api", app=tenant)])
    with TestClient(app) as client:
        for path in ("/t/attacker-7/items/1", "/t/t/items/2", "/static/api/items/3"):
            assert client.get(path, headers={"x-user": "u"}).status_code == 200
    assert [route for route, _ in recorder.seen()] == [
        "/t/{tenant}/items/{item_id}",
        "/t/{tenant}/items/{item_id}",
        "/static/api/items/{item_id}",
    ]


@pytest.mark.parametrize(
    ("root_path", "params", "expected"),
    [
        ("/t/attacker-7", {"tenant": "attacker-7"}, "/t/{tenant}/items/{item_id}"),
        ("/static/api", {}, "/static/api/items/{item_id}"),
        ("/u-mallory", {"user": "mallory"}, "/{mount}/items/{item_id}"),  # inside a segment: a placeholder
        ("/f/a/b", {"rest": "a/b"}, "/{mount}/items/{item_id}"),  # across segments too
    ],
)
def test_without_the_router_a_mounts_parameters_are_named_or_a_placeholder(
    root_path: str, params: dict[str, str], expected: str
) -> None:
    """A mount by another framework (no Starlette router in the scope): its parameters are put back by name."""
    inner = Starlette(routes=[Route("/items/{item_id}", ok)])
    scope = {
        "type": "http", "path": f"{root_path}/items/9", "root_path": root_path, "app_root_path": "",
        "path_params": params, "method": "GET",
    }  # fmt: skip
    assert route_template(scope, inner) == expected


def test_a_rule_reports_its_path_and_shadow_mode_its_denials() -> None:
    recorder = Recorder()
    login = Limiter("1/minute", name="login", observer=recorder)
    app = Starlette(routes=[Route("/login", ok, methods=["POST"])])
    app.add_middleware(
        RateLimitMiddleware,
        limiter=Limiter("100/minute", name="default"),
        rules=[Rule("/login", limiter=login, methods=["POST"])],
        shadow=True,
    )
    with TestClient(app) as client:
        assert [client.post("/login").status_code for _ in range(2)] == [200, 200]
    assert recorder.seen() == [("/login", "allowed"), ("/login", "shadow_denied")]


def test_the_dependency_reports_the_route_fastapi_matched() -> None:
    recorder = Recorder()
    app = FastAPI()
    limit = RateLimit(Limiter("1/minute", name="dep", observer=recorder), key_func=header("x-user"))

    @app.get("/things/{thing_id}", dependencies=[Depends(limit)])
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    with TestClient(app) as client:
        assert [client.get("/things/5", headers={"x-user": "u"}).status_code for _ in range(2)] == [200, 429]
    assert recorder.seen() == [("/things/{thing_id}", "allowed"), ("/things/{thing_id}", "denied")]
