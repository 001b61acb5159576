"""Real HTTP on one host without Redis: uvicorn with two workers sharing a SqliteStore.

Both workers admit requests, and together exactly the limit, for every algorithm,
on one key and on fifty.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from http_load import Response, blast, uvicorn
from servers import free_port

from ratelimit_core import Algorithm

pytestmark = pytest.mark.timeout(120)


def _admitted(responses: list[Response]) -> Counter[str]:
    statuses = Counter(r.status for r in responses)
    assert set(statuses) <= {200, 429}, f"only admitted and denied, got {statuses}"
    missing = [r for r in responses if "ratelimit" not in r.headers]
    assert not missing, f"{len(missing)} answers without their limit fields: a decision failed open"
    return Counter(r.client for r in responses if r.status == 200)


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_two_workers_on_one_sqlite_file_admit_exactly_the_limit(algorithm: Algorithm, tmp_path: Path) -> None:
    port = free_port()
    routes = f"/one={algorithm.value}@300/hour /many={algorithm.value}@10/hour"
    env = {"LOAD_SQLITE_PATH": str(tmp_path / "limits.db"), "LOAD_NAME": uuid.uuid4().hex[:8], "LOAD_ROUTES": routes}
    with uvicorn(port, 2, env, tmp_path / "uvicorn.log"):
        started = time.monotonic()
        one = await blast(port, "/one/", lambda i: "one", total=900)
        elapsed = time.monotonic() - started
        # A token bucket refills while the run goes: one more token per 12 s, one per 360 s.
        refill = algorithm is Algorithm.TOKEN_BUCKET
        assert 300 <= _admitted(one)["one"] <= 300 + refill * (1 + int(elapsed / 12))
        workers = Counter(r.headers["x-worker"] for r in one if r.status == 200)
        assert len(workers) == 2, f"both workers admitted requests: {workers}"
        many = await blast(port, "/many/", lambda i: f"k{i % 50}", total=750)
        admitted = _admitted(many)
        assert len(admitted) == 50
        assert set(admitted.values()) <= {10, 10 + refill}, admitted
        print(f"{algorithm}: one key {_admitted(one)['one']} of 900 in {elapsed:.2f} s over {dict(workers)}")
    log = (tmp_path / "uvicorn.log").read_text()
    assert "rate limit store failed" not in log, "no decision failed under load"
