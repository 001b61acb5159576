from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import http_sf
import pytest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import ratelimit_core.memory as memory_module
from ratelimit_asgi import RateLimiterMiddleware, RateLimitMiddleware, client_ip, header
from ratelimit_core import Limiter, MemoryStore, Rate
from ratelimit_core.compat import AlgorithmType, RateLimiterOrchestrator, RateLimiterType
from ratelimit_core.testing import FailingStore, ManualClock


class Calls:
    def __init__(self) -> None:
        self.count = 0


def make_app(calls: Calls | None = None, lifespan_log: list[str] | None = None) -> Starlette:
    async def ping(request: Request) -> Response:
        if calls is not None:
            calls.count += 1
        return JSONResponse({"message": "pong"}, headers={"X-App": "kept"})

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(5):
                yield f"chunk{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if lifespan_log is not None:
            lifespan_log.append("startup")
        yield
        if lifespan_log is not None:
            lifespan_log.append("shutdown")

    return Starlette(
        routes=[
            Route("/ping", ping),
            Route("/health", health),
            Route("/static/app.js", health),
            Route("/internal/metrics", health),
            Route("/stream", stream),
        ],
        lifespan=lifespan,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def limited(app: Starlette, limiter: object, **kwargs: object) -> Starlette:
    app.add_middleware(RateLimitMiddleware, limiter=limiter, **kwargs)  # type: ignore[arg-type]
    return app


@pytest.fixture
def client(clock: ManualClock) -> Iterator[TestClient]:
    app = limited(make_app(), Limiter("2/minute", store=MemoryStore(clock=clock)))
    with TestClient(app) as test_client:
        yield test_client


# -- the seed's documented behaviours ----------------------------------------------


def test_counts_down_then_answers_429_with_retry_after(client: TestClient) -> None:
    first, second, third = (client.get("/ping") for _ in range(3))
    assert (first.status_code, first.headers["x-ratelimit-remaining"]) == (200, "1")
    assert (second.status_code, second.headers["x-ratelimit-remaining"]) == (200, "0")
    assert third.status_code == 429
    assert third.headers["retry-after"] == "30"
    assert third.headers["x-ratelimit-limit"] == "2"
    assert third.headers["cache-control"] == "no-store"
    assert first.headers["x-app"] == "kept", "the app's own headers stay"


def test_denied_requests_never_reach_the_app(clock: ManualClock) -> None:
    calls = Calls()
    app = limited(make_app(calls), Limiter("1/minute", store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        statuses = [client.get("/ping").status_code for _ in range(5)]
    assert statuses == [200, 429, 429, 429, 429]
    assert calls.count == 1


def test_problem_json_body_says_nothing_about_the_client(client: TestClient) -> None:
    client.get("/ping")
    client.get("/ping")
    denied = client.get("/ping", headers={"X-API-Key": "secret-key"})
    assert denied.headers["content-type"] == "application/problem+json"
    body = denied.json()
    assert body == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Too many requests: retry in 30 s.",
    }
    assert "testclient" not in denied.text
    assert "secret" not in denied.text


def test_distinct_clients_are_independent(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)), key_func=header("X-API-Key"))
    with TestClient(app) as client:
        assert client.get("/ping", headers={"X-API-Key": "a"}).status_code == 200
        assert client.get("/ping", headers={"X-API-Key": "a"}).status_code == 429
        assert client.get("/ping", headers={"X-API-Key": "b"}).status_code == 200


def test_async_key_func(clock: ManualClock) -> None:
    async def key(conn: HTTPConnection) -> str:
        return conn.query_params.get("user", "nobody")

    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)), key_func=key)
    with TestClient(app) as client:
        assert client.get("/ping?user=x").status_code == 200
        assert client.get("/ping?user=x").status_code == 429
        assert client.get("/ping?user=y").status_code == 200


@pytest.mark.parametrize(
    "exclude",
    [["/health"], ["/static/*", "/health"], [re.compile(r"/(health|internal/.*)")], ["/**/metrics", "/health"]],
)
def test_excluded_routes_are_neither_counted_nor_marked(clock: ManualClock, exclude: list[object]) -> None:
    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)), exclude_routes=exclude)
    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/health")
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers
            assert "ratelimit" not in response.headers
        assert client.get("/ping").status_code == 200, "the exclusions consumed nothing"


def test_glob_stays_within_a_segment(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)), exclude_routes=["/static/*"])
    with TestClient(app) as client:
        assert "x-ratelimit-limit" not in client.get("/static/app.js").headers
        assert "x-ratelimit-limit" in client.get("/internal/metrics").headers


def test_fail_open_lets_requests_through_without_headers() -> None:
    calls = Calls()
    app = limited(make_app(calls), Limiter("1/minute", store=FailingStore()), fail_open=True)
    with TestClient(app) as client:
        responses = [client.get("/ping") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all("x-ratelimit-limit" not in r.headers for r in responses)
    assert calls.count == 3


def test_fail_closed_answers_503_problem_json_never_500() -> None:
    calls = Calls()
    app = limited(make_app(calls), Limiter("1/minute", store=FailingStore()), fail_open=False)
    with TestClient(app) as client:
        response = client.get("/ping")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Service Unavailable"
    assert calls.count == 0


def test_degraded_decisions_carry_no_limit_headers() -> None:
    app = limited(make_app(), Limiter("1/minute", store=FailingStore(), on_error="allow"))
    with TestClient(app) as client:
        response = client.get("/ping")
    assert response.status_code == 200
    assert "x-ratelimit-limit" not in response.headers


# -- headers ---------------------------------------------------------------------


def test_exact_header_strings_for_a_known_state(clock: ManualClock) -> None:
    store = MemoryStore(clock=clock)
    app = limited(make_app(), Limiter("100/minute", algorithm="fixed_window", store=store))
    with TestClient(app) as client:
        for _ in range(62):
            client.get("/ping")
        clock.advance(48)
        response = client.get("/ping")
    assert response.headers["ratelimit-policy"] == '"default";q=100;w=60'
    assert response.headers["ratelimit"] == '"default";r=37;t=12'
    assert response.headers["x-ratelimit-limit"] == "100"
    assert response.headers["x-ratelimit-remaining"] == "37"
    assert response.headers["x-ratelimit-reset"] == "12"


def test_several_rates_give_several_members(clock: ManualClock) -> None:
    limiter = Limiter("10/second; 1000/hour", name="api", store=MemoryStore(clock=clock))
    app = limited(make_app(), limiter)
    with TestClient(app) as client:
        response = client.get("/ping")
    assert response.headers["ratelimit-policy"] == '"api/1s";q=10;w=1, "api/1h";q=1000;w=3600'
    assert response.headers["ratelimit"] == '"api/1s";r=9;t=1, "api/1h";r=999;t=4'


def test_windows_that_are_not_whole_seconds_have_no_w(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter(Rate(5, 0.5), store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        assert client.get("/ping").headers["ratelimit-policy"] == '"default";q=5'


@pytest.mark.parametrize(
    ("mode", "present", "absent"),
    [
        ("both", ["x-ratelimit-limit", "ratelimit"], []),
        ("ietf", ["ratelimit", "ratelimit-policy"], ["x-ratelimit-limit"]),
        ("x-ratelimit", ["x-ratelimit-limit"], ["ratelimit", "ratelimit-policy"]),
        ("none", [], ["x-ratelimit-limit", "ratelimit", "ratelimit-policy"]),
    ],
)
def test_header_modes(clock: ManualClock, mode: str, present: list[str], absent: list[str]) -> None:
    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)), headers=mode)
    with TestClient(app) as client:
        for response in (client.get("/ping"), client.get("/ping")):
            assert all(name in response.headers for name in present)
            assert all(name not in response.headers for name in absent)
        assert response.status_code == 429
        assert "retry-after" in response.headers, "Retry-After comes with every 429"


def test_a_cost_that_never_fits_gets_no_retry_after(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter("2/minute", store=MemoryStore(clock=clock)), cost=3)
    with TestClient(app) as client:
        response = client.get("/ping")
    assert response.status_code == 429
    assert "retry-after" not in response.headers


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter(Rate(1, 0.2), store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        client.get("/ping")
        assert client.get("/ping").headers["retry-after"] == "1"


# -- the ASGI contract ----------------------------------------------------------


def test_streaming_bodies_pass_untouched(client: TestClient) -> None:
    response = client.get("/stream")
    assert response.text == "chunk0;chunk1;chunk2;chunk3;chunk4;"
    assert response.headers["x-ratelimit-remaining"] == "1"


def test_lifespan_passes_through(clock: ManualClock) -> None:
    log: list[str] = []
    app = limited(make_app(lifespan_log=log), Limiter("1/minute", store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
    assert log == ["startup", "shutdown"]


# -- client addresses -----------------------------------------------------------


def test_forwarded_for_is_ignored_without_trusted_proxies(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)))
    with TestClient(app, client=("203.0.113.9", 5000)) as client:
        assert client.get("/ping", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
        assert client.get("/ping", headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429, "spoofing buys nothing"


def test_forwarded_for_is_honoured_through_a_trusted_proxy(clock: ManualClock) -> None:
    key = client_ip(trusted_proxies=["10.0.0.0/8"])
    app = limited(make_app(), Limiter("1/minute", store=MemoryStore(clock=clock)), key_func=key)
    with TestClient(app, client=("10.0.0.5", 5000)) as client:
        assert client.get("/ping", headers={"X-Forwarded-For": "198.51.100.1, 10.0.0.7"}).status_code == 200
        assert client.get("/ping", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200
        assert client.get("/ping", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}).status_code == 429


# -- the seed's middleware -------------------------------------------------------


def test_seed_middleware_and_orchestrator(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed README's FastAPI example, on Starlette, with the seed's names."""
    monkeypatch.setattr(memory_module, "monotonic_ns", lambda: clock.us * 1000)
    limiter = RateLimiterOrchestrator(
        rate_limiter_type=RateLimiterType.IN_MEMORY,
        algorithm_type=AlgorithmType.TOKEN_BUCKET,
        max_requests=10,
        time_window=60,
    )
    app = make_app()
    app.add_middleware(
        RateLimiterMiddleware,
        limiter=limiter,
        key_func=lambda r: r.headers.get("X-API-Key") or r.client.host,  # type: ignore[union-attr]
        exclude_routes=["/health", "/docs"],
        fail_open=True,
    )
    with TestClient(app) as client:
        response = client.get("/ping")
        assert response.json() == {"message": "pong"}
        assert response.headers["x-ratelimit-limit"] == "10"
        assert response.headers["x-ratelimit-remaining"] == "9"
        assert "x-ratelimit-limit" not in client.get("/health").headers


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"limiter": "nope"}, "limiter"),
        ({"headers": "all"}, "headers"),
        ({"cost": -1}, "cost"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], word: str) -> None:
    base: dict[str, object] = {"limiter": Limiter("1/s")}
    with pytest.raises(ValueError, match=word):
        RateLimitMiddleware(make_app(), **{**base, **kwargs})  # type: ignore[arg-type]


def test_client_ip_rejects_bad_networks() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        client_ip(trusted_proxies=["not-a-network"])


def sf_list(field: str) -> list[tuple[Any, dict[str, Any]]]:
    """An RFC 9651 list, parsed by an independent implementation (raises if malformed)."""
    parsed: Any = http_sf.parse(field.encode(), tltype="list")
    return [(member, dict(params)) for member, params in parsed]


@pytest.mark.parametrize("name", ["default", 'quote"and\\slash', "naïve name", "api"])
@pytest.mark.parametrize("rates", ["100/minute", "10/second; 1000/hour", "5/second; 9/second"])
def test_every_ietf_field_parses_as_a_structured_list(clock: ManualClock, name: str, rates: str) -> None:
    limiter = Limiter(rates, name=name, store=MemoryStore(clock=clock))
    app = limited(make_app(), limiter)
    with TestClient(app) as client:
        response = client.get("/ping")
    policy = sf_list(response.headers["ratelimit-policy"])
    state = sf_list(response.headers["ratelimit"])
    assert len(policy) == len(state) == len(limiter.rates)
    assert [member for member, _ in policy] == [member for member, _ in state], "the same policy names"
    assert len({member for member, _ in policy}) == len(limiter.rates), "distinct names"
    for (_, params), rate in zip(policy, limiter.rates, strict=True):
        assert params["q"] == rate.limit
    for _, params in state:
        assert isinstance(params["r"], int)
        assert isinstance(params["t"], int)


# -- fields that stay consistent -----------------------------------------------------


def test_a_burst_above_the_limit_is_reported_consistently(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter(Rate(10, 60, burst=20), store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        response = client.get("/ping")
    assert response.headers["ratelimit-policy"] == '"default";q=20;w=120', "20 units, coming back over 120 s"
    assert response.headers["ratelimit"] == '"default";r=19;t=6'
    assert response.headers["x-ratelimit-limit"] == "20"
    assert int(response.headers["x-ratelimit-remaining"]) <= int(response.headers["x-ratelimit-limit"])


@pytest.mark.parametrize("rates", ["2/minute", "2/minute; 100/hour", "100/hour; 2/minute"])
def test_retry_after_is_never_earlier_than_the_violated_policys_t(clock: ManualClock, rates: str) -> None:
    app = limited(make_app(), Limiter(rates, store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        client.get("/ping")
        client.get("/ping")
        denied = client.get("/ping")
    assert denied.status_code == 429
    retry = int(denied.headers["retry-after"])
    policies = {str(member): params for member, params in sf_list(denied.headers["ratelimit-policy"])}
    for member, params in sf_list(denied.headers["ratelimit"]):
        if params["r"] == 0 and policies[str(member)]["q"] == 2:
            assert params["t"] <= retry, f"{member}: t={params['t']} after Retry-After {retry}"
    assert int(denied.headers["x-ratelimit-reset"]) <= retry


def test_huge_numbers_are_clamped_to_what_a_structured_field_holds(clock: ManualClock) -> None:
    app = limited(make_app(), Limiter(Rate(10**16, 10**12), store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        response = client.get("/ping")
    for name in ("ratelimit-policy", "ratelimit"):
        for _, params in sf_list(response.headers[name]):
            assert all(abs(v) <= 999_999_999_999_999 for v in params.values() if isinstance(v, int))
    assert response.headers["x-ratelimit-limit"] == "999999999999999"


def test_fields_the_app_set_itself_are_the_apps(clock: ManualClock) -> None:
    async def upstream(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"X-RateLimit-Limit": "5000", "RateLimit": '"upstream";r=1;t=9'})

    app = Starlette(routes=[Route("/", upstream)])
    app = limited(app, Limiter("10/minute", store=MemoryStore(clock=clock)))
    with TestClient(app) as client:
        response = client.get("/")
    assert response.headers.get_list("x-ratelimit-limit") == ["5000"], "sent once: the app's"
    assert response.headers.get_list("ratelimit") == ['"upstream";r=1;t=9']
    assert response.headers["x-ratelimit-remaining"] == "9", "the fields the app did not set are ours"
