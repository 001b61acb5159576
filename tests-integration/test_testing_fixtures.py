"""The pytest fixtures in a user's suite: a FastAPI app behind the middleware, a Flask app, an app on Redis.

Each suite runs in a pytest of its own (a subprocess), loading the plugin by
its entry point, with the app made at import as users make it.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

FASTAPI_APP = """
from fastapi import FastAPI
from ratelimit_core import Limiter
from ratelimit_asgi import RateLimitMiddleware

app = FastAPI()
app.add_middleware(RateLimitMiddleware, limiter=Limiter("2/minute", name="api"))

@app.get("/")
async def root():
    return {"ok": True}
"""

FLASK_APP = """
from flask import Flask
from ratelimit_core.sync import Limiter

app = Flask(__name__)
limiter = Limiter("2/minute", name="flask")

@app.get("/")
def root():
    if not limiter.hit("user").allowed:
        return "slow down", 429
    return "ok"
"""

CONFTEST = """
import pytest

@pytest.fixture(autouse=True)
def _fresh_limits(ratelimit_reset):
    '''Every test starts with every limit full.'''
"""


def run(pytester: pytest.Pytester, app: str, tests: str) -> pytest.RunResult:
    pytester.makepyfile(app=app, test_app=tests, conftest=CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")


def test_the_testclient_sees_the_clock_the_reset_and_limits_off(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        FASTAPI_APP,
        """
from fastapi.testclient import TestClient
from app import app

client = TestClient(app)

def statuses(n):
    return [client.get("/").status_code for _ in range(n)]

def test_limited():
    assert statuses(3) == [200, 200, 429]
    assert client.get("/").headers["retry-after"] == "30"

def test_starts_full_again():
    assert statuses(3) == [200, 200, 429]

def test_clock(ratelimit_clock):
    assert statuses(3) == [200, 200, 429]
    ratelimit_clock.advance(30)
    assert statuses(2) == [200, 429]

def test_off(ratelimit_off):
    assert statuses(20) == [200] * 20

def test_on_after_off():
    assert statuses(3) == [200, 200, 429]
""",
    )
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["ratelimit: limits were switched off (ratelimit_off) in 1 test(s)"])


def test_a_flask_app_on_the_sync_limiter(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        FLASK_APP,
        """
from app import app

client = app.test_client()

def statuses(n):
    return [client.get("/").status_code for _ in range(n)]

def test_limited():
    assert statuses(3) == [200, 200, 429]

def test_clock(ratelimit_clock):
    assert statuses(3) == [200, 200, 429]
    ratelimit_clock.advance(60)
    assert statuses(3) == [200, 200, 429]

def test_off(ratelimit_off):
    assert statuses(10) == [200] * 10
""",
    )
    result.assert_outcomes(passed=3)


def test_an_app_on_redis_cannot_be_moved_or_reset_and_says_so(pytester: pytest.Pytester, redis7_url: str) -> None:
    app = f"""
import redis.asyncio
from ratelimit_core import Limiter
from ratelimit_redis import RedisStore

limiter = Limiter("2/minute", name="on-redis", store=RedisStore(redis.asyncio.Redis.from_url({redis7_url!r})))
"""
    pytester.makepyfile(
        app=app,
        test_app="""
from app import limiter

def test_clock(ratelimit_clock):
    pass

def test_reset(ratelimit_reset):
    pass

async def test_off(ratelimit_off):
    assert all([(await limiter.hit("k")).allowed for _ in range(5)])
""",
    )
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*RedisStore*keeps its own time*Redis server's clock*"])
    result.stdout.fnmatch_lines(["*RedisStore*cannot forget every key at once*FLUSHDB*"])
