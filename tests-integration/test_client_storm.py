"""A 429 storm across processes: one process is told ``Retry-After: 2``; none of the four sends for that key
until the pause ends (the block is on the shared store, SQLite or Redis), and all go on after it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from http_load import uvicorn
from servers import free_port

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).parent


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_pause_told_to_one_process_holds_them_all(backend: str, tmp_path: Path, redis7_url: str) -> None:
    port = free_port()
    where = str(tmp_path / "client.db") if backend == "sqlite" else redis7_url
    if backend == "redis":
        import redis  # noqa: PLC0415

        redis.Redis.from_url(redis7_url).flushdb()
    with uvicorn(port, 1, {}, tmp_path / "uvicorn.log", app="storm_upstream:app"):
        start = time.time() + 3
        # Process 0 asks first, alone; the others join half a second later with five tasks each.
        runs = [("0", start, 4.5, 1), *((str(p), start + 0.5, 4.0, 5) for p in (1, 2, 3))]
        processes = [
            subprocess.Popen(
                [sys.executable, str(HERE / "storm_client.py"), str(port), where, p, str(s), str(d), str(t)]
            )
            for p, s, d, t in runs
        ]
        for process in processes:
            assert process.wait(timeout=60) == 0
        record = httpx.get(f"http://127.0.0.1:{port}/log").json()
    (refused,) = record["refused"]
    during = [(p, t - refused) for p, t in record["seen"] if refused < t < refused + 2]
    assert not during, f"sent while the key was paused: {during}"
    after = {p for p, t in record["seen"] if t >= refused + 2}
    assert after == {"0", "1", "2", "3"}, f"every process went on once the pause ended: {sorted(after)}"
    counts = {p: sum(q == p for q, _ in record["seen"]) for p in "0123"}
    print(f"{backend}: {counts} requests by process, none in the 2 s pause, every process after it")
