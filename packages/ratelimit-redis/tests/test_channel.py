"""The channel against a scripted server: batching, replies in order, the time budget, and a broken connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from scripted_redis import HANG_UP, STALL, RespServer, Start

from ratelimit_redis.channel import Channel
from ratelimit_redis.wire import pack, pack_prefix


def echo(text: bytes) -> bytes:
    return pack(2, pack_prefix(b"ECHO"), [text])


def answer(command: list[bytes]) -> bytes:
    """``ECHO x`` answers ``x``; ``ECHO error`` an error, ``ECHO twice`` two replies, ``ECHO bye`` hangs up."""
    text = command[1]
    if text == b"error":
        return b"-ERR told to fail\r\n"
    if text == b"twice":
        return b"+one\r\n+two\r\n"
    if text == b"bye":
        return HANG_UP
    if text == b"stall":
        return STALL
    return b"$%d\r\n%s\r\n" % (len(text), text)


def channel_to(server: RespServer, **options: Any) -> Channel:
    options.setdefault("timeout", 5.0)
    options.setdefault("connect_timeout", 5.0)
    return Channel(
        lambda: Connection(host="127.0.0.1", port=server.port, socket_timeout=None), address=server.address, **options
    )


async def until(condition: Any) -> None:
    """Let the event loop run until ``condition()`` holds (bounded: 2 s)."""
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 - a state of the code under test, which offers no event
            await asyncio.sleep(0.001)


async def test_commands_queued_in_one_turn_go_out_in_one_write_and_each_caller_gets_its_own_reply(
    resp_server: Start,
) -> None:
    server = await resp_server(answer)
    batches: list[int] = []
    channel = channel_to(server, on_batch=batches.append)
    assert await channel.call(echo(b"first")) == b"first"
    texts = [b"k%d" % i for i in range(50)]
    replies = await asyncio.gather(*(channel.call(echo(text)) for text in texts))
    assert replies == texts
    assert batches == [1, 50]
    assert server.connections == 1
    await channel.aclose()


async def test_an_error_reply_fails_only_its_own_caller(resp_server: Start) -> None:
    channel = channel_to(await resp_server(answer))
    replies = await asyncio.gather(*(channel.call(echo(t)) for t in (b"a", b"error", b"c")), return_exceptions=True)
    assert replies[0] == b"a"
    assert isinstance(replies[1], ResponseError)
    assert "told to fail" in str(replies[1])
    assert replies[2] == b"c"
    await channel.aclose()


async def test_a_stalled_server_fails_the_waiting_command_within_the_timeout_naming_the_server(
    resp_server: Start,
) -> None:
    server = await resp_server(answer)
    channel = channel_to(server, timeout=0.05)
    await channel.call(echo(b"up"))
    with pytest.raises(TimeoutError, match=rf"redis at {server.address} answered nothing for 50 ms"):
        await channel.call(echo(b"stall"))
    await channel.aclose()


async def test_a_late_reply_is_dropped_and_the_next_caller_gets_its_own_on_the_same_connection(
    resp_server: Start,
) -> None:
    async def slow(command: list[bytes]) -> bytes:
        if command[1] == b"slow":
            await asyncio.sleep(0.2)
        return answer(command)

    server = await resp_server(slow)
    channel = channel_to(server, timeout=0.05)
    with pytest.raises(TimeoutError):
        await channel.call(echo(b"slow"))
    await until(lambda: "waiting=0" in repr(channel))  # the late reply came, and nobody took it
    assert await channel.call(echo(b"next")) == b"next"
    assert server.connections == 1
    await channel.aclose()


async def test_a_cancelled_caller_leaves_the_connection_and_the_others_replies_right(resp_server: Start) -> None:
    server = await resp_server(answer)
    channel = channel_to(server)
    await channel.call(echo(b"up"))
    gone = asyncio.ensure_future(channel.call(echo(b"gone")))
    kept = asyncio.ensure_future(channel.call(echo(b"kept")))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == b"kept"
    assert await channel.call(echo(b"after")) == b"after"
    assert server.connections == 1
    await channel.aclose()


async def test_a_hang_up_fails_every_waiter_at_once_and_the_next_call_connects_afresh(resp_server: Start) -> None:
    server = await resp_server(answer)
    channel = channel_to(server)
    await channel.call(echo(b"up"))
    replies = await asyncio.gather(*(channel.call(echo(t)) for t in (b"a", b"bye", b"c")), return_exceptions=True)
    assert replies[0] == b"a"
    for lost in replies[1:]:
        assert isinstance(lost, RedisConnectionError)
        assert f"lost the connection to redis at {server.address}" in str(lost)
    assert await channel.call(echo(b"again")) == b"again"
    assert server.connections == 2
    await channel.aclose()


async def test_a_reply_nobody_asked_for_drops_the_connection(resp_server: Start) -> None:
    server = await resp_server(answer)
    channel = channel_to(server)
    assert await channel.call(echo(b"twice")) == b"one"
    await until(lambda: "idle" in repr(channel))
    assert await channel.call(echo(b"fresh")) == b"fresh"
    assert server.connections == 2
    await channel.aclose()


async def test_connecting_is_bounded_by_connect_timeout_and_prepared_once_per_connection(resp_server: Start) -> None:
    server = await resp_server(answer)
    prepared: list[object] = []
    stuck = asyncio.Event()

    async def prepare(conn: object) -> None:
        prepared.append(conn)
        if len(prepared) == 1:
            await stuck.wait()

    channel = channel_to(server, connect_timeout=0.05, prepare=prepare)
    with pytest.raises(TimeoutError, match=rf"could not connect to redis at {server.address} within 0.05 s"):
        await channel.call(echo(b"never"))
    assert await channel.call(echo(b"a")) == b"a"
    assert await channel.call(echo(b"b")) == b"b"
    assert len(prepared) == 2
    await channel.aclose()


async def test_concurrent_first_calls_share_one_connection(resp_server: Start) -> None:
    server = await resp_server(answer)
    channel = channel_to(server)
    texts = [b"%d" % i for i in range(10)]
    assert await asyncio.gather(*(channel.call(echo(text)) for text in texts)) == texts
    assert server.connections == 1
    await channel.aclose()


async def test_closing_tells_every_waiter(resp_server: Start) -> None:
    server = await resp_server(answer)
    channel = channel_to(server)
    waiting = asyncio.ensure_future(channel.call(echo(b"stall")))
    await until(lambda: server.commands)
    await channel.aclose()
    with pytest.raises(RedisConnectionError, match="closed by the store"):
        await waiting
    assert "idle" in repr(channel)
