"""Real HTTP for the load tests: uvicorn with several workers, and a small keep-alive client.

The client speaks just enough HTTP/1.1 (GET, keep-alive, Content-Length
bodies) to drive thousands of requests a second from one process on this
machine, where a general client is too slow to finish before a token bucket
refills.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Response", "blast", "uvicorn"]

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Response:
    at: float  # monotonic seconds when the answer arrived
    client: str  # the X-Client it was sent with
    status: int
    headers: dict[str, str]


@contextmanager
def uvicorn(port: int, workers: int, env: dict[str, str], log: Path, app: str = "load_app:app") -> Iterator[None]:
    """``app`` (from this folder) under uvicorn with ``workers`` processes on a loopback port, until the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE),
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                "--log-level", "info", "--no-access-log",
            ],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while log.read_text().count("Application startup complete") < workers:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{log.read_text()}")
                time.sleep(0.05)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def blast(
    port: int,
    path: str,
    clients: Callable[[int], str],
    *,
    total: int | None = None,
    until: float | None = None,
    connections: int = 100,
) -> list[Response]:
    """Send ``total`` requests (or keep sending until monotonic ``until``) over ``connections``.

    Request ``i`` carries ``X-Client: clients(i)``. Every answer is read and
    returned; none is left in flight when this returns.
    """
    if (total is None) == (until is None):
        raise ValueError("give total or until")
    issued = 0
    out: list[Response] = []

    def next_index() -> int | None:
        nonlocal issued
        if (total is not None and issued >= total) or (until is not None and time.monotonic() >= until):
            return None
        issued += 1
        return issued - 1

    async def one_connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while (i := next_index()) is not None:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                client = clients(i)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: load\r\nX-Client: {client}\r\n\r\n".encode())
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                headers = {}
                for line in head[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                out.append(Response(time.monotonic(), client, int(head[0].split()[1]), headers))
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()
                await writer.wait_closed()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return out
