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
    assert all(row[4] == "1" for row in rows if row[3] == "429"), "Retry-After on every 429"
