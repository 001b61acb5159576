"""One server's channel pair and breaker against a scripted server: which channel, NOSCRIPT, and failing fast."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import cluster
from redis.asyncio.connection import Connection
from redis.exceptions import AskError, NoScriptError
from redis.exceptions import ConnectionError as RedisConnectionError
from scripted_redis import HANG_UP, STALL, RespServer, Start

from ratelimit_core import StoreError
from ratelimit_redis.breaker import Breaker
from ratelimit_redis.channel import Channel
from ratelimit_redis.server import Server
from ratelimit_redis.wire import pack, pack_prefix

EVALSHA = pack(3, pack_prefix(b"EVALSHA", b"0" * 40), [b"0"])
EVAL = pack(3, pack_prefix(b"EVAL", b"return 7"), [b"0"])


def scripts(command: list[bytes]) -> bytes:
    """A server that has forgotten its scripts: ``EVALSHA`` is ``NOSCRIPT``, ``EVAL`` answers 7."""
    if command[0] == b"EVALSHA":
        return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
    return b":7\r\n"


#: What a cluster node's connections parse replies with: redis-py 5 reads ASK and MOVED only with its ClusterParser.
CLUSTER_PARSER = {"parser_class": cluster.ClusterParser} if hasattr(cluster, "ClusterParser") else {}


def server_of(scripted: RespServer, breaker: Breaker | None = None) -> Server:
    first, second = (
        Channel(
            lambda: Connection(host="127.0.0.1", port=scripted.port, socket_timeout=None, **CLUSTER_PARSER),
            address=scripted.address,
            timeout=5.0,
            connect_timeout=5.0,
        )
        for _ in range(2)
    )
    return Server((first, second), breaker)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_lone_caller_keeps_to_the_first_channel(resp_server: Start) -> None:
    scripted = await resp_server(scripts)
    server = server_of(scripted)
    for _ in range(20):
        assert await server.run(b"k", EVAL) == 7
    assert scripted.connections == 1
    await server.aclose()


async def test_overlapping_calls_bring_in_the_second_channel_once_it_is_ready(resp_server: Start) -> None:
    async def slow(command: list[bytes]) -> bytes:
        await asyncio.sleep(0.001)
        return b":7\r\n"

    scripted = await resp_server(slow)
    server = server_of(scripted)
    first, second = server.channels
    assert await server.run(b"k", EVAL) == 7
    assert await asyncio.gather(*(server.run(b"k", EVAL) for _ in range(20))) == [7] * 20
    assert scripted.connections == 2, "the overlap started the second connection"
    assert second.ready
    calls = [asyncio.ensure_future(server.run(b"k", EVAL)) for _ in range(20)]
    await asyncio.sleep(0)
    loads = [first.load, second.load]
    assert await asyncio.gather(*calls) == [7] * 20
    assert loads == [10, 10], "each call goes to the channel with fewer in flight"
    await server.aclose()


async def test_noscript_is_answered_by_the_script_itself_in_the_same_call(resp_server: Start) -> None:
    scripted = await resp_server(scripts)
    server = server_of(scripted)
    assert await server.run(b"k", EVALSHA, lambda: EVAL) == 7
    assert [command[0] for command in scripted.commands] == [b"EVALSHA", b"EVAL"]
    with pytest.raises(NoScriptError):
        await server.run(b"k", EVALSHA)
    await server.aclose()


async def test_the_breaker_opens_after_failures_in_a_row_and_then_fails_fast_without_io(resp_server: Start) -> None:
    scripted = await resp_server(lambda _: HANG_UP)
    clock = Clock()
    server = server_of(scripted, Breaker(2, 1.0, clock=clock))
    for _ in range(2):
        with pytest.raises(RedisConnectionError):
            await server.run(b"k", EVAL)
    seen = len(scripted.commands)
    with pytest.raises(StoreError, match=rf"redis at {scripted.address} is failing .*breaker is open"):
        await server.run(b"k", EVAL)
    assert len(scripted.commands) == seen, "an open breaker sends nothing"
    scripted.answer = scripts
    clock.now += 1.0
    assert await server.run(b"k", EVAL) == 7, "the probe goes after the cooldown"
    assert server.breaker is not None
    assert server.breaker.state == "closed"
    await server.aclose()


async def test_ask_is_an_answer_and_counts_no_failure(resp_server: Start) -> None:
    scripted = await resp_server(lambda _: b"-ASK 12182 127.0.0.1:1\r\n")
    server = server_of(scripted, Breaker(1, 60.0))
    for _ in range(3):
        with pytest.raises(AskError):
            await server.run(b"k", EVAL)
    assert server.breaker is not None
    assert server.breaker.state == "closed"
    await server.aclose()


async def test_a_probe_whose_caller_gives_up_lets_the_next_call_probe(resp_server: Start) -> None:
    scripted = await resp_server(lambda _: HANG_UP)
    clock = Clock()
    breaker = Breaker(1, 1.0, clock=clock)
    server = server_of(scripted, breaker)
    with pytest.raises(RedisConnectionError):
        await server.run(b"k", EVAL)
    clock.now += 1.0
    scripted.answer = lambda _: STALL
    probe = asyncio.ensure_future(server.run(b"k", EVAL))
    await asyncio.sleep(0)
    assert breaker.probing
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert breaker.allow(), "another probe may go"
    await server.aclose()
