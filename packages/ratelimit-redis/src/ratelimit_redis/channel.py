"""One private connection to one Redis server, shared by every decision.

Commands are queued by their callers and written by one writer task: all
that was queued in one turn of the event loop goes out in one write. One
reader task reads the replies in order and hands each to its caller. So:

* concurrent decisions pipeline on one connection, with no pool round per call;
* a command waits as long as the server keeps answering: it fails only when
  the server has answered nothing on the connection for ``timeout`` since it
  was written (or since the last reply, if that came later). Its own queue of
  commands ahead of it never fails a decision, a stalled server fails them
  all in ``timeout``, and the check runs after the replies that had already
  arrived were read: a reply that came back while the event loop was busy
  elsewhere is on time;
* a caller that gives up (its budget ran out, or it was cancelled) leaves the
  connection as it is: its reply is read and dropped when it comes;
* connecting (TCP, TLS, AUTH, ``HELLO``) runs once, in a task of its own,
  bounded by ``connect_timeout`` and never charged to a decision's budget;
* when the connection breaks, every waiting caller is told at once, and the
  next call connects afresh: a dead connection is never used twice.

The connection is built by ``factory`` (from the user's client settings) but
never taken from the client's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

__all__ = ["Channel"]


class _Write:
    """Commands that went out in one write, and the one timer that bounds them."""

    __slots__ = ("at", "futures", "left", "timer")

    def __init__(self, futures: list[asyncio.Future[Any]], at: float) -> None:
        self.futures = futures
        self.at = at  # loop time when written
        self.left = len(futures)  # replies still to come
        self.timer: asyncio.TimerHandle | None = None


class Channel:
    """A multiplexed connection to one server; see the module's docstring.

    Args:
        factory: Makes a new, unconnected redis-py connection.
        address: How messages name the server (``"host:port"``).
        timeout: Seconds the server may answer nothing while a command waits, or ``None``.
        connect_timeout: Seconds that connecting (and ``prepare``) may take.
        prepare: Run on each new connection before any command, within ``connect_timeout``.
    """

    __slots__ = (
        "_address",
        "_conn",
        "_connect_timeout",
        "_connecting",
        "_factory",
        "_last_reply",
        "_loop",
        "_on_batch",
        "_out",
        "_prepare",
        "_tasks",
        "_timeout",
        "_waiting",
        "_wake",
    )

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        address: str,
        timeout: float | None,
        connect_timeout: float,
        prepare: Callable[[Any], Awaitable[None]] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._factory = factory
        self._on_batch = on_batch
        self._address = address
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._prepare = prepare
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Any = None
        self._connecting: asyncio.Task[Any] | None = None
        self._tasks: tuple[asyncio.Task[None], ...] = ()  # the reader and the writer
        self._waiting: deque[tuple[asyncio.Future[Any], _Write]] = deque()  # written, in order
        self._out: list[tuple[bytes, asyncio.Future[Any]]] = []  # queued, not yet written
        self._wake: asyncio.Future[None] | None = None  # the idle writer waits on it
        self._last_reply = 0.0  # loop time of the last reply read

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None else "connecting" if self._connecting else "idle"
        return f"Channel({self._address}, {state}, waiting={len(self._waiting)}, queued={len(self._out)})"

    @property
    def address(self) -> str:
        return self._address

    @property
    def ready(self) -> bool:
        """Connected, on the running event loop: a call goes out without waiting for set-up."""
        return self._conn is not None and self._loop is asyncio.get_running_loop()

    def connect_soon(self) -> None:
        """Start connecting in the background, unless that is under way or done."""
        if not self.ready and self._connecting is None:
            self._start_connecting()

    @property
    def load(self) -> int:
        """Commands queued or written and not yet answered."""
        return len(self._waiting) + len(self._out)

    async def call(self, command: bytes) -> Any:
        """Send one packed command and return its reply.

        Raises:
            ResponseError: the server answered with an error.
            TimeoutError: the server answered nothing for ``timeout`` while the
                command waited, or no connection within ``connect_timeout``.
            ConnectionError: the connection could not be made or was lost.
        """
        if self._conn is None or self._loop is not asyncio.get_running_loop():
            await self._connected()
            if self._conn is None:
                raise RedisConnectionError(f"lost the connection to redis at {self._address} as it was made")
        loop = self._loop
        assert loop is not None  # noqa: S101 - set by _connected
        future: asyncio.Future[Any] = loop.create_future()
        self._out.append((command, future))
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return await future

    async def aclose(self) -> None:
        """Close the connection; callers still waiting get a ``ConnectionError``."""
        conn, self._conn = self._conn, None
        tasks, self._tasks = self._tasks, ()
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        for task in tasks:
            task.cancel()
        self._fail(f"the connection to redis at {self._address} was closed by the store", None)
        if conn is not None:
            await conn.disconnect(nowait=True)

    # -- connecting -------------------------------------------------------------------

    async def _connected(self) -> None:
        task = self._connecting
        if task is None or self._loop is not asyncio.get_running_loop():
            task = self._start_connecting()
        # Shielded: a caller that gives up does not stop the others' connection.
        await asyncio.shield(task)

    def _start_connecting(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop: nothing of the old one is usable
            self._conn, self._tasks, self._connecting = None, (), None
            self._waiting.clear()
            self._out.clear()
            self._loop = loop
        task = self._connecting = loop.create_task(self._open())
        task.add_done_callback(self._opened)
        return task

    def _opened(self, task: asyncio.Task[Any]) -> None:
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone

    async def _open(self) -> None:
        conn = self._factory()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await conn.connect()
                if self._prepare is not None:
                    await self._prepare(conn)
        except TimeoutError:
            await conn.disconnect(nowait=True)
            raise TimeoutError(
                f"could not connect to redis at {self._address} within {self._connect_timeout:g} s"
            ) from None
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        loop = asyncio.get_running_loop()
        self._conn = conn
        self._tasks = (loop.create_task(self._read(conn)), loop.create_task(self._write(conn)))

    # -- the writer and the reader ------------------------------------------------------

    async def _write(self, conn: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._out:
                    self._wake = loop.create_future()
                    await self._wake
                queued, self._out = self._out, []
                live = [(command, future) for command, future in queued if not future.done()]
                if not live:
                    continue
                if self._on_batch is not None:
                    self._on_batch(len(live))
                write = _Write([future for _, future in live], loop.time())
                self._waiting.extend((future, write) for future in write.futures)
                await conn.send_packed_command([command for command, _ in live], check_health=False)
                if self._timeout is not None and write.left:
                    write.at = loop.time()
                    write.timer = loop.call_at(write.at + self._timeout, self._late, write)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken write loses the connection
            self._lost(conn, exc)
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    async def _read(self, conn: Any) -> None:
        waiting = self._waiting
        clock = asyncio.get_running_loop().time
        try:
            while True:
                try:
                    reply = await conn.read_response(disable_decoding=True, timeout=math.inf)
                except ResponseError as exc:
                    reply = exc
                if not waiting:
                    raise RedisConnectionError(f"redis at {self._address} sent a reply nobody asked for")
                future, write = waiting.popleft()
                self._last_reply = clock()
                write.left -= 1
                if not write.left and write.timer is not None:
                    write.timer.cancel()
                if not future.done():
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except asyncio.CancelledError:
            if self._conn is conn:  # the loop is shutting down without aclose()
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken read loses the connection
            self._lost(conn, exc)
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    def _lost(self, conn: Any, exc: BaseException) -> None:
        """The connection broke: tell every caller now, and connect afresh on the next call."""
        if self._conn is not conn:
            return
        self._conn = None
        tasks, self._tasks = self._tasks, ()
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        self._fail(f"lost the connection to redis at {self._address}: {exc}", exc)

    def _fail(self, message: str, cause: BaseException | None) -> None:
        """Every caller still waiting gets a ``ConnectionError`` (one each) saying ``message``."""
        waiting = [future for future, _ in self._waiting] + [future for _, future in self._out]
        for _, write in self._waiting:
            if write.timer is not None:
                write.timer.cancel()
        self._waiting.clear()
        self._out.clear()
        for future in waiting:
            if not future.done():
                error = RedisConnectionError(message)
                error.__cause__ = cause
                future.set_exception(error)

    # -- the time budget ----------------------------------------------------------------

    def _late(self, write: _Write) -> None:
        # The loop runs I/O callbacks before timers in each turn, and wakes the
        # reader in the next one: checking one turn later lets the reader take
        # every reply that had arrived by the deadline first.
        assert self._loop is not None  # noqa: S101
        self._loop.call_soon(self._expire, write)

    def _expire(self, write: _Write) -> None:
        if not write.left:
            return
        assert self._loop is not None  # noqa: S101
        assert self._timeout is not None  # noqa: S101 - no timer without a timeout
        since = max(write.at, self._last_reply)
        if self._loop.time() < since + self._timeout:  # the server is answering: wait on
            write.timer = self._loop.call_at(since + self._timeout, self._late, write)
            return
        message = (
            f"redis at {self._address} answered nothing for {self._timeout * 1000:g} ms while the decision waited on it"
        )
        for future in write.futures:
            if not future.done():
                future.set_exception(TimeoutError(message))
