"""Fixtures for the integration tests: real servers on two engines, and one table of every store.

``BACKENDS`` is every store once, each with its mark: a cross-store suite takes
``store_for`` (a factory of the store under test, on a given clock) and runs on
each; ``-m "not redis"`` or ``-m sqlite`` picks. ``engine`` (``redis`` or
``valkey``, marked so) runs a Redis-specific test on both engines, through
``redis_url``, ``redis``, ``own_redis``, ``redis_cluster`` and
``cluster_client``; ``redis7_url`` is Redis alone, for tests about something
other than the server. The servers are :class:`servers.Servers`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient
from servers import RedisCluster_, RedisServer, SentinelSetup, Servers, require

from ratelimit_core import MemoryStore, SqliteStore, Store
from ratelimit_redis import RedisStore

__all__ = ["BACKENDS", "OTHERS", "StoreFor", "backends"]

#: Makes the store under test, deciding on the given clock (seconds).
StoreFor = Callable[[Callable[[], float]], Store]

#: Every store, once, with its mark.
BACKENDS = [
    pytest.param("memory", marks=pytest.mark.memory, id="memory"),
    pytest.param("sqlite", marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    pytest.param("valkey", marks=pytest.mark.valkey, id="valkey"),
    pytest.param("redis-cluster", marks=[pytest.mark.redis, pytest.mark.cluster], id="redis-cluster"),
    pytest.param("valkey-cluster", marks=[pytest.mark.valkey, pytest.mark.cluster], id="valkey-cluster"),
]
#: Every store but MemoryStore: what is compared with it.
OTHERS = BACKENDS[1:]


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    started = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def store_for(request: pytest.FixtureRequest, servers: Servers, tmp_path: Path) -> AsyncIterator[StoreFor]:
    """The store of the test's backend (``request.param``), made on a clock; closed at the test's end."""
    backend: str = request.param
    made: list[Store] = []
    clients: list[Redis | ClusterClient] = []

    def make(clock: Callable[[], float]) -> Store:
        if backend == "memory":
            store: Store = MemoryStore(clock=clock)
        elif backend == "sqlite":
            store = SqliteStore(tmp_path / f"{uuid.uuid4().hex}.db", clock=clock)
        else:
            store = RedisStore(clients[0], clock=clock, timeout=5)
        made.append(store)
        return store

    engine, _, cluster = backend.partition("-")
    if cluster:
        client: Redis | ClusterClient = ClusterClient(host="127.0.0.1", port=servers.cluster(engine).ports[0])
        await client.initialize()
        clients.append(client)
    elif backend in ("redis", "valkey"):
        clients.append(Redis.from_url(servers.url(engine)))
    try:
        yield make
    finally:
        for store in made:
            if isinstance(store, SqliteStore):
                store.close()
        for each in clients:
            await each.aclose()


def backends(*names: str) -> list[object]:
    """The rows of :data:`BACKENDS` with these ids, for a suite that runs on some stores only."""
    return [row for row in BACKENDS if row.id in names]


@pytest.fixture(autouse=True)
async def close_stores(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Every RedisStore a test makes is closed when the test ends, as an app closes it on shutdown."""
    made: list[RedisStore] = []
    init = RedisStore.__init__

    def tracked(self: RedisStore, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(RedisStore, "__init__", tracked)
    yield
    for store in made:
        await store.aclose()


@pytest.fixture(
    scope="session",
    params=[pytest.param("redis", marks=pytest.mark.redis), pytest.param("valkey", marks=pytest.mark.valkey)],
)
def engine(request: pytest.FixtureRequest) -> str:
    """The server engine a test runs on: every test that uses a server runs on both."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def redis_url(engine: str, servers: Servers) -> str:
    """A server of ``engine`` shared by the session."""
    return servers.url(engine)


@pytest.fixture(scope="session")
def redis7_url(servers: Servers) -> str:
    """A Redis 7 server shared by the session, for tests about something other than the server."""
    return servers.url("redis")


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
def own_redis(engine: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A server of ``engine`` for this test alone: faults do not reach the others."""
    require(engine=engine)
    server = RedisServer(tmp_path, engine=engine).start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.resume()
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(engine: str, servers: Servers) -> RedisCluster_:
    """Six nodes of ``engine`` made a cluster by ``redis-cli --cluster create``."""
    return servers.cluster(engine)


@pytest.fixture
async def cluster_client(redis_cluster: RedisCluster_) -> AsyncIterator[ClusterClient]:
    client = ClusterClient(host="127.0.0.1", port=redis_cluster.ports[0])
    await client.initialize()
    await client.flushall(target_nodes=ClusterClient.PRIMARIES)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    require("redis-cli")
    setup = SentinelSetup(tmp_path).start()
    try:
        yield setup
    finally:
        setup.stop()
