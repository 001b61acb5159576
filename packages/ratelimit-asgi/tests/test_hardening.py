"""Escapes and honest mistakes: each was possible once, and each is now refused or closed."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from ratelimit_asgi import RateLimit, RateLimitMiddleware, Rule, api_key, client_address, client_ip, header
from ratelimit_asgi.fields import Fields
from ratelimit_core import Concurrency, Decision, Limiter, MemoryStore, Rate, RateStatus
from ratelimit_core.testing import FailingStore, ManualClock


async def echo(request: Request) -> Response:
    return JSONResponse({"body": (await request.body()).decode(), "method": request.method})


def make_app() -> Starlette:
    return Starlette(routes=[Route("/login", echo, methods=["GET", "POST"]), Route("/", echo)])


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(clock=ManualClock())


# -- methods: case and HEAD ----------------------------------------------------------


def test_a_get_rule_covers_head_and_methods_match_in_any_case(store: MemoryStore) -> None:
    rule = Rule("/login", Limiter("2/minute", name="login", store=store), methods=["get", "Post"])
    app = RateLimitMiddleware(make_app(), rules=[rule])
    with TestClient(app) as client:
        assert client.head("/login").headers["x-ratelimit-remaining"] == "1", "HEAD runs the GET endpoint"
        assert client.get("/login").headers["x-ratelimit-remaining"] == "0"
        assert client.head("/login").status_code == 429
    assert rule.matches("POST", "/login")
    assert rule.matches("HEAD", "/login")
    assert not rule.matches("DELETE", "/login")


async def test_a_lowercase_method_is_matched_as_the_server_passed_it(store: MemoryStore) -> None:
    """h11 and hypercorn pass the method as the client wrote it."""
    rule = Rule("/login", Limiter("1/minute", name="login", store=store), methods=["POST"])
    app = RateLimitMiddleware(make_app(), rules=[rule])
    statuses = []
    for _ in range(2):
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(dict(message))

        scope = {"type": "http", "method": "post", "path": "/login", "headers": [], "client": ("203.0.113.1", 1)}
        await app(scope, receive, send)
        statuses.append(sent[0]["status"])
    assert statuses[1] == 429


# -- arguments of the wrong kind -------------------------------------------------------


@pytest.mark.parametrize("factory", [client_ip, header, api_key, client_address])
def test_an_uncalled_helper_is_refused_at_construction(factory: Any) -> None:
    limiter = Limiter("1/s")
    with pytest.raises(TypeError, match=f"call it, key_func={factory.__name__}"):
        RateLimitMiddleware(make_app(), limiter=limiter, key_func=factory)
    with pytest.raises(TypeError, match="call it"):
        RateLimitMiddleware(make_app(), rules=[Rule("/", limiter, key_func=factory)])
    with pytest.raises(TypeError, match="call it"):
        RateLimit(limiter, key_func=factory)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"exclude_routes": "/health"}, "exclude_routes"),
        ({"exclude_routes": [3]}, "exclude_routes"),
        ({"key_func": "client"}, "key_func"),
        ({"rules": "rules"}, "rules"),
    ],
)
def test_a_string_where_a_list_is_expected_is_a_type_error(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(TypeError, match=word):
        RateLimitMiddleware(make_app(), limiter=Limiter("1/s"), **kwargs)  # type: ignore[arg-type]


def test_one_rule_instead_of_a_list_is_a_type_error() -> None:
    rule = Rule("/", Limiter("1/s"))
    with pytest.raises(TypeError, match="list of Rule"):
        RateLimitMiddleware(make_app(), rules=rule)  # type: ignore[arg-type]


@pytest.mark.parametrize("methods", ["POST", b"POST", [1]])
def test_rule_methods_must_be_a_list_of_strings(methods: Any) -> None:
    with pytest.raises(TypeError, match="methods"):
        Rule("/login", Limiter("1/s"), methods=methods)


# -- an outage is never a 429 ------------------------------------------------------------


def test_a_degraded_denial_is_a_503_in_the_middleware() -> None:
    app = RateLimitMiddleware(make_app(), limiter=Limiter("5/minute", store=FailingStore(), on_error="deny"))
    with TestClient(app) as client:
        response = client.get("/")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert "retry-after" not in response.headers or response.status_code != 429


def test_a_degraded_denial_is_a_503_in_the_dependency() -> None:
    app = FastAPI()
    limit = RateLimit(Limiter("5/minute", store=FailingStore(), on_error="deny"))

    @app.get("/")
    async def root(_: object = Depends(limit)) -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as client:
        assert client.get("/").status_code == 503


# -- key functions that read the body ------------------------------------------------------


@pytest.mark.timeout(20)
def test_a_key_function_may_read_the_json_body_and_the_app_still_gets_it(store: MemoryStore) -> None:
    async def username(conn: HTTPConnection) -> str:
        assert isinstance(conn, Request)
        return f"user:{(await conn.json())['username']}"

    rule = Rule("/login", Limiter("2/minute", name="login", store=store), methods=["POST"], key_func=username)
    app = RateLimitMiddleware(make_app(), rules=[rule])
    with TestClient(app) as client:
        first = client.post("/login", json={"username": "alice", "password": "x"})
        assert first.status_code == 200
        assert first.json()["body"] == '{"username":"alice","password":"x"}', "the app got the body as sent"
        client.post("/login", json={"username": "alice", "password": "y"})
        assert client.post("/login", json={"username": "alice", "password": "z"}).status_code == 429
        assert client.post("/login", json={"username": "bob", "password": "z"}).status_code == 200


@pytest.mark.timeout(20)
def test_a_key_function_reading_a_huge_body_is_refused_not_hung(store: MemoryStore) -> None:
    async def body_key(conn: HTTPConnection) -> str:
        assert isinstance(conn, Request)
        return str(len(await conn.body()))

    app = RateLimitMiddleware(make_app(), limiter=Limiter("5/minute", store=store), key_func=body_key)
    with TestClient(app) as client:
        assert client.post("/", content=b"x" * (2 * 1024 * 1024)).status_code == 413


# -- paths --------------------------------------------------------------------------------


def test_a_path_too_long_to_match_is_refused(store: MemoryStore) -> None:
    app = RateLimitMiddleware(make_app(), limiter=Limiter("5/minute", store=store), exclude_routes=["/static/**"])
    with TestClient(app) as client:
        assert client.get("/static/" + "a" * 9000).status_code == 414
        assert client.get("/").status_code == 200


# -- IPv6 clients -------------------------------------------------------------------------


def test_ipv6_peers_share_their_64_by_default(store: MemoryStore) -> None:
    app = RateLimitMiddleware(make_app(), limiter=Limiter("2/minute", store=store))
    statuses = []
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        with TestClient(app, client=(host, 5000)) as client:
            statuses.append(client.get("/").status_code)
    assert statuses == [200, 200, 429]
    with TestClient(app, client=("::ffff:198.51.100.1", 5000)) as client:
        assert client.get("/").status_code == 200
    with TestClient(app, client=("198.51.100.1", 5000)) as client:
        assert client.get("/").headers["x-ratelimit-remaining"] == "0", "a mapped address is its IPv4 client"


def test_an_app_may_set_text_keys_of_its_own(store: MemoryStore) -> None:
    """A custom key function's text is used as it is."""
    app = RateLimitMiddleware(make_app(), limiter=Limiter("1/minute", store=store), key_func=lambda conn: "tenant:a")
    with TestClient(app) as client:
        assert client.get("/").status_code == 200
        assert client.get("/").status_code == 429


# -- one refusal, in the middleware and the dependency -----------------------------------


def test_the_dependency_refuses_with_the_middlewares_problem_document(store: MemoryStore) -> None:
    from ratelimit_asgi import RateLimitRefusal, problem_handler  # noqa: PLC0415

    app = FastAPI()
    app.add_exception_handler(RateLimitRefusal, problem_handler)
    limit = RateLimit(Limiter("1/minute", name="search", store=store))

    @app.get("/search")
    async def search(_: object = Depends(limit)) -> dict[str, str]:
        return {"ok": "yes"}

    middleware_app = RateLimitMiddleware(make_app(), limiter=Limiter("1/minute", name="search", store=MemoryStore()))
    with TestClient(app) as client, TestClient(middleware_app) as other:
        client.get("/search")
        from_dependency = client.get("/search")
        other.get("/")
        from_middleware = other.get("/")
    for denied in (from_dependency, from_middleware):
        assert denied.status_code == 429
        assert denied.headers["content-type"] == "application/problem+json"
        assert denied.headers["cache-control"] == "no-store"
        assert denied.headers["retry-after"] == "60"
    assert from_dependency.json() == from_middleware.json()


@pytest.mark.parametrize("where", ["middleware", "dependency"])
def test_the_drafts_problem_type_is_opt_in_and_names_the_violated_policies(store: MemoryStore, where: str) -> None:
    from ratelimit_asgi import RateLimitRefusal, problem_handler  # noqa: PLC0415

    limiter = Limiter("2/minute; 1/second", name="api", store=store)
    api = FastAPI()
    api.add_exception_handler(RateLimitRefusal, problem_handler)
    limit = RateLimit(limiter, problem_type="quota-exceeded")

    @api.get("/")
    async def root(_: object = Depends(limit)) -> dict[str, str]:
        return {"ok": "yes"}

    app: Any = api
    if where == "middleware":
        app = RateLimitMiddleware(make_app(), limiter=limiter, problem_type="quota-exceeded")

    with TestClient(app) as client:
        client.get("/")
        body = client.get("/").json()
    assert body["type"] == "https://iana.org/assignments/http-problem-types#quota-exceeded"
    assert body["violated-policies"] == ["api/1s"]
    assert body["status"] == 429


def test_about_blank_stays_the_default(store: MemoryStore) -> None:
    app = RateLimitMiddleware(make_app(), limiter=Limiter("1/minute", store=store))
    with TestClient(app) as client:
        client.get("/")
        body = client.get("/").json()
    assert body["type"] == "about:blank"
    assert "violated-policies" not in body
    with pytest.raises(ValueError, match="problem_type"):
        RateLimitMiddleware(make_app(), limiter=Limiter("1/s"), problem_type="quota")  # type: ignore[arg-type]


# -- round three: mistakes that were silent, and client bytes that gave a 500 -----------------


async def login_key(conn: HTTPConnection) -> str:
    """docs/asgi.md's login key before the recipe was fixed: the username from the JSON body."""
    assert isinstance(conn, Request)  # an HTTP request's connection is a Request
    body = await conn.json()
    return f"user:{body['username']}"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"name": "no username"}', b"\xff\xfe"])
def test_a_key_function_that_raises_on_the_clients_bytes_is_a_400(
    body: bytes, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    rule = Rule("/login", Limiter("5/minute", name="login", store=store), key_func=login_key)
    app = RateLimitMiddleware(make_app(), rules=[rule])
    with TestClient(app) as client, caplog.at_level("WARNING", logger="ratelimit_asgi"):
        responses = [client.post("/login", content=body) for _ in range(3)]
        good = client.post("/login", json={"username": "ann"})
    assert [r.status_code for r in responses] == [400] * 3, "before the fix: 500 with a traceback"
    assert responses[0].headers["content-type"] == "application/problem+json"
    assert responses[0].json()["status"] == 400
    assert good.status_code == 200
    assert good.headers["x-ratelimit-remaining"] == "4", "well-formed ones are counted"
    (warning,) = [r for r in caplog.records if "key function" in r.getMessage()]
    assert "refused with 400" in warning.getMessage()


def test_a_key_function_that_gives_no_str_is_a_400_not_a_500(store: MemoryStore) -> None:
    def no_key(conn: HTTPConnection) -> Any:
        return conn.headers.get("x-api-key")  # None when the client sends none

    app = RateLimitMiddleware(make_app(), limiter=Limiter("5/minute", store=store), key_func=no_key)
    with TestClient(app) as client:
        assert client.get("/").status_code == 400


def test_rule_methods_may_be_any_iterable_a_generator_included(store: MemoryStore) -> None:
    rule = Rule("/login", Limiter("1/minute", name="login", store=store), methods=(m for m in ["POST"]))
    assert rule.matches("POST", "/login")
    assert not rule.matches("GET", "/login"), "before the fix: the generator was used up, and all methods matched"
    app = RateLimitMiddleware(make_app(), rules=[rule])
    with TestClient(app) as client:
        assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 200]


def _from_proxy(forwarded: str | None, x_forwarded_for: str | None) -> HTTPConnection:
    headers = []
    if forwarded is not None:
        headers.append((b"forwarded", forwarded.encode()))
    if x_forwarded_for is not None:
        headers.append((b"x-forwarded-for", x_forwarded_for.encode()))
    scope = {"type": "http", "headers": headers, "client": ("10.0.0.2", 443), "path": "/"}
    return HTTPConnection(scope)


def test_a_proxy_that_writes_the_other_forwarding_header_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    key = client_ip(["10.0.0.0/8"])  # reads X-Forwarded-For
    with caplog.at_level("WARNING", logger="ratelimit_asgi"):
        # The proxy writes Forwarded; the client sent an X-Forwarded-For of its choosing.
        chosen = key(_from_proxy('for="203.0.113.7"', "198.51.100.1"))
        again = key(_from_proxy('for="203.0.113.7"', "198.51.100.2"))
        only_other = key(_from_proxy('for="203.0.113.7"', None))
        agreeing = key(_from_proxy('for="203.0.113.7"', "203.0.113.7"))
    assert (chosen, again, only_other, agreeing) == ("198.51.100.1", "198.51.100.2", "10.0.0.2", "203.0.113.7")
    assert key.mismatches == 3, "two disagreements and one header missing; agreeing headers are fine"
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "forwarded_header='forwarded'" in warning, "logged once a minute, saying what to set"
    assert "(1 such requests so far)" in warning
    assert key(_from_proxy(None, "203.0.113.7")) == "203.0.113.7"
    assert key.mismatches == 3, "no other header, nothing to report"


def test_a_cap_that_binds_sends_no_reset_that_invites_a_retry() -> None:
    limiter = Limiter("100/minute; 1 concurrent", name="api")
    fields = Fields("api", limiter.policy.limits, "both")
    cap, rate = limiter.cap, limiter.rates[0]
    assert isinstance(cap, Concurrency)
    assert isinstance(rate, Rate)
    statuses = (RateStatus(rate, True, 99, 0.6, 0.0), RateStatus(cap, False, 0, 0.0, None))
    denied = Decision(False, 1, 0, 0.0, None, cap, False, statuses)
    sent = dict(fields.of(denied))
    assert b"x-ratelimit-reset" not in sent, "before the fix: X-RateLimit-Reset: 0"
    assert sent[b"x-ratelimit-remaining"] == b"0"
    assert b"retry-after" not in sent
