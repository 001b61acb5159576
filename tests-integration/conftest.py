"""Real servers for the integration tests.

``redis_url``: ``REDIS_URL`` when set; else a ``redis-server`` this session
starts on a free loopback port (no persistence) when the binary is on PATH;
else a testcontainers Redis when a Docker engine answers; else the Redis
tests are skipped, unless ``RATELIMIT_REQUIRE_REDIS=1`` (CI), which makes
that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` process of our own, to stop, pause and restart."""

    def __init__(self, workdir: Path, port: int | None = None, *extra: str) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def _docker_url() -> Iterator[str] | None:
    try:
        from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        return None
    try:
        container = RedisContainer("redis:7").start()
    except Exception:  # noqa: BLE001 - no Docker engine answering
        return None

    def urls() -> Iterator[str]:
        try:
            yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
        finally:
            container.stop()

    return urls()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    if shutil.which("redis-server"):
        server = RedisServer(tmp_path_factory.mktemp("redis")).start()
        try:
            yield server.url
        finally:
            server.stop()
        return
    docker = _docker_url()
    if docker is not None:
        yield from docker
        return
    reason = "no Redis: set REDIS_URL, put redis-server on PATH, or run a Docker engine"
    if os.environ.get("RATELIMIT_REQUIRE_REDIS") == "1":
        pytest.fail(reason + " (RATELIMIT_REQUIRE_REDIS=1)")
    pytest.skip(reason)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on the shared server, on an empty database."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server for this test alone: faults do not reach the others."""
    if shutil.which("redis-server") is None:
        if os.environ.get("RATELIMIT_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not on PATH (RATELIMIT_REQUIRE_REDIS=1)")
        pytest.skip("redis-server is not on PATH")
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.resume()
        server.stop()
