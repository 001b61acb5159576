"""The demo: a small FastAPI app behind RateLimitMiddleware, under uvicorn, on real HTTP.

``hatch run demo`` starts the app on a free loopback port, fires a burst of
requests at it through an HTTP client, prints what came back, and exits.
``hatch run demo --serve`` keeps serving (try ``curl -i`` on the printed URL).
State lives in memory, or in Redis when ``REDIS_URL`` is set.

``hatch run demo --workers 2`` runs the app under uvicorn with two worker
processes sharing a ``SqliteStore`` (or Redis, with ``REDIS_URL``): the burst
alternates between one connection to each worker (the ``worker`` column), and
meets the same limit as with one process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from ratelimit_asgi import RateLimitMiddleware
from ratelimit_core import Limiter, SqliteStore, Store
from ratelimit_redis import RedisStore

#: Set by ``--workers``: the SQLite file the worker processes share.
SQLITE_PATH = "RATELIMIT_DEMO_SQLITE"


def make_store() -> Store | None:
    url = os.environ.get("REDIS_URL")
    if url:
        from redis.asyncio import Redis  # noqa: PLC0415 - only when asked for

        return RedisStore(Redis.from_url(url))  # the defaults
    if SQLITE_PATH in os.environ:
        return SqliteStore(os.environ[SQLITE_PATH])
    return None  # the Limiter's default: a MemoryStore


def make_app(store: Store | None) -> FastAPI:
    app = FastAPI(title="ratelimit demo")
    limiter = Limiter("5/second; 30/minute", name="demo", store=store)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, exclude_routes=["/health"])

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "worker": str(os.getpid())}

    return app


def create_app() -> FastAPI:
    """The app as each uvicorn worker process makes it (``--factory``)."""
    return make_app(make_store())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def connect_to_each(base: str, workers: int, per_worker: int) -> list[tuple[str, httpx.AsyncClient]]:
    """``per_worker`` keep-alive connections to each worker process, the workers taking turns in the list.

    New connections are opened until every worker has answered on enough of them.
    """
    clients: dict[str, list[httpx.AsyncClient]] = {}
    spare: list[httpx.AsyncClient] = []
    for _ in range(100 * workers * per_worker):
        client = httpx.AsyncClient(base_url=base)
        worker = (await client.get("/health")).json()["worker"]
        (spare if len(clients.get(worker, ())) == per_worker else clients.setdefault(worker, [])).append(client)
        if len(clients) == workers and all(len(held) == per_worker for held in clients.values()):
            break
    for client in spare:
        await client.aclose()
    turns = [(worker, held[i]) for i in range(per_worker) for worker, held in clients.items() if i < len(held)]
    if len(clients) < workers:
        for _, client in turns:
            await client.aclose()
        raise RuntimeError(f"only {len(clients)} of {workers} workers answered")
    return turns


async def burst(base: str, workers: int = 1) -> None:
    """Eight requests (five fit), then three more a second later.

    With one process they go one after another; with several, all eight at once,
    each worker getting its share, as a burst reaches a multi-process server.
    """
    connections = await connect_to_each(base, workers, 1 if workers == 1 else 8 // workers + 1)
    started = time.monotonic()
    if workers > 1:
        print(
            "The eight burst requests go at once, each worker taking its share: rows print as answers come,\n"
            "not in request order; 'worker' is the process (pid) that answered. Between them the workers\n"
            "admit five, the shared limit, whichever answered first.\n"
        )
    print(f"{'t (s)':>6}  {'request':<10} {'status':>6}  {'worker':>7}  {'Retry-After':>11}  RateLimit")

    async def request(label: str, worker: str, client: httpx.AsyncClient) -> None:
        response = await client.get("/hello")
        retry = response.headers.get("retry-after", "-")
        elapsed = time.monotonic() - started
        print(
            f"{elapsed:6.2f}  {label:<10} {response.status_code:>6}  {worker:>7}  {retry:>11}  "
            f"{response.headers['ratelimit']}"
        )

    try:
        labels = [f"burst {i + 1}" for i in range(8)]  # five fit in a second; the rest are told to wait
        if workers == 1:
            for label in labels:
                await request(label, *connections[0])
        else:
            await asyncio.gather(*(request(label, *connections[i]) for i, label in enumerate(labels)))
        await asyncio.sleep(1.0)  # five tokens come back
        for i in range(3):
            await request(f"later {i + 1}", *connections[i % len(connections)])
    finally:
        for _, client in connections:
            await client.aclose()


def describe(store: Store | None) -> str:
    if isinstance(store, RedisStore):
        return "Redis at " + os.environ["REDIS_URL"]
    if isinstance(store, SqliteStore):
        return f"SQLite at {os.environ[SQLITE_PATH]}"
    return "memory"


async def main(serve: bool) -> None:
    """One process: uvicorn serves the app on this event loop."""
    store = make_store()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(store), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    print(f"demo app on {base}/hello, 5 per second and 30 per minute per client, state in {describe(store)}\n")
    try:
        if serve:
            print(f"serving until Ctrl-C; try: curl -i {base}/hello")
            await serving
            return
        await burst(base)
    finally:
        server.should_exit = True
        await serving
        if isinstance(store, RedisStore):
            await store.aclose()  # the store's own connections; the client is closed with the process


def main_workers(serve: bool, workers: int) -> None:
    """Several processes: ``uvicorn --workers``, each worker with its own store on the shared state."""
    with tempfile.TemporaryDirectory(prefix="ratelimit-demo-") as folder:
        env = dict(os.environ)
        if "REDIS_URL" in env:
            where = f"Redis at {env['REDIS_URL']}"
        else:
            env[SQLITE_PATH] = str(Path(folder) / "limits.db")
            where = f"SQLite at {env[SQLITE_PATH]}"
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - this interpreter running uvicorn, no outside input
            [
                sys.executable, "-m", "uvicorn", "demo:create_app", "--factory",
                "--app-dir", str(Path(__file__).parent), "--workers", str(workers),
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            ],
            env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(until_healthy(base, server))
            print(
                f"demo app on {base}/hello under uvicorn with {workers} workers, 5 per second and 30 per minute "
                f"per client, state in {where}, shared by the workers\n"
            )
            if serve:
                print(f"serving until Ctrl-C; try: curl -i {base}/hello")
                server.wait()
                return
            asyncio.run(burst(base, workers))
        finally:
            server.terminate()
            server.wait(timeout=30)


async def until_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {server.returncode}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep serving instead of running the burst")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (several share SQLite)")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.workers == 1:
        asyncio.run(main(args.serve))
    else:
        main_workers(args.serve, args.workers)
