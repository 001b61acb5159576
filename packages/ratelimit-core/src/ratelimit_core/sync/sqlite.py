"""A SQLite store for threads: the async ``SqliteStore``'s file and transactions, one connection per thread."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ratelimit_core.decision import Decision
from ratelimit_core.notes import check_note
from ratelimit_core.policy import Policy
from ratelimit_core.sqlite import SqliteCore, capped
from ratelimit_core.sqlite_file import connect
from ratelimit_core.sqlite_rows import Op

__all__ = ["SqliteStore"]


class SqliteStore(SqliteCore):
    """Limiter state in one SQLite file, shared by the processes of a host and their threads.

    The same file, layout and decisions as :class:`ratelimit_core.SqliteStore`
    (see it for the arguments): an async app and its sync workers on one file
    share one limit. Each thread gets a connection of its own on first use. A
    busy database (another process writing) is retried after short sleeps of
    the calling thread, within ``timeout``, then is a ``StoreError``.
    """

    __slots__ = ("_holders", "_local", "_opened")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_keys: int = 100_000,
        timeout: float = 0.25,
        clock: Callable[[], float] | None = None,
        mode: int = 0o600,
    ) -> None:
        super().__init__(path, max_keys=max_keys, timeout=timeout, clock=clock, mode=mode)
        self._local = threading.local()
        self._local.held = _Held(self._con)  # the first connection is the making thread's
        # The other threads' connections, each closed when its thread ends (its local goes) or at close():
        # a server that makes a thread per request does not pile up connections.
        self._holders: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._opened = threading.Lock()

    def close(self) -> None:
        """Close every thread's connection (the file and its states stay), after a last checkpoint."""
        with self._opened:
            holders = list(self._holders)
        for held in holders:
            _close(held.con)
        super().close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            con = connect(self._settings.path)
            held = self._local.held = _Held(con)
            weakref.finalize(held, _close, con)
            with self._opened:
                self._holders.add(held)
        return held.con

    # -- the Store contract ----------------------------------------------------------

    def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        decision: Decision = self._run(policy, key, Op("hit", cost))
        return decision

    def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        decision: Decision = self._run(policy, key, Op("peek", cost))
        return decision

    def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        decision: Decision = self._run(policy, key, Op("charge", cost))
        return decision

    def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        decision: Decision = self._run(policy, key, Op("refund", cost, until=until))
        return decision

    def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        reserved: tuple[Decision, tuple[int, ...]] = self._run(policy, key, Op("reserve", cost))
        return reserved

    def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        self._run(policy, key, Op("reset", 0))

    def block(self, policy: Policy, key: str, duration: int) -> int:
        """See :meth:`ratelimit_core.store.Blocking.block`."""
        lasts: int = self._run(policy, key, Op("block", duration))
        return lasts

    def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """See :meth:`ratelimit_core.store.Noting.write_note`."""
        check_note(text, ttl)
        self._run(policy, key, Op("write_note", ttl, text=text))

    def read_note(self, policy: Policy, key: str) -> bytes | None:
        """See :meth:`ratelimit_core.store.Noting.read_note`."""
        note: bytes | None = self._run(policy, key, Op("read_note", 0))
        return note

    def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        decision: Decision = self._run(capped(policy), key, Op("acquire", cost, holder))
        return decision

    def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        self._run(capped(policy), key, Op("release", 0, holder))

    def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        return bool(self._run(capped(policy), key, Op("renew", 0, holder)))

    def _run(self, policy: Policy, key: str, op: Op) -> Any:
        """One transaction, retried after short sleeps of this thread while another process holds the database."""
        row_key, delays = self._attempts(key)
        while True:
            done, answer = self._try(policy, row_key, op, delays)
            if done:
                return answer
            time.sleep(answer)


class _Held:
    """One thread's connection, in its ``threading.local``: gone with the thread."""

    __slots__ = ("__weakref__", "con")

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con


def _close(con: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        con.close()
