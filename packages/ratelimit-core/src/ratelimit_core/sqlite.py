"""A store in one SQLite file, shared by every process on a host: exact limits without a server.

Each decision is one short ``BEGIN IMMEDIATE`` transaction: read the key's
states, run the executor (the arithmetic ``MemoryStore`` runs), write, commit
(:mod:`ratelimit_core.sqlite_rows`). Every rate is written in that
transaction, or none is. The event loop is never held waiting for another
process: the connection does not wait on a lock (``busy_timeout`` 0); a busy
database is retried after short sleeps on the event loop, within
``timeout``, and then becomes a ``StoreError``.

SQLite finds a database's ``-wal`` and ``-shm`` files by name. A database file
deleted or replaced under running processes cannot be followed safely (a new
file would be paired with the old one's log), so each transaction first checks
that the path still names the file this process opened; when it does not, the
store fails every call with ``StoreError`` (the failure policy answers) until
the processes are restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ratelimit_core.decision import Decision
from ratelimit_core.errors import StoreError
from ratelimit_core.notes import check_note
from ratelimit_core.policy import Policy
from ratelimit_core.sqlite_file import Checkpoints, forget_all, identity, open_file
from ratelimit_core.sqlite_rows import Op, Transactions, attempts, digest, failure

__all__ = ["SqliteCore", "SqliteSettings", "SqliteStore", "capped"]


class SqliteSettings:
    """What both colours of ``SqliteStore`` take, checked once: the file, its bounds, its clock.

    Args: as :class:`SqliteStore`.
    """

    __slots__ = ("clock", "given_clock", "max_keys", "mode", "path", "timeout")

    def __init__(
        self, path: str | os.PathLike[str], max_keys: int, timeout: float, clock: Callable[[], float] | None, mode: int
    ) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be an int >= 1, got {max_keys!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        if isinstance(mode, bool) or not isinstance(mode, int) or mode & ~0o777 or mode & 0o600 != 0o600:
            raise ValueError(f"mode must be file permissions the owner can read and write (0o600), got {mode!r}")
        self.path = Path(path)
        self.max_keys = max_keys
        self.timeout = float(timeout)
        self.clock = clock
        self.given_clock = clock is not None
        self.mode = mode

    def now_us(self) -> int:
        """The store's time: the wall clock every process of the host shares, or the injected one."""
        if self.clock is None:
            return time.time_ns() // 1000
        return round(self.clock() * 1_000_000)

    def gone(self) -> StoreError:
        """What every call raises once the path names another file than the one opened, or none."""
        return StoreError(
            f"sqlite store: {self.path} was deleted or replaced under this process; "
            "it fails until every process using the file is restarted"
        )


class SqliteCore:
    """What both colours of ``SqliteStore`` hold and do: the file, its transactions, and one attempt at each."""

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "sqlite"

    __slots__ = ("_checkpoints", "_con", "_file", "_lost", "_settings", "_transactions")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_keys: int = 100_000,
        timeout: float = 0.25,
        clock: Callable[[], float] | None = None,
        mode: int = 0o600,
    ) -> None:
        self._settings = settings = SqliteSettings(path, max_keys, timeout, clock, mode)
        self._lost = False
        self._con, self._file = open_file(settings.path, mode)
        self._checkpoints = Checkpoints(settings.path)
        self._transactions = Transactions(max_keys, settings.now_us, self._checkpoints)

    def __repr__(self) -> str:
        settings = self._settings
        return f"SqliteStore({str(settings.path)!r}, max_keys={settings.max_keys}, timeout={settings.timeout!r})"

    def close(self) -> None:
        """Close this process's connections (the file and its states stay), after a last checkpoint."""
        with contextlib.suppress(sqlite3.Error):  # another process may hold the log: its checkpoint will do
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpoints.close()
        self._con.close()

    def _follow_clock(self, clock: Callable[[], float] | None) -> bool:
        """Read ``clock`` (``None``: the wall clock again); a store given a clock keeps it (``False``)."""
        if self._settings.given_clock:
            return False
        self._settings.clock = clock
        return True

    def _forget_all(self) -> None:
        """Forget every state in the file: every limiter's, every process's (for a test run's reset)."""
        forget_all(self._connection())

    def _connection(self) -> sqlite3.Connection:
        """The connection this call uses (the sync store keeps one per thread)."""
        return self._con

    def _attempts(self, key: str) -> tuple[bytes, Iterator[float]]:
        """The key's row key, and the delays between attempts (``StoreError`` once ``timeout`` is spent)."""
        if self._lost or identity(self._settings.path) != self._file:
            self._lost = True
            raise self._settings.gone()
        return digest(key), attempts(self._settings.path, self._settings.timeout)

    def _try(self, policy: Policy, row_key: bytes, op: Op, delays: Iterator[float]) -> tuple[bool, Any]:
        """One transaction: ``(True, its answer)``, or ``(False, the delay)`` while another process holds the file."""
        try:
            return True, self._transactions.run(self._connection(), policy, row_key, op)
        except sqlite3.Error as exc:
            error = failure(self._settings.path, exc)
            if error is not None:
                raise error from exc
            try:
                return False, next(delays)
            except StoreError as timed_out:
                raise timed_out from exc


class SqliteStore(SqliteCore):
    """Limiter state in one SQLite file (WAL mode), shared by the processes of a host.

    Args:
        path: The database file; its directory must exist and be writable.
            ``/dev/shm`` keeps it in memory (fast, gone at reboot); a disk path
            survives restarts.
        max_keys: At most this many states (one per rate and key), across every
            process: past it, expired states go first, then the least recently
            used (recency is kept to the second), so a denied key that a client
            keeps hitting is the last to go.
        timeout: Seconds a decision may wait for the database another process
            holds, retrying, before it fails with ``StoreError``.
        clock: A zero-argument callable returning seconds; default: the wall
            clock, which every process of the host shares.
        mode: The permissions of a database file the store creates (its
            ``-wal`` and ``-shm`` get the same): ``0o600`` by default, the
            owner only. Give ``0o660`` for workers of several users in one
            group. An existing file keeps its own.

    Keys are never stored: a row holds 128 bits of the key's BLAKE2b, so API
    keys and client addresses stay out of the file, and any ``str`` is a key.

    Raises:
        ValueError: a bad argument.
        StoreError: the file cannot be opened or written (a missing or read-only
            directory, a file that is not a database).
    """

    __slots__ = ()

    async def aclose(self) -> None:
        """:meth:`close`, for ``async with`` and shutdown hooks, once a running checkpoint has ended."""
        await asyncio.to_thread(self._checkpoints.wait)
        self.close()

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the Store contract ----------------------------------------------------------

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        decision: Decision = await self._run(policy, key, Op("hit", cost))
        return decision

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        decision: Decision = await self._run(policy, key, Op("peek", cost))
        return decision

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        decision: Decision = await self._run(policy, key, Op("charge", cost))
        return decision

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        decision: Decision = await self._run(policy, key, Op("refund", cost, until=until))
        return decision

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        reserved: tuple[Decision, tuple[int, ...]] = await self._run(policy, key, Op("reserve", cost))
        return reserved

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        await self._run(policy, key, Op("reset", 0))

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        """See :meth:`ratelimit_core.store.Blocking.block`."""
        lasts: int = await self._run(policy, key, Op("block", duration))
        return lasts

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """See :meth:`ratelimit_core.store.Noting.write_note`."""
        check_note(text, ttl)
        await self._run(policy, key, Op("write_note", ttl, text=text))

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        """See :meth:`ratelimit_core.store.Noting.read_note`."""
        note: bytes | None = await self._run(policy, key, Op("read_note", 0))
        return note

    # -- concurrency slots (ratelimit_core.store.Holding) ---------------------------------

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        decision: Decision = await self._run(capped(policy), key, Op("acquire", cost, holder))
        return decision

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        await self._run(capped(policy), key, Op("release", 0, holder))

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        return bool(await self._run(capped(policy), key, Op("renew", 0, holder)))

    # -- internals ---------------------------------------------------------------------

    async def _run(self, policy: Policy, key: str, op: Op) -> Any:
        """One transaction, retried after short sleeps on the event loop while another process holds the database."""
        row_key, delays = self._attempts(key)
        while True:
            done, answer = self._try(policy, row_key, op, delays)
            if done:
                return answer
            await asyncio.sleep(answer)


def capped(policy: Policy) -> Policy:
    """``policy``, refused with ``TypeError`` when it has no concurrency cap (slots are for limiters with one)."""
    if policy.cap is None:
        raise TypeError(f"{policy.name!r} has no concurrency cap: slots are for limiters with a Concurrency")
    return policy
