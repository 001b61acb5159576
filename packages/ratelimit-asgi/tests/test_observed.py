"""What the middleware and the dependency tell a limiter's observer: the route template, shadow mode."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ratelimit_asgi import RateLimit, RateLimitMiddleware, Rule, header
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
