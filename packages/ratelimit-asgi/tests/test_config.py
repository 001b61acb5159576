from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from ratelimit_asgi import RateLimitConfig, RateLimitMiddleware, Rule, RuleConfig
from ratelimit_core import MemoryStore
from ratelimit_core.testing import ManualClock

TOML = """
headers = "both"
exclude_routes = ["/health"]
trusted_proxies = ["10.0.0.0/8"]

[default]
rates = "3/minute"
key_func = "client_ip"

[[rules]]
path = "/login"
methods = ["POST"]
rates = "1/minute; 5/hour"
algorithm = "sliding_window_log"
name = "login"
"""


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def app_from(config: RateLimitConfig) -> Starlette:
    routes = [Route("/", ok), Route("/health", ok), Route("/login", ok, methods=["GET", "POST"])]
    return Starlette(routes=routes, middleware=[config.middleware(store=MemoryStore(clock=ManualClock()))])


def test_toml_configures_the_middleware(tmp_path: Path) -> None:
    path = tmp_path / "ratelimit.toml"
    path.write_text(TOML)
    config = RateLimitConfig.from_toml(path)
    assert config.rules[0].algorithm == "sliding_window_log"
    with TestClient(app_from(config), client=("10.0.0.2", 1)) as client:
        assert client.post("/login").status_code == 200
        assert client.post("/login").status_code == 429
        assert client.post("/login").headers["ratelimit-policy"] == '"login/1min";q=1;w=60, "login/1h";q=5;w=3600'
        assert "x-ratelimit-limit" not in client.get("/health").headers
        forwarded = {"X-Forwarded-For": "198.51.100.7"}
        assert [client.get("/", headers=forwarded).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert client.get("/", headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200, "keyed via the proxy"


def test_json_and_dict_read_the_same(tmp_path: Path) -> None:
    data = {"default": {"rates": ["10/second", "100/minute"], "key_func": "header:X-Tenant", "cost": 2}}
    path = tmp_path / "ratelimit.json"
    path.write_text(json.dumps(data))
    assert (
        RateLimitConfig.from_json(path)
        == RateLimitConfig.from_dict(data)
        == RateLimitConfig.from_json(json.dumps(data))
    )


@pytest.mark.parametrize(
    ("data", "location"),
    [
        ({"default": {"rates": "lots/second"}}, ("default", "rates")),
        ({"default": {"rates": "1/s", "algorithm": "leaky"}}, ("default", "algorithm")),
        ({"default": {"rates": "1/s", "cost": -1}}, ("default", "cost")),
        ({"default": {"rates": "1/s", "key_func": "cookie"}}, ("default", "key_func")),
        ({"default": {"rates": "1/s"}, "exclude_routes": "/health"}, ("exclude_routes",)),
        ({"rules": [{"path": "/a", "rates": "1/s", "methods": "POST"}]}, ("rules", 0, "methods")),
        ({"rules": [{"path": "/a", "rates": "1/s"}, {"path": "nope", "rates": "1/s"}]}, ("rules", 1, "path")),
        ({"rules": [{"path": "/a", "rates": "1/s burst=5", "algorithm": "fixed_window"}]}, ("rules", 0)),
        ({"default": {"rates": "1/s"}, "trusted_proxies": ["not-an-ip"]}, ("trusted_proxies",)),
        ({"default": {"rates": "1/s"}, "headres": "both"}, ("headres",)),
        ({}, ()),
    ],
)
def test_validation_errors_point_at_the_field(data: dict[str, object], location: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        RateLimitConfig.from_dict(data)
    assert info.value.errors()[0]["loc"][: len(location)] == location


def test_a_rule_without_a_key_keys_as_the_default_does() -> None:
    """Behind a proxy, a login rule must not put every user on the proxy's one key."""
    config = RateLimitConfig.from_toml(TOML)
    with TestClient(app_from(config), client=("10.0.0.2", 1)) as client:
        assert client.post("/login", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
        assert client.post("/login", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200, "another user"
        assert client.post("/login", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429


def test_reordering_rules_keeps_their_state() -> None:
    store = MemoryStore(clock=ManualClock())
    rules = [{"path": "/a", "rates": "1/minute"}, {"path": "/b", "rates": "1/minute", "methods": ["post", "GET"]}]
    names = []
    for order in (rules, rules[::-1]):
        options = RateLimitConfig.from_dict({"rules": order}).middleware_options(store)
        names.append(sorted(rule.limiter.name for rule in options["rules"]))
    assert names[0] == names[1] == ["rule /a", "rule /b GET,POST"]


def test_toml_and_json_take_a_path_as_a_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ratelimit.toml").write_text(TOML)
    (tmp_path / "ratelimit.json").write_text(json.dumps({"default": {"rates": "1/s"}}))
    monkeypatch.chdir(tmp_path)
    assert RateLimitConfig.from_toml("ratelimit.toml") == RateLimitConfig.from_toml(TOML)
    assert RateLimitConfig.from_toml(str(tmp_path / "ratelimit.toml")) == RateLimitConfig.from_toml(TOML)
    assert RateLimitConfig.from_json("ratelimit.json") == RateLimitConfig.from_dict({"default": {"rates": "1/s"}})
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        RateLimitConfig.from_toml("missing.toml")
    assert RateLimitConfig.from_toml('[default]\nrates = "1/s"').default is not None


def test_middleware_is_a_starlette_middleware() -> None:
    from starlette.middleware import Middleware  # noqa: PLC0415

    made = RateLimitConfig.from_toml(TOML).middleware()
    assert isinstance(made, Middleware)
    assert made.cls is RateLimitMiddleware  # type: ignore[comparison-overlap]  # Middleware types its class loosely


def test_every_middleware_option_has_its_name_in_the_config() -> None:
    """One name per option: what the middleware takes, the configuration spells the same way."""
    import inspect  # noqa: PLC0415

    taken = set(inspect.signature(RateLimitMiddleware.__init__).parameters) - {"self", "app", "on_decision"}
    # "limiter", "key_func", "cost", "count" and "settle" are the default limit's; "rules" holds the rules.
    default = {"limiter", "key_func", "cost", "count", "settle"}
    options = set(RateLimitConfig.from_toml(TOML).middleware_options())
    assert taken - default <= options
    assert default <= options
    rule_options = set(inspect.signature(Rule).parameters) - {"limiter"}
    assert rule_options <= set(RuleConfig.model_fields)
