"""The examples in docs/examples run: the quickstart, and the README's main job (the demo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_demo_limits_a_burst_and_recovers() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    burst = [row for row in rows if row[1] == "burst"]
    assert [row[3] for row in burst] == ["True"] * 5 + ["False"] * 3
    assert [row[4] for row in burst[:5]] == ["4", "3", "2", "1", "0"]
    later = [row for row in rows if row[1] == "later"]
    assert [row[3] for row in later][:2] == ["True", "True"], "tokens came back after half a second"
    assert rows[-1][1:3] == ["wait()", "True"]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_the_demo_serves_real_http_and_limits_a_burst(backend: str, redis7_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if backend == "redis":
        env["REDIS_URL"] = redis7_url
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    assert ("state in Redis" in result.stdout) == (backend == "redis")
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    statuses = [(row[1], row[3]) for row in rows]
    assert [s for label, s in statuses if label == "burst"] == ["200"] * 5 + ["429"] * 3
    assert [s for label, s in statuses if label == "later"] == ["200"] * 3, "the limit came back"
    assert all(row[5] == "1" for row in rows if row[3] == "429"), "Retry-After on every 429"


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_demo_with_two_workers_holds_the_limit_across_both(backend: str, redis7_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if backend == "redis":
        env["REDIS_URL"] = redis7_url
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "demo.py"), "--workers", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=90,
        env=env,
    )
    assert "under uvicorn with 2 workers" in result.stdout
    assert "rows print as answers come,\nnot in request order" in result.stdout, "the order is explained"
    assert ("state in SQLite" in result.stdout) == (backend == "sqlite")
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    burst = [row for row in rows if row[1] == "burst"]
    # All eight at once, four to each worker: five admitted between them, whichever answered first.
    assert len({row[4] for row in burst}) == 2, "both workers answered the burst"
    assert sorted(row[3] for row in burst) == ["200"] * 5 + ["429"] * 3
    assert sorted(row[6].split(";")[1] for row in burst if row[3] == "200") == [f"r={n}" for n in range(5)]
    assert [row[3] for row in rows if row[1] == "later"] == ["200"] * 3, "the limit came back"
