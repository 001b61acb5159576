"""ratelimit-client across processes, over real HTTP: four client processes share one store against one upstream.

The upstream (``client_upstream.py`` under uvicorn) allows 20 requests a second
per API key and says so in the IETF fields. Four processes of 50 tasks send
2,000 requests over four keys through ``AsyncRateLimitTransport``, sharing a
``SqliteStore``, then a Redis. Learning the limit (no limiter given), each
process meets at most one 429 per key; with a limiter given at 95% of the
upstream's rate (with a burst of half the upstream's, as the transport adopts a
learned limit), none at all; and the upstream's allowance is used at 90% or
more either way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from http_load import uvicorn
from servers import free_port

pytestmark = pytest.mark.timeout(180)

HERE = Path(__file__).parent
PROCESSES, TASKS, REQUESTS, KEYS, RATE = 4, 50, 2000, 4, 20


def _run_clients(port: int, where: str, mode: str) -> tuple[list[dict[str, Counter[int]]], float]:
    """Start the client processes together; each one's statuses per key, and the seconds the run took."""
    start = time.time() + 3  # every process is up and waiting by then
    arguments = [str(port), where, mode, str(start), str(REQUESTS // PROCESSES), str(TASKS), str(KEYS)]
    command = [sys.executable, str(HERE / "client_load.py"), *arguments]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, out
        results.append(json.loads(out))
    elapsed = max(r["last"] for r in results) - start
    return [{k: Counter({int(s): n for s, n in v.items()}) for k, v in r["statuses"].items()} for r in results], elapsed


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
@pytest.mark.parametrize("mode", ["learn", "given"])
def test_four_processes_stay_under_the_upstreams_limit(
    backend: str, mode: str, tmp_path: Path, redis7_url: str
) -> None:
    port = free_port()
    where = str(tmp_path / "client.db") if backend == "sqlite" else redis7_url
    if backend == "redis":
        import redis  # noqa: PLC0415

        redis.Redis.from_url(redis7_url).flushdb()
    with uvicorn(port, 1, {}, tmp_path / "uvicorn.log", app="client_upstream:app"):
        per_process, elapsed = _run_clients(port, where, mode)
    refused = [{k: c[429] for k, c in statuses.items() if c[429]} for statuses in per_process]
    admitted = sum(c[200] for statuses in per_process for c in statuses.values())
    assert admitted + sum(sum(r.values()) for r in refused) == REQUESTS
    if mode == "learn":
        assert all(n <= 1 for r in refused for n in r.values()), f"at most one 429 per process and key: {refused}"
    else:
        assert not any(refused), f"no 429 under a limiter at 95% of the upstream's rate: {refused}"
    allowance = KEYS * RATE * (1 + elapsed)  # each key's burst, then its rate for the run
    print(f"{backend} {mode}: {admitted} admitted in {elapsed:.2f} s, {admitted / allowance:.1%} of the allowance")
    assert admitted >= 0.9 * allowance, f"used {admitted / allowance:.1%} of the upstream's allowance"
