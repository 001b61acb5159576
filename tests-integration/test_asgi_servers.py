"""The middleware behind every ASGI server people run it on, in front of Starlette and of Django's handler.

Servers: uvicorn (h11 and httptools), hypercorn (HTTP/1.1, and HTTP/2 over TLS),
granian and daphne. Apps: ``servers_app.py``. For each pair, over real HTTP on
loopback: the header fields and a 429; a streamed response that holds a slot to
its last byte; an endpoint that raises under a cap, which frees its slot each
time; and (Starlette: Django's handler takes no WebSockets) a WebSocket whose
messages are limited, closed with code 4008 on every server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from servers import free_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ratelimit_asgi.middleware import RATE_LIMITED

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Served:
    name: str
    app: str
    base: str  # http(s)://127.0.0.1:port
    http2: bool
    ca: trustme.CA | None  # the authority of the server's certificate, for TLS

    def tls(self) -> ssl.SSLContext | None:
        """A context of its own for each client: httpx sets its ALPN protocols (h2) on the one it is given."""
        if self.ca is None:
            return None
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, http2=self.http2, verify=self.tls() or True, timeout=10)

    @property
    def ws(self) -> str:
        return self.base.replace("http", "ws", 1) + "/ws"


def command(server: str, target: str, port: int, cert: tuple[str, str]) -> list[str]:
    host = ["127.0.0.1", str(port)]
    if server.startswith("uvicorn"):
        parser = server.split("-")[1]
        return ["-m", "uvicorn", target, "--host", host[0], "--port", host[1], "--http", parser, "--ws", "websockets"]
    if server.startswith("hypercorn"):
        tls = ["--certfile", cert[0], "--keyfile", cert[1]] if server.endswith("h2") else []
        return ["-m", "hypercorn", target, "--bind", ":".join(host), *tls]
    if server == "granian":
        return ["-m", "granian", "--interface", "asgi", "--host", host[0], "--port", host[1], target]
    return ["-m", "daphne", "-b", host[0], "-p", host[1], target]


SERVERS = ["uvicorn-h11", "uvicorn-httptools", "hypercorn-h1", "hypercorn-h2", "granian", "daphne"]
APPS = ["starlette_app", "django_app"]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, tuple[str, str]]:
    """A throwaway certificate authority and a certificate for 127.0.0.1 (HTTP/2 is negotiated over TLS)."""
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return ca, (str(cert_path), str(key_path))


@pytest.fixture(scope="module", params=[(s, a) for s in SERVERS for a in APPS], ids=lambda p: f"{p[0]}-{p[1]}")
def served(
    request: pytest.FixtureRequest,
    authority: tuple[trustme.CA, tuple[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    server, app = request.param
    port = free_port()
    log = tmp_path_factory.mktemp(server) / "server.log"
    tls = server == "hypercorn-h2"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *command(server, f"servers_app:{app}", port, authority[1])],
            cwd=HERE,
            env={**os.environ, "PYTHONPATH": str(HERE)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{server} did not start:\n{log.read_text()}") from None
                    time.sleep(0.05)
            scheme = "https" if tls else "http"
            yield Served(server, app, f"{scheme}://127.0.0.1:{port}", tls, authority[0] if tls else None)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_fields_then_a_429(served: Served) -> None:
    async with served.client() as client:
        answers = [await client.get("/ok", headers={"x-user": "fields"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    if served.http2:
        assert {a.http_version for a in answers} == {"HTTP/2"}
    first = answers[0].headers
    assert first["ratelimit-policy"] == '"ok";q=3;w=60'
    assert first["ratelimit"].startswith('"ok";r=2;t=')
    assert (first["x-ratelimit-limit"], first["x-ratelimit-remaining"]) == ("3", "2")
    denied = answers[3]
    assert denied.headers["content-type"] == "application/problem+json"
    assert 1 <= int(denied.headers["retry-after"]) <= 60
    assert denied.json()["status"] == 429


async def test_a_stream_holds_its_slot_to_its_last_byte(served: Served) -> None:
    user = {"x-user": "stream"}
    async with served.client() as client, client.stream("GET", "/stream", headers=user) as streaming:
        assert streaming.status_code == 200
        chunks = streaming.aiter_bytes()
        first = await anext(chunks)
        assert first.startswith(b"chunk 0")
        assert (await client.get("/stream", headers=user)).status_code == 429, "the stream holds the slot"
        rest = b"".join([chunk async for chunk in chunks])
        assert (first + rest).count(b"chunk") == 4
    async with served.client() as client:
        assert (await client.get("/stream", headers=user)).status_code == 200, "freed at the last byte"


async def test_an_endpoint_that_raises_frees_its_slot_each_time(served: Served) -> None:
    """Back to back on one connection: Django's handler sends its 500 before its coroutine returns."""
    statuses = []
    client = served.client()
    try:
        for _ in range(3):
            try:
                answer = await client.get("/fails", headers={"x-user": "fails"})
            except (httpx.ReadError, httpx.RemoteProtocolError):  # the server closed the connection after a 500
                await client.aclose()
                client = served.client()
                answer = await client.get("/fails", headers={"x-user": "fails"})
            statuses.append(answer.status_code)
    finally:
        await client.aclose()
    assert statuses == [500, 500, 500], "a 429 here: a slot outlived its response"


async def test_websocket_messages_are_limited_and_closed_with_a_code_every_server_takes(served: Served) -> None:
    if served.app == "django_app":
        pytest.skip("Django's ASGI handler takes no WebSockets (Channels does)")
    async with connect(served.ws, additional_headers={"x-user": "ws"}, ssl=served.tls()) as socket_:
        for text in ("a", "b"):  # the handshake took one unit of three
            await socket_.send(text)
            assert await socket_.recv() == text
        await socket_.send("c")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket_.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == RATE_LIMITED, "Daphne refused 1008, and the client saw 1011"
