"""The lock covers what the environments ask for: a dependency added without `hatch run lock:refresh` fails here.

Checked without the network: every requirement of hatch.toml's locked environments
and of the packages is pinned in lock/dev.txt at a version it accepts.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import refresh_lock as lock  # noqa: E402


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of a lock file."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", line)
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


CONFIG = tomllib.loads((ROOT / "hatch.toml").read_text())
LOCKED = pins(ROOT / "lock" / "dev.txt")
WANTED = [*lock.environment_requirements(CONFIG), *lock.package_requirements(), lock.BUILD]


@pytest.mark.parametrize("text", sorted(set(WANTED)))
def test_every_requirement_is_pinned_in_the_lock(text: str) -> None:
    requirement = Requirement(text)
    name = canonicalize_name(requirement.name)
    assert name in LOCKED, f"{text} is not in lock/dev.txt: run `hatch run lock:refresh`"
    assert requirement.specifier.contains(LOCKED[name], prereleases=True), (
        f"lock/dev.txt pins {name}=={LOCKED[name]}, which {text} does not accept: run `hatch run lock:refresh`"
    )


def env_vars(name: str) -> dict[str, str]:
    """An environment's variables as hatch sees them: its own, else its template's (``default`` unless detached)."""
    envs = CONFIG["envs"]
    env = envs[name]
    while "env-vars" not in env:
        template = env.get("template", None if env.get("detached") or name == "default" else "default")
        if template is None:
            return {}
        name, env = template, envs[template]
    variables: dict[str, str] = env["env-vars"]
    return variables


def test_every_environment_but_newest_installs_under_a_lock() -> None:
    for name in CONFIG["envs"]:
        variables = env_vars(name)
        if name in lock.UNLOCKED:
            assert "UV_CONSTRAINT" not in variables, f"{name} is meant to resolve without the lock"
            continue
        constraint = variables.get("UV_CONSTRAINT", "")
        assert constraint.startswith("{root}/lock/"), f"environment {name} installs without the lock"
        assert variables.get("UV_BUILD_CONSTRAINT") == constraint, f"{name}: the build backend is not locked"


def test_the_oldest_lock_holds_the_floors_and_the_same_pins_otherwise() -> None:
    oldest = pins(ROOT / "lock" / "oldest.txt")
    floors = {Requirement(text) for text in CONFIG["envs"]["oldest"]["extra-dependencies"]}
    declared = tomllib.loads((ROOT / "packages/ratelimit-redis/pyproject.toml").read_text())["project"]
    redis_floor = next(Requirement(r) for r in declared["dependencies"] if r.startswith("redis"))
    for floor in floors:
        (spec,) = floor.specifier
        assert oldest[canonicalize_name(floor.name)] == spec.version
    assert f">={oldest['redis']}" in str(redis_floor.specifier), "the oldest env tests redis-py's declared floor"
    moved = {name for name, version in oldest.items() if LOCKED.get(name) not in (None, version)}
    assert moved <= {canonicalize_name(f.name) for f in floors} | {"async-timeout"}, moved


def test_ci_installs_hatch_from_its_lock() -> None:
    assert "-r lock/hatch.txt" in (ROOT / ".ci" / "run").read_text()
    assert pins(ROOT / "lock" / "hatch.txt")["hatch"] == lock.HATCH.split("==")[1]
