"""A store in one SQLite file, shared by every process on a host: exact limits without a server.

Each decision is one short ``BEGIN IMMEDIATE`` transaction: read the key's
states, run the algorithms' arithmetic (the same as ``MemoryStore``'s), write,
commit. Every rate is written in that transaction, or none is. The event loop
is never held waiting for another process: the connection does not wait on a
lock (``busy_timeout`` 0); a busy database is retried after short sleeps on
the event loop, within ``timeout``, and then becomes a ``StoreError``.

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
import json
import os
import sqlite3
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from hashlib import blake2b
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, cast

from ratelimit_core.algorithms import AlgorithmMath, SlidingWindowLog, applier
from ratelimit_core.concurrency import Slots, live, renew, room, take, taken
from ratelimit_core.decision import Decision
from ratelimit_core.errors import StoreError
from ratelimit_core.policy import Outcome, Policy

__all__ = ["SqliteStore"]

_lock_exclusive: Callable[[int], None] | None
try:
    import fcntl
except ImportError:  # not POSIX: no setup lock
    _lock_exclusive = None
else:

    def _lock_exclusive(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)


#: The layout of the tables and of the states they hold (``PRAGMA user_version``). A file of an
#: older layout is started afresh at setup: what it held is limiter state, not data.
_LAYOUT = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratelimit_state (
    ns TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    expires INTEGER NOT NULL,
    touched INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ratelimit_state_expires ON ratelimit_state (expires);
CREATE INDEX IF NOT EXISTS ratelimit_state_touched ON ratelimit_state (touched);
CREATE TABLE IF NOT EXISTS ratelimit_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO ratelimit_meta VALUES ('rows', 0);
"""

_SELECT = "SELECT value, expires, touched FROM ratelimit_state WHERE ns = ? AND key = ?"
_INSERT = "INSERT INTO ratelimit_state (ns, key, value, expires, touched) VALUES (?, ?, ?, ?, ?)"
_UPDATE_VALUE = "UPDATE ratelimit_state SET value = ? WHERE ns = ? AND key = ?"
_UPDATE_ROW = "UPDATE ratelimit_state SET value = ?, expires = ?, touched = ? WHERE ns = ? AND key = ?"

#: A stored row: its value, expires (µs, rounded up to the second) and touched (µs).
Row = tuple[bytes, int, int]
_DELETE = "DELETE FROM ratelimit_state WHERE ns = ? AND key = ?"

#: Recency is kept to this many µs: a state used again sooner keeps its ``touched`` (no index write per decision).
_TOUCH_EVERY = 1_000_000

#: A process checkpoints the WAL on a worker thread every this many of its commits (a page each), and
#: the -wal file is cut back to this size after a checkpoint.
_CHECKPOINT_EVERY = 1_000
_WAL_KEEP_BYTES = 4 * 1024 * 1024
#: Seconds the checkpoint's thread waits for the writer of the moment before starting the log over.
_RESTART_WAIT = 0.05

#: Seconds the store may wait for the database when it is made (other processes' transactions).
_SETUP_WAIT = 5.0

#: Expired states purged per sweep; a sweep runs every this many transactions of a process.
_PURGE_BATCH = 100
_PURGE_EVERY = 64


class SqliteStore:
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

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "sqlite"

    __slots__ = (
        "_checkpoints",
        "_clock",
        "_con",
        "_file",
        "_lost",
        "_max_keys",
        "_path",
        "_since_purge",
        "_timeout",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_keys: int = 100_000,
        timeout: float = 0.25,
        clock: Callable[[], float] | None = None,
        mode: int = 0o600,
    ) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be an int >= 1, got {max_keys!r}")
        if isinstance(mode, bool) or not isinstance(mode, int) or mode & ~0o777 or mode & 0o600 != 0o600:
            raise ValueError(f"mode must be file permissions the owner can read and write (0o600), got {mode!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        self._path = Path(path)
        self._max_keys = max_keys
        self._timeout = float(timeout)
        self._clock = clock
        self._since_purge = 0
        self._lost = False
        self._con, self._file = _open(self._path, mode)
        self._checkpoints = _Checkpoints(self._path)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path)!r}, max_keys={self._max_keys}, timeout={self._timeout!r})"

    def close(self) -> None:
        """Close this process's connections (the file and its states stay), after a last checkpoint."""
        with contextlib.suppress(sqlite3.Error):  # another process may hold the log: its checkpoint will do
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpoints.close()
        self._con.close()

    async def aclose(self) -> None:
        """:meth:`close`, for ``async with`` and shutdown hooks, once a running checkpoint has ended."""
        await self._checkpoints.finished()
        self.close()

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the Store contract ----------------------------------------------------------

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        return cast(Decision, await self._run(policy, key, "hit", cost))

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        return cast(Decision, await self._run(policy, key, "peek", cost))

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        return cast(Decision, await self._run(policy, key, "charge", cost))

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        return cast(Decision, await self._run(policy, key, "refund", cost, until=until))

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        return cast(tuple[Decision, tuple[int, ...]], await self._run(policy, key, "reserve", cost))

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        await self._run(policy, key, "reset", 0)

    # -- concurrency slots (ratelimit_core.store.Holding) ---------------------------------

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        return cast(Decision, await self._run(_capped(policy), key, "acquire", cost, holder))

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        await self._run(_capped(policy), key, "release", 0, holder)

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        return bool(await self._run(_capped(policy), key, "renew", 0, holder))

    # -- internals ---------------------------------------------------------------------

    async def _run(
        self, policy: Policy, key: str, op: str, cost: int, holder: str = "", until: Sequence[int] | None = None
    ) -> object:
        """One transaction, retried after short sleeps while another process holds the database."""
        row_key = digest(key)
        if self._lost or _identity(self._path) != self._file:
            self._lost = True
            raise StoreError(
                f"sqlite store: {self._path} was deleted or replaced under this process; "
                "it fails until every process using the file is restarted"
            )
        deadline = time.monotonic() + self._timeout
        delay = 0.000_05
        while True:
            try:
                return self._transaction(policy, row_key, _Op(op, cost, holder, until))
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise StoreError(f"sqlite store at {self._path} failed: {exc}") from exc
                if time.monotonic() + delay > deadline:
                    raise StoreError(
                        f"sqlite store at {self._path} stayed locked by another process for "
                        f"{self._timeout * 1000:.0f} ms"
                    ) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite store at {self._path} failed: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _transaction(self, policy: Policy, key: bytes, op: _Op) -> object:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            # The clock is read holding the write lock: the processes' decisions are in the clock's order.
            now = self._now_us()
            result = self._decide(con, policy, key, op, now)
            self._since_purge += 1
            if self._since_purge >= _PURGE_EVERY:
                self._since_purge = 0
                self._purge(con, now)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        self._checkpoints.committed()
        return result

    def _decide(self, con: sqlite3.Connection, policy: Policy, key: bytes, op: _Op, now: int) -> object:
        namespaces, maths, cap = policy.namespaces, policy.maths, policy.cap
        held: Row | None = None
        slots: Slots = {}
        if cap is not None:
            held = con.execute(_SELECT, (policy.cap_namespace, key)).fetchone()
            slots = live(_decode_slots(held), now)
        if op.name in ("release", "renew"):
            return self._slot(con, policy, key, op, held, slots, now)
        found = [con.execute(_SELECT, (ns, key)).fetchone() for ns in namespaces]
        if op.name == "reset":
            con.executemany(_DELETE, [(ns, key) for ns in (*namespaces, policy.cap_namespace) if ns])
            _add_rows(con, -sum(row is not None for row in (*found, held)))
            return None
        states = [_decode(math, row and row[0]) for math, row in zip(maths, found, strict=True)]
        cost = op.cost
        if op.name == "peek":
            seen: list[Outcome] = [_peek(m, s, now, cost) for m, s in zip(maths, states, strict=True)]
            if cap is not None:
                seen.append(room(cap, len(slots)))
            return policy.decision(seen)
        if op.name in ("hit", "acquire", "reserve"):
            steps = [m.step(s, now, cost) for m, s in zip(maths, states, strict=True)]
            admitted = (cap is None or len(slots) < cap.limit) and all(step[0] for step in steps)
            if admitted:
                writes = [step[1] for step in steps]
                outcomes: list[Outcome] = [(True, s[2], s[3], 0) for s in steps]
            else:  # nothing consumed; a state read from the future is still repaired
                writes, outcomes = [], []
                for math, state, step in zip(maths, states, steps, strict=True):
                    view = step if not step[0] else math.step(state, now, 0)
                    writes.append(view[1])
                    outcomes.append((step[0], view[2], view[3], step[4]))
            self._write(con, policy, key, states, found, writes, now)
            if op.name == "reserve":
                return policy.decision(outcomes), tuple(now + outcome[2] for outcome in outcomes)
            if cap is not None:  # an acquire: the slot too, or none
                if admitted:
                    take(slots, cap, op.holder, now)
                    outcomes.append(taken(cap, len(slots)))
                else:
                    outcomes.append(room(cap, len(slots)))
                self._write_slots(con, policy, key, held, slots, now)
            return policy.decision(outcomes)
        if op.name == "charge":
            writes = [m.charge(s, now, cost) for m, s in zip(maths, states, strict=True)]
        else:
            ends: Sequence[int | None] = op.until or [None] * len(maths)
            writes = [m.refund(s, now, cost, end) for m, s, end in zip(maths, states, ends, strict=True)]
        kept = self._write(con, policy, key, states, found, writes, now)
        return policy.decision([_peek(m, s, now, 1) for m, s in zip(maths, kept, strict=True)])

    def _write(
        self,
        con: sqlite3.Connection,
        policy: Policy,
        key: bytes,
        states: list[Any],
        found: list[Row | None],
        writes: list[Any],
        now: int,
    ) -> list[Any]:
        """Store each rate's write (``None``: unchanged) and its recency; the states kept, in order.

        ``expires`` (to the second, rounded up) and ``touched`` (to the second) are
        indexed; a row's index entries are rewritten only when they change, so a
        busy key's decision writes one page.
        """
        kept, inserts, values, full, new = [], [], [], [], 0
        for ns, math, state, row, write in zip(policy.namespaces, policy.maths, states, found, writes, strict=True):
            if write is None:
                kept.append(state)
                if row is not None and not 0 <= now - row[2] < _TOUCH_EVERY:
                    full.append((row[0], row[1], now, ns, key))
                continue
            apply = applier(math)
            value = write if apply is None else apply(state, write)
            kept.append(value)
            encoded, expires = _encode(math, value), _to_second(math.expires_at(value))
            if row is None:
                inserts.append((ns, key, encoded, expires, now))
                new += 1
            elif expires == row[1] and 0 <= now - row[2] < _TOUCH_EVERY:
                values.append((encoded, ns, key))
            else:
                full.append((encoded, expires, now, ns, key))
        if values:
            con.executemany(_UPDATE_VALUE, values)
        if full:
            con.executemany(_UPDATE_ROW, full)
        if inserts:
            con.executemany(_INSERT, inserts)
            self._make_room(con, _add_rows(con, new), now)
        return kept

    def _slot(
        self, con: sqlite3.Connection, policy: Policy, key: bytes, op: _Op, row: Row | None, slots: Slots, now: int
    ) -> bool | None:
        """Release or renew ``op.holder``'s slot (the rates are not read)."""
        if op.name == "release":
            slots.pop(op.holder, None)
            self._write_slots(con, policy, key, row, slots, now)
            return None
        assert policy.cap is not None  # noqa: S101 - _capped checked it
        renewed = renew(slots, policy.cap, op.holder, now)
        self._write_slots(con, policy, key, row, slots, now)
        return renewed

    def _write_slots(
        self, con: sqlite3.Connection, policy: Policy, key: bytes, row: Row | None, slots: Slots, now: int
    ) -> None:
        """Store ``key``'s live slots (a key with none keeps no row).

        A slot row's ``touched`` is the far future: eviction past ``max_keys``
        takes it last (slots are bounded by the holders in flight, and a lapsed
        one's row expires).
        """
        ns = policy.cap_namespace
        if not slots:  # kept empty (a busy key's next acquire reuses it) until the purge takes it at its expiry
            if row is not None and row[0] != _NO_SLOTS:
                con.execute(_UPDATE_VALUE, (_NO_SLOTS, ns, key))
            return
        value, expires = _encode_slots(slots), _to_second(max(slots.values()))
        if row is None:
            con.execute(_INSERT, (ns, key, value, expires, _HELD))
            self._make_room(con, _add_rows(con, 1), now)
        elif expires == row[1]:  # the indexed expiry stays: only the value is written
            con.execute(_UPDATE_VALUE, (value, ns, key))
        else:
            con.execute(_UPDATE_ROW, (value, expires, _HELD, ns, key))

    def _make_room(self, con: sqlite3.Connection, rows: int, now: int) -> None:
        """Past ``max_keys``: expired states go first, then the least recently used (to the second)."""
        over = rows - self._max_keys
        if over <= 0:
            return
        gone = con.execute(
            "DELETE FROM ratelimit_state WHERE (ns, key) IN "
            "(SELECT ns, key FROM ratelimit_state WHERE expires <= ? LIMIT ?)",
            (now, over),
        ).rowcount
        if gone < over:
            gone += con.execute(
                "DELETE FROM ratelimit_state WHERE (ns, key) IN "
                "(SELECT ns, key FROM ratelimit_state ORDER BY touched LIMIT ?)",
                (over - gone,),
            ).rowcount
        _add_rows(con, -gone)

    def _purge(self, con: sqlite3.Connection, now: int) -> None:
        gone = con.execute(
            "DELETE FROM ratelimit_state WHERE (ns, key) IN "
            "(SELECT ns, key FROM ratelimit_state WHERE expires <= ? LIMIT ?)",
            (now, _PURGE_BATCH),
        ).rowcount
        if gone:
            _add_rows(con, -gone)

    def _now_us(self) -> int:
        if self._clock is None:
            return time.time_ns() // 1000
        return round(self._clock() * 1_000_000)


def _open(path: Path, mode: int) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
    """The connection (WAL, the schema in place, no waiting on locks: the store retries) and the file's identity.

    Processes of the host set up one at a time (a lock on the directory), so that
    one that finds no database and removes a deleted one's leftovers never removes
    the log of a database another has just made. A new file is made with
    ``mode``; SQLite gives its ``-wal`` and ``-shm`` the database's permissions.
    """
    if not path.parent.is_dir():
        raise StoreError(f"sqlite store: no directory {str(path.parent)!r} for {str(path)!r}")
    with _setup_lock(path.parent):
        if not path.exists():
            _drop_orphans(path)
            _create(path, mode)
        try:
            # Setting up may wait for the other processes' transactions (at startup, not per decision).
            con = sqlite3.connect(path, timeout=_SETUP_WAIT, isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            # A checkpoint on a disk path syncs the file: tens of milliseconds. SQLite would run it inside
            # a COMMIT, on the event loop; the store runs its own on a worker thread (_Checkpoints).
            con.execute("PRAGMA wal_autocheckpoint = 0")
            con.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP_BYTES}")
            _lay_out(con)
            con.execute("PRAGMA busy_timeout = 0")  # from now on the store retries itself, off the lock
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite store: cannot use {str(path)!r}: {exc}") from exc
        return con, _identity(path)


def _create(path: Path, mode: int) -> None:
    """Make the empty database file with exactly ``mode`` (whatever the umask)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"sqlite store: cannot create {str(path)!r}: {exc}") from exc
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _lay_out(con: sqlite3.Connection) -> None:
    """The tables, in the current layout; a file of an older layout starts afresh (under the setup lock)."""
    (layout,) = con.execute("PRAGMA user_version").fetchone()
    if layout != _LAYOUT:
        con.execute("BEGIN IMMEDIATE")
        con.execute("DROP TABLE IF EXISTS ratelimit_state")
        con.execute("DROP TABLE IF EXISTS ratelimit_meta")
        con.execute(f"PRAGMA user_version = {_LAYOUT}")
        con.execute("COMMIT")
    con.executescript(_SCHEMA)


@contextlib.contextmanager
def _setup_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the directory for the time of a setup (none where there is no ``fcntl``)."""
    if _lock_exclusive is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise StoreError(f"sqlite store: cannot open the directory {str(folder)!r}: {exc}") from exc
    try:
        _lock_exclusive(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class _Checkpoints:
    """The WAL's checkpoints, on a worker thread, one at a time, every :data:`_CHECKPOINT_EVERY` commits.

    A checkpoint copies the log into the database and, on a disk path, syncs
    both: tens of milliseconds that must not hold the event loop. It is
    ``PASSIVE``: it never waits for, nor blocks, other connections' writes. Its
    connection is used by the worker thread only.
    """

    __slots__ = ("_closed", "_con", "_path", "_running", "_since")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._since = 0
        self._con: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._closed = False

    def committed(self) -> None:
        """One more commit of this process: start a checkpoint when it is time and none is running."""
        self._since += 1
        if self._since >= _CHECKPOINT_EVERY and self._running is None and not self._closed:
            self._since = 0
            self._running = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            self._running.add_done_callback(self._ended)

    async def finished(self) -> None:
        """Wait for a running checkpoint to end."""
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running

    def close(self) -> None:
        """Close the checkpoint's connection (at the end of a running checkpoint, if one runs)."""
        self._closed = True
        if self._running is None and self._con is not None:
            self._con.close()
            self._con = None

    def _checkpoint(self) -> None:  # on the worker thread
        if self._con is None:
            self._con = sqlite3.connect(
                self._path, timeout=_RESTART_WAIT, isolation_level=None, check_same_thread=False
            )
        try:
            # The bulk, without holding up anyone's writes; then, while the processes keep writing (so
            # the log is never found all copied at a write's start, when SQLite would start it over),
            # a TRUNCATE: it waits for the writer of the moment, copies the few frames left and starts
            # the log over, while writers retry for a moment (on their event loops, sleeping).
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if os.path.getsize(f"{self._path}-wal") > _WAL_KEEP_BYTES:
                self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            if self._closed:
                self._con.close()
                self._con = None

    def _ended(self, future: asyncio.Future[None]) -> None:
        self._running = None
        if not future.cancelled():
            future.exception()  # a checkpoint that failed (the database busy, say) is tried again later
        if self._closed and self._con is not None:  # closed while it ran
            self._con.close()
            self._con = None


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names (device and inode), or None when it names none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _drop_orphans(path: Path) -> None:
    """Remove a ``-wal`` and ``-shm`` left by a database that was deleted: SQLite would pair them with a new one."""
    if _lock_exclusive is None:  # without the setup lock, another process's fresh log could be the one removed
        return
    for suffix in ("-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"sqlite store: cannot remove the leftover {path}{suffix}: {exc}") from exc


class _Op(NamedTuple):
    """One operation of a transaction: its name, cost, holder (slots) and a refund's ``until``."""

    name: str
    cost: int
    holder: str
    until: Sequence[int] | None


def digest(key: str) -> bytes:
    """What a row holds for ``key``: 128 bits of its BLAKE2b, never the key itself.

    API keys and client addresses stay out of the file.

    Any ``str`` works, lone surrogates included (a JSON body can carry one).
    """
    return blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


#: ``touched`` of a row of slots: later than any clock, so the least recently used are always others.
_HELD = 2**62
#: A row of slots that holds none.
_NO_SLOTS = b"{}"


def _capped(policy: Policy) -> Policy:
    if policy.cap is None:
        raise TypeError(f"{policy.name!r} has no concurrency cap: slots are for limiters with a Concurrency")
    return policy


def _encode_slots(slots: Slots) -> bytes:
    return json.dumps(slots, separators=(",", ":"), sort_keys=True).encode()


def _decode_slots(row: Row | None) -> Slots:
    if row is None:
        return {}
    slots: Slots = json.loads(row[0])
    return slots


def _to_second(us: int) -> int:
    """``us`` rounded up to a whole second: an expiry that moves within a second leaves its index entry alone."""
    return -(-us // 1_000_000) * 1_000_000


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _add_rows(con: sqlite3.Connection, delta: int) -> int:
    """Move the shared count of states by ``delta``; the count after."""
    (rows,) = con.execute(
        "UPDATE ratelimit_meta SET value = value + ? WHERE name = 'rows' RETURNING value", (delta,)
    ).fetchone()
    return int(rows)


def _encode(math: AlgorithmMath, state: Any) -> bytes:
    """A state as stored: a log as packed 64-bit integers, any other as its integers in text."""
    if isinstance(math, SlidingWindowLog):
        return (state if isinstance(state, array) else array("q", state)).tobytes()
    if isinstance(state, tuple):
        return ",".join(map(str, state)).encode()
    return str(state).encode()


def _decode(math: AlgorithmMath, value: bytes | None) -> Any:
    if value is None:
        return None
    if isinstance(math, SlidingWindowLog):
        # The log's arithmetic works on any sequence of ints that slices, bisects and extends in place;
        # an array spares decoding a long log into Python ints on every decision.
        log = array("q")
        log.frombytes(value)
        return log
    text = value.decode()
    if "," in text:
        return tuple(int(part) for part in text.split(","))
    return int(text)


def _peek(math: AlgorithmMath, state: Any, now: int, cost: int) -> Outcome:
    step = math.step(state, now, cost)
    view = step if not step[0] or not cost else math.step(state, now, 0)
    return step[0], view[2], view[3], step[4]
