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

from ratelimit_asgi import RateLimitConfig, RateLimitMiddleware
from ratelimit_core import MemoryStore
from ratelimit_core.testing import ManualClock

TOML = """
headers = "both"
exclude = ["/health"]
trusted_proxies = ["10.0.0.0/8"]

[default]
rates = "3/minute"
key = "client_ip"

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
    app = Starlette(routes=[Route("/", ok), Route("/health", ok), Route("/login", ok, methods=["GET", "POST"])])
    app.add_middleware(RateLimitMiddleware, **config.middleware_options(store=MemoryStore(clock=ManualClock())))
    return app


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
    data = {"default": {"rates": ["10/second", "100/minute"], "key": "header:X-Tenant", "cost": 2}}
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
        ({"default": {"rates": "1/s", "key": "cookie"}}, ("default", "key")),
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
