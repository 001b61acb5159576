"""One quota, two colours: an async app under uvicorn and a pool of sync worker processes spend it together.

The app (load_app.py, two uvicorn workers, the middleware on an async store)
and two worker processes of four threads each (``ratelimit_core.sync``, the
same limiter name, rate and algorithm, on the same Redis or SQLite file) hit
one key at once. Between them they admit exactly the limit; neither side alone
asks for it all (the sync side 240, the app 400 of 300), so both take part.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from http_load import blast, uvicorn
from servers import free_port

pytestmark = pytest.mark.timeout(120)

#: A sync worker process: four threads, each ``hits`` hits from ``start`` on; prints how many were admitted.
WORKER = """
import sys, threading, time
from ratelimit_core.sync import Limiter, SqliteStore
where, name, start, hits = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
if where.startswith("redis://"):
    from redis import Redis
    from ratelimit_redis.sync import RedisStore
    store = RedisStore(Redis.from_url(where, max_connections=8))
else:
    store = SqliteStore(where)
limiter = Limiter("300/hour", algorithm="fixed_window", name=name, store=store)
counts = []
def work():
    time.sleep(max(0.0, start - time.time()))
    counts.append(sum(limiter.hit("x-client:one").allowed for _ in range(hits)))
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sum(counts))
"""


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
async def test_an_async_app_and_sync_workers_admit_exactly_the_limit_between_them(
    backend: str, redis7_url: str, tmp_path: Path
) -> None:
    name = uuid.uuid4().hex[:8]
    where = redis7_url if backend == "redis" else str(tmp_path / "limits.db")
    env = {"LOAD_NAME": name, "LOAD_ROUTES": "/one=fixed_window@300/hour"}
    env["LOAD_REDIS_URL" if backend == "redis" else "LOAD_SQLITE_PATH"] = where
    port = free_port()
    with uvicorn(port, 2, env, tmp_path / "uvicorn.log"):
        start = time.time() + 1.5
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, where, f"{name}/one", str(start), "30"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        await asyncio.sleep(max(0.0, start - time.time()))
        responses = await blast(port, "/one/", lambda i: "one", total=400)
        sync_admitted = [int(worker.communicate(timeout=60)[0]) for worker in workers]
    http_admitted = sum(r.status == 200 for r in responses)
    assert {r.status for r in responses} <= {200, 429}
    assert http_admitted + sum(sync_admitted) == 300, (http_admitted, sync_admitted)
    assert http_admitted > 0, "the app took part"
    assert all(sync_admitted), f"every sync worker took part: {sync_admitted}"
    print(f"{backend}: HTTP {http_admitted} + sync {sync_admitted} = 300 of {400 + 240} asked")
