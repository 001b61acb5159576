"""Cluster routing against two scripted primaries: each slot's node, MOVED, and reading the slot table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from scripted_redis import HANG_UP, RespServer, Start

from ratelimit_redis import cluster
from ratelimit_redis.channel import Channel
from ratelimit_redis.cluster import ClusterServers
from ratelimit_redis.server import Server
from ratelimit_redis.wire import pack, pack_prefix

HALF = 8191  # node A holds slots 0..8191, node B the rest


def named(name: bytes) -> Any:
    """A node that answers every command with its own name."""
    return lambda _: b"$1\r\n%s\r\n" % name


def make(name: str, connection_class: Any, kwargs: dict[str, Any]) -> Server:
    factory = lambda: connection_class(**{**kwargs, "socket_timeout": None})  # noqa: E731
    channels = (
        Channel(factory, address=name, timeout=5.0, connect_timeout=5.0),
        Channel(factory, address=name, timeout=5.0, connect_timeout=5.0),
    )
    return Server(channels, None)


@pytest.fixture
async def nodes(resp_server: Start) -> tuple[RespServer, RespServer]:
    a, b = await resp_server(named(b"A")), await resp_server(named(b"B"))
    for node in (a, b):
        node.slots = [(0, HALF, a), (HALF + 1, 16383, b)]
    return a, b


@pytest.fixture
async def router(nodes: tuple[RespServer, RespServer]) -> AsyncIterator[tuple[ClusterServers, RedisCluster]]:
    client = RedisCluster(host="127.0.0.1", port=nodes[0].port)
    servers = ClusterServers(client, make, connect_timeout=5.0)
    yield servers, client
    await servers.aclose()
    await client.aclose()


def key_on(client: RedisCluster, node: str, tag: str = "") -> bytes:
    """A key (with a hash tag, as every decision's keys have) whose slot is on node ``"A"`` or ``"B"``."""
    for i in range(10_000):
        key = b"{%s%d}:state" % (tag.encode(), i)
        if (client.keyslot(key) <= HALF) == (node == "A"):
            return key
    raise AssertionError("no such key")  # pragma: no cover


def get(key: bytes) -> bytes:
    return pack(2, pack_prefix(b"GET"), [key])


async def test_each_key_goes_to_the_primary_of_its_slot(
    router: tuple[ClusterServers, RedisCluster], nodes: tuple[RespServer, RespServer]
) -> None:
    servers, client = router
    a, b = nodes
    on_a, on_b = key_on(client, "A"), key_on(client, "B")
    assert await servers.run(on_a, get(on_a)) == b"A"
    assert await servers.run(on_b, get(on_b)) == b"B"
    assert a.calls(b"GET") == [[b"GET", on_a]]
    assert b.calls(b"GET") == [[b"GET", on_b]]


async def test_the_slot_table_is_read_once_however_many_first_calls_ask(
    router: tuple[ClusterServers, RedisCluster], nodes: tuple[RespServer, RespServer]
) -> None:
    servers, client = router
    keys = [key_on(client, "A", str(i)) for i in range(10)]
    assert await asyncio.gather(*(servers.run(key, get(key)) for key in keys)) == [b"A"] * 10
    assert sum(node.slot_reads for node in nodes) == 1


async def test_moved_is_believed_at_once_and_kept_while_the_table_lags(
    router: tuple[ClusterServers, RedisCluster], nodes: tuple[RespServer, RespServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "_REFRESH_EVERY", 0.0)
    servers, client = router
    a, b = nodes
    key = key_on(client, "A")
    assert await servers.run(key, get(key)) == b"A"
    a.answer = lambda _: b"-MOVED %d %s\r\n" % (client.keyslot(key), b.address.encode())
    assert await servers.run(key, get(key)) == b"B", "the same call goes again, to the node MOVED names"
    async with asyncio.timeout(2):
        while servers._refreshing is not None:  # noqa: ASYNC110 - done, in the background
            await asyncio.sleep(0.001)
    assert a.slot_reads + b.slot_reads == 2, "MOVED started a refresh"
    moved_calls = len(a.calls(b"GET"))
    for _ in range(3):
        assert await servers.run(key, get(key)) == b"B"
    assert len(a.calls(b"GET")) == moved_calls, "the table still names A: MOVED is believed over it"


async def test_a_failing_node_refreshes_the_table_at_most_every_quarter_second(
    router: tuple[ClusterServers, RedisCluster], nodes: tuple[RespServer, RespServer]
) -> None:
    servers, client = router
    a, b = nodes
    on_a, on_b = key_on(client, "A"), key_on(client, "B")
    assert await servers.run(on_b, get(on_b)) == b"B"
    await asyncio.sleep(cluster._REFRESH_EVERY)  # the first read is that long ago: a failure may refresh
    a.answer = lambda _: HANG_UP
    for _ in range(5):
        with pytest.raises(RedisConnectionError):
            await servers.run(on_a, get(on_a))
    await asyncio.sleep(0.01)
    assert a.slot_reads + b.slot_reads == 2, "the first read and one refresh"
    assert await servers.run(on_b, get(on_b)) == b"B", "the other primary answers on"
