"""Each distribution, built as a wheel and installed alone in a fresh venv, works.

Only a built wheel shows a file left out of the package or a dependency left
out of its metadata; an editable install hides both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = [sys.executable, "-m", "uv"]

SMOKE = """
import asyncio, importlib.util, json, sys
from ratelimit_core import Limiter, MemoryStore
from ratelimit_core.testing import ManualClock

async def main():
    clock = ManualClock()
    limiter = Limiter("2/second; 100/hour", store=MemoryStore(clock=clock))
    allowed = [(await limiter.hit("k")).allowed for _ in range(3)]
    clock.advance(0.5)
    allowed.append((await limiter.hit("k")).allowed)
    return allowed

print(json.dumps({
    "allowed": asyncio.run(main()),
    "modules": {m: importlib.util.find_spec(m) is not None
                for m in ("ratelimit_redis", "ratelimit_asgi", "redis", "starlette", "pydantic")},
    "prefix": sys.prefix,
}))
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    built = {}
    for name in ("ratelimit-core", "ratelimit-redis", "ratelimit-asgi", "ratelimit-client"):
        subprocess.run([*UV, "build", "--wheel", "--out-dir", str(out), str(ROOT / "packages" / name)], check=True)
        (wheel,) = out.glob(name.replace("-", "_") + "-*.whl")
        built[name] = wheel
    return built


def venv_with(tmp_path: Path, *wheels: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([*UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*UV, "pip", "install", "--quiet", "--python", str(python), *map(str, wheels)], check=True)
    return python


def smoke(python: Path) -> dict[str, object]:
    result = subprocess.run([str(python), "-c", SMOKE], capture_output=True, text=True, check=True)
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_core_wheel_alone_runs_a_limiter_with_no_third_party_package(wheels: dict[str, Path], tmp_path: Path) -> None:
    python = venv_with(tmp_path, wheels["ratelimit-core"])
    data = smoke(python)
    assert data["prefix"] == str(tmp_path / "venv")
    assert data["allowed"] == [True, True, False, True]
    assert data["modules"] == {
        "ratelimit_redis": False,
        "ratelimit_asgi": False,
        "redis": False,
        "starlette": False,
        "pydantic": False,
    }
    listed = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, check=False)
    assert listed.returncode != 0, "the venv holds nothing but the wheel (no pip either)"


REDIS_SMOKE = """
import asyncio, json, sys
from redis.asyncio import Redis
from ratelimit_core import Limiter
from ratelimit_redis import RedisStore

async def main():
    client = Redis.from_url(sys.argv[1])
    out = {}
    for algorithm in ("token_bucket", "fixed_window", "sliding_window_log", "sliding_window_counter"):
        limiter = Limiter("2/minute", algorithm=algorithm, name="wheel", store=RedisStore(client, timeout=5))
        await limiter.reset("k")
        out[algorithm] = [(await limiter.hit("k")).allowed for _ in range(3)]
    await client.aclose()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_redis_wheel_installs_with_core_and_redis_only(
    wheels: dict[str, Path], tmp_path: Path, redis7_url: str
) -> None:
    python = venv_with(tmp_path, wheels["ratelimit-core"], wheels["ratelimit-redis"])
    data = smoke(python)
    assert data["allowed"] == [True, True, False, True]
    modules = data["modules"]
    assert isinstance(modules, dict)
    assert modules["ratelimit_redis"]
    assert modules["redis"]
    assert not modules["starlette"]
    assert not modules["pydantic"]
    # The scripts are in the wheel: every algorithm decides on a real server.
    result = subprocess.run([str(python), "-c", REDIS_SMOKE, redis7_url], capture_output=True, text=True, check=True)
    algorithms = ["token_bucket", "fixed_window", "sliding_window_log", "sliding_window_counter"]
    assert json.loads(result.stdout) == {a: [True, True, False] for a in algorithms}


def test_asgi_wheel_installs_with_core_starlette_and_pydantic(wheels: dict[str, Path], tmp_path: Path) -> None:
    python = venv_with(tmp_path, wheels["ratelimit-core"], wheels["ratelimit-asgi"])
    data = smoke(python)
    modules = data["modules"]
    assert isinstance(modules, dict)
    assert modules["ratelimit_asgi"]
    assert modules["starlette"]
    assert modules["pydantic"]
    assert not modules["redis"]


CLIENT_SMOKE = """
import json, ratelimit_client
reading = ratelimit_client.read(429, [("Retry-After", "3")], now=0.0, max_wait=600.0)
try:
    ratelimit_client.AsyncRateLimitTransport
except ImportError as exc:
    missing = str(exc)
print(json.dumps({"pause": reading.pause, "missing": missing}))
"""


def test_client_wheel_installs_with_core_only_and_names_the_extra_a_transport_needs(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = venv_with(tmp_path, wheels["ratelimit-core"], wheels["ratelimit-client"])
    result = subprocess.run([str(python), "-c", CLIENT_SMOKE], capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    assert data["pause"] == 3.0
    assert "pip install 'ratelimit-client[httpx]'" in data["missing"]


@pytest.mark.parametrize("name", ["ratelimit-core", "ratelimit-redis", "ratelimit-asgi", "ratelimit-client"])
def test_wheel_ships_its_type_marker(wheels: dict[str, Path], name: str) -> None:
    names = zipfile.ZipFile(wheels[name]).namelist()
    assert f"{name.replace('-', '_')}/py.typed" in names
    if name == "ratelimit-redis":
        for script in (
            "common",
            "token_bucket",
            "fixed_window",
            "sliding_window_log",
            "sliding_window_counter",
            "note",
        ):
            assert f"ratelimit_redis/lua/{script}.lua" in names


@pytest.mark.parametrize("name", ["ratelimit-redis", "ratelimit-asgi", "ratelimit-client"])
def test_each_range_of_ratelimit_core_starts_at_the_core_in_this_repository(name: str) -> None:
    """The oldest core a package allows is the one its tests run against: this repository's."""
    import tomllib  # noqa: PLC0415

    from packaging.requirements import Requirement  # noqa: PLC0415

    about = (ROOT / "packages" / "ratelimit-core" / "src" / "ratelimit_core" / "__about__.py").read_text()
    version = about.split('"')[1]
    project = tomllib.loads((ROOT / "packages" / name / "pyproject.toml").read_text())["project"]
    (wanted,) = [Requirement(r) for r in project["dependencies"] if r.startswith("ratelimit-core")]
    lowest = [spec.version for spec in wanted.specifier if spec.operator == ">="]
    assert lowest == [version], f"{name} allows ratelimit-core {wanted.specifier}; this repository's is {version}"
