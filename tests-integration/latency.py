"""A loopback TCP proxy that delays each direction, to put a server "far away" in tests.

It runs its own event loop in a thread, so the test's loop (and whatever
blocks it) never slows the proxy. Bytes keep their order; each chunk is
forwarded ``delay`` seconds after it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

__all__ = ["delayed"]


class _Proxy:
    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.handlers: set[asyncio.Task[None]] = set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                await w.wait_closed()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                if dst.is_closing():
                    break
                dst.write(data)
                with contextlib.suppress(ConnectionError):
                    await dst.drain()

        sender = loop.create_task(forward())
        try:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    queue.put_nowait((loop.time() + self.delay, data))
        finally:
            queue.put_nowait((0.0, b""))
            with contextlib.suppress(Exception):
                await sender
            dst.close()

    def stop(self) -> None:
        async def close() -> None:
            if self.server is not None:
                self.server.close()
            for writer in self.writers:  # every pipe then ends by itself
                writer.close()
            await asyncio.wait_for(asyncio.gather(*self.handlers, return_exceptions=True), timeout=5)
            if self.server is not None:
                await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@contextlib.contextmanager
def delayed(target_port: int, delay: float) -> Iterator[int]:
    """A port on which ``target_port`` answers ``delay`` seconds later each way."""
    proxy = _Proxy(target_port, delay)
    proxy.thread.start()
    proxy.ready.wait(timeout=5)
    try:
        yield proxy.port
    finally:
        proxy.stop()
