"""The SQLite file a host's processes share: opening it safely, its layout, its identity, its checkpoints.

Everything here is the same for both colours of ``SqliteStore``; what a
transaction does is :mod:`ratelimit_core.sqlite_rows`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ratelimit_core.errors import StoreError

__all__ = ["Checkpoints", "configure", "connect", "forget_all", "identity", "open_file"]

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

#: A process checkpoints the WAL on a worker thread every this many of its commits (a page each), and
#: the -wal file is cut back to this size after a checkpoint.
CHECKPOINT_EVERY = 1_000
_WAL_KEEP_BYTES = 4 * 1024 * 1024
#: Seconds the checkpoint's thread waits for the writer of the moment before starting the log over.
_RESTART_WAIT = 0.05
#: Seconds the store may wait for the database when it is made (other processes' transactions).
_SETUP_WAIT = 5.0


def forget_all(con: sqlite3.Connection) -> None:
    """Delete every state of the file in one transaction (``ratelimit_core.testing``'s reset)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("DELETE FROM ratelimit_state")
        con.execute("UPDATE ratelimit_meta SET value = 0 WHERE name = 'rows'")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def open_file(path: Path, mode: int) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
    """The first connection (WAL, the schema in place) and the file's identity.

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
            con = sqlite3.connect(path, timeout=_SETUP_WAIT, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode = WAL")
            _lay_out(con)
            configure(con)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite store: cannot use {str(path)!r}: {exc}") from exc
        return con, identity(path)


def connect(path: Path) -> sqlite3.Connection:
    """Another connection to a file :func:`open_file` has set up (one per thread, in the sync store)."""
    try:
        con = sqlite3.connect(path, timeout=_SETUP_WAIT, isolation_level=None, check_same_thread=False)
        configure(con)
    except sqlite3.Error as exc:
        raise StoreError(f"sqlite store: cannot use {str(path)!r}: {exc}") from exc
    return con


def configure(con: sqlite3.Connection) -> None:
    """What each connection sets: no waiting on locks (the store retries), no checkpoint inside a commit."""
    con.execute("PRAGMA synchronous = NORMAL")
    # A checkpoint on a disk path syncs the file: tens of milliseconds. SQLite would run it inside a
    # COMMIT, holding the caller; the store runs its own on a worker thread (Checkpoints).
    con.execute("PRAGMA wal_autocheckpoint = 0")
    con.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP_BYTES}")
    con.execute("PRAGMA busy_timeout = 0")


def identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names (device and inode), or None when it names none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


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


class Checkpoints:
    """The WAL's checkpoints, on a thread of their own, one at a time, every :data:`CHECKPOINT_EVERY` commits.

    A checkpoint copies the log into the database and, on a disk path, syncs
    both: tens of milliseconds that must not hold a decision. It is
    ``PASSIVE``: it never waits for, nor blocks, other connections' writes.
    Its connection is used by its thread only.
    """

    __slots__ = ("_closed", "_con", "_lock", "_path", "_since", "_thread")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._since = 0
        self._con: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def committed(self) -> None:
        """One more commit of this process: start a checkpoint when it is time and none is running."""
        self._since += 1
        if self._since < CHECKPOINT_EVERY:
            return
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._since = 0
            self._thread = threading.Thread(target=self._checkpoint, name="ratelimit-sqlite-checkpoint", daemon=True)
            self._thread.start()

    def wait(self) -> None:
        """Wait for a running checkpoint to end."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def close(self) -> None:
        """Stop checkpointing: wait for a running checkpoint, then close its connection."""
        with self._lock:
            self._closed = True
        self.wait()
        if self._con is not None:
            self._con.close()
            self._con = None

    def _checkpoint(self) -> None:  # on the checkpoint's thread
        try:
            if self._con is None:
                self._con = sqlite3.connect(
                    self._path, timeout=_RESTART_WAIT, isolation_level=None, check_same_thread=False
                )
            # The bulk, without holding up anyone's writes; then, while the processes keep writing (so
            # the log is never found all copied at a write's start, when SQLite would start it over),
            # a TRUNCATE: it waits for the writer of the moment, copies the few frames left and starts
            # the log over, while writers retry for a moment.
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if os.path.getsize(f"{self._path}-wal") > _WAL_KEEP_BYTES:
                self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (sqlite3.Error, OSError):  # the database busy, say: tried again a thousand commits later
            pass
