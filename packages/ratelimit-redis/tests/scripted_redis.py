"""A scripted RESP server on loopback, for the transport's unit tests.

The channel, the server pair and the cluster router are tested against a real
socket and redis-py's real connections; only the far end is scripted, so a
test can make it stall, answer out of turn, hang up or say ``MOVED`` exactly
when it needs to. What a real Redis does is tested in tests-integration.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

#: Answers one command (its arguments): RESP bytes to send, ``STALL`` to answer nothing, ``HANG_UP`` to close.
Answer = Callable[[list[bytes]], bytes | Awaitable[bytes]]
STALL = b""
HANG_UP = b"\x00hang up"


def ok(_: list[bytes]) -> bytes:
    return b"+OK\r\n"


class RespServer:
    """Reads RESP commands and answers each through ``answer``; records what it read.

    What redis-py sends as it connects (``HELLO``, ``CLIENT``, ``INFO``,
    ``COMMAND``) is answered here and not recorded. ``CLUSTER SLOTS`` is
    answered from ``slots``, when a test sets it: ``(first, last, node)``.
    """

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.commands: list[list[bytes]] = []  # every command read but the connection's set-up, in order
        self.slots: list[tuple[int, int, RespServer]] = []
        self.slot_reads = 0
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def calls(self, name: bytes) -> list[list[bytes]]:
        """The commands read named ``name`` (upper case), in order."""
        return [command for command in self.commands if command[0].upper() == name]

    async def start(self) -> RespServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def hang_up_all(self) -> None:
        """Close every client connection from the server's side."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def close(self) -> None:
        """Hang up, and let each connection's handler see the end of its stream and return."""
        await self.hang_up_all()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await self._answer_all(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer_all(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            command = await _read_command(reader)
            if command is None:
                return
            reply = self._setup(command)
            if reply is None:
                self.commands.append(command)
                answer = self.answer(command)
                reply = answer if isinstance(answer, bytes) else await answer
            if reply == HANG_UP:
                return
            if reply != STALL:
                writer.write(reply)
                await writer.drain()

    def _setup(self, command: list[bytes]) -> bytes | None:
        name = command[0].upper()
        if name == b"HELLO":  # redis-py 8 speaks RESP3
            return b"%%1\r\n$5\r\nproto\r\n:%s\r\n" % command[1]
        if name == b"CLIENT":
            return b"+OK\r\n"
        if name == b"INFO":  # redis-py 5 checks that cluster mode is on
            return b"$17\r\ncluster_enabled:1\r\n"
        if name == b"COMMAND":
            return b"*0\r\n"
        if command[:2] == [b"CLUSTER", b"SLOTS"]:
            self.slot_reads += 1
            rows = [
                b"*3\r\n:%d\r\n:%d\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$%d\r\n%s\r\n"
                % (first, last, node.port, len(node.address), node.address.encode())
                for first, last, node in self.slots
            ]
            return b"*%d\r\n%s" % (len(rows), b"".join(rows))
        return None


async def _read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
    header = await reader.readline()
    if not header:
        return None
    if not header.startswith(b"*"):
        raise AssertionError(f"not a RESP array: {header!r}")
    items = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        items.append((await reader.readexactly(size + 2))[:-2])
    return items


#: The ``resp_server`` fixture (conftest.py): ``await resp_server(answer)`` starts one.
Start = Callable[..., Awaitable[RespServer]]
