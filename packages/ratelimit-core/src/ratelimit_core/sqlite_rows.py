"""One SQLite transaction per operation: read a key's rows, run the executor, write what it returns.

The same for both colours of ``SqliteStore``; they differ only in how they
wait for a busy database (:func:`attempts` gives the delays).
"""

from __future__ import annotations

import json
import sqlite3
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from hashlib import blake2b
from pathlib import Path
from typing import Any, NamedTuple

from ratelimit_core import executor
from ratelimit_core.algorithms import AlgorithmMath, SlidingWindowLog, applier
from ratelimit_core.concurrency import Slots, live, renew, room
from ratelimit_core.errors import StoreError
from ratelimit_core.policy import Policy
from ratelimit_core.sqlite_file import Checkpoints

__all__ = ["Op", "Transactions", "attempts", "digest", "failure"]

_SELECT = "SELECT value, expires, touched FROM ratelimit_state WHERE ns = ? AND key = ?"
_INSERT = "INSERT INTO ratelimit_state (ns, key, value, expires, touched) VALUES (?, ?, ?, ?, ?)"
_UPDATE_VALUE = "UPDATE ratelimit_state SET value = ? WHERE ns = ? AND key = ?"
_UPDATE_ROW = "UPDATE ratelimit_state SET value = ?, expires = ?, touched = ? WHERE ns = ? AND key = ?"
_DELETE = "DELETE FROM ratelimit_state WHERE ns = ? AND key = ?"
_EXPIRED = (
    "DELETE FROM ratelimit_state WHERE (ns, key) IN (SELECT ns, key FROM ratelimit_state WHERE expires <= ? LIMIT ?)"
)
_OLDEST = (
    "DELETE FROM ratelimit_state WHERE (ns, key) IN (SELECT ns, key FROM ratelimit_state ORDER BY touched LIMIT ?)"
)

#: A stored row: its value, expires (µs, rounded up to the second) and touched (µs).
Row = tuple[bytes, int, int]

#: Recency is kept to this many µs: a state used again sooner keeps its ``touched`` (no index write per decision).
_TOUCH_EVERY = 1_000_000
#: Expired states purged per sweep; a sweep runs every this many transactions of a process.
_PURGE_BATCH = 100
_PURGE_EVERY = 64
#: ``touched`` of a row of slots: later than any clock, so the least recently used are always others.
_HELD = 2**62
#: A row of slots that holds none.
_NO_SLOTS = b"{}"


class _Key(NamedTuple):
    """Where a transaction works: its connection, the policy, the key's digest and the time (µs)."""

    con: sqlite3.Connection
    policy: Policy
    key: bytes
    now: int


class Op(NamedTuple):
    """One operation: its name, cost (a block's or a note's: its µs), holder (slots), a refund's ``until``, a
    note's text."""

    name: str
    cost: int
    holder: str = ""
    until: Sequence[int] | None = None
    text: bytes = b""


def digest(key: str) -> bytes:
    """What a row holds for ``key``: 128 bits of its BLAKE2b, never the key itself.

    API keys and client addresses stay out of the file, and any ``str`` works,
    lone surrogates included (a JSON body can carry one).
    """
    return blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def attempts(path: Path, timeout: float) -> Iterator[float]:
    """The delays to sleep between attempts while the database is busy (50 µs doubling to 2 ms).

    When the next would pass ``timeout`` seconds it raises ``StoreError``
    instead (from the busy error the caller is handling).
    """
    deadline = time.monotonic() + timeout
    delay = 0.000_05
    while time.monotonic() + delay <= deadline:
        yield delay
        delay = min(delay * 2, 0.002)
    raise StoreError(f"sqlite store at {path} stayed locked by another process for {timeout * 1000:.0f} ms")


def failure(path: Path, exc: sqlite3.Error) -> StoreError | None:
    """The ``StoreError`` for ``exc``, or ``None`` when it only says the database is busy (try again)."""
    if isinstance(exc, sqlite3.OperationalError) and any(word in str(exc).lower() for word in ("locked", "busy")):
        return None
    return StoreError(f"sqlite store at {path} failed: {exc}")


class Transactions:
    """The transactions of one process on one file: what each operation reads, decides and writes.

    Args:
        max_keys: At most this many rows, across every process (see ``SqliteStore``).
        clock: Microseconds now: read once the write lock is held.
        checkpoints: Told of each commit.
    """

    __slots__ = ("_checkpoints", "_clock", "_max_keys", "_since_purge")

    def __init__(self, max_keys: int, clock: Callable[[], int], checkpoints: Checkpoints) -> None:
        self._max_keys = max_keys
        self._clock = clock
        self._checkpoints = checkpoints
        self._since_purge = 0

    def run(self, con: sqlite3.Connection, policy: Policy, key: bytes, op: Op) -> Any:
        """``op`` on ``key`` in one ``BEGIN IMMEDIATE`` transaction; its result."""
        con.execute("BEGIN IMMEDIATE")
        try:
            # The clock is read holding the write lock: the processes' decisions are in the clock's order.
            now = self._clock()
            result = self._decide(con, policy, key, op, now)
            self._since_purge += 1
            if self._since_purge >= _PURGE_EVERY:
                self._since_purge = 0
                self._make_room(con, 0, now, _PURGE_BATCH)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        self._checkpoints.committed()
        return result

    def _decide(self, con: sqlite3.Connection, policy: Policy, key: bytes, op: Op, now: int) -> Any:
        at = _Key(con, policy, key, now)
        held: Row | None = None
        slots: Slots = {}
        if policy.cap is not None:
            held = con.execute(_SELECT, (policy.cap_namespace, key)).fetchone()
            slots = live(_decode_slots(held), now)
            if op.name in ("release", "renew"):
                renewed = op.name == "renew" and renew(slots, policy.cap, op.holder, now)
                if op.name == "release":
                    slots.pop(op.holder, None)
                self._write_slots(at, held, slots)
                return renewed if op.name == "renew" else None
        if op.name in ("write_note", "read_note"):
            return self._note(at, op)
        if op.name in ("block", "reset"):
            return self._block(at, op.cost) if op.name == "block" else self._reset(at, held)
        found = [con.execute(_SELECT, (ns, key)).fetchone() for ns in policy.namespaces]
        maths = policy.maths
        states = [_decode(math, row and row[0]) for math, row in zip(maths, found, strict=True)]
        blocked = 0
        if op.name not in ("charge", "refund"):
            block = _decode_block(con.execute(_SELECT, (policy.block_namespace, key)).fetchone())
            blocked = executor.block_end(block, now)
            repair = executor.repaired(block, now)
            if repair is not None and op.name != "peek":  # the clock went back: as a rate's repair
                con.execute(_UPDATE_VALUE, (b"%d,%d" % repair, policy.block_namespace, key))
        if op.name == "peek":
            outcomes = executor.peek(maths, states, now, op.cost, blocked)
            if policy.cap is not None:
                outcomes.append(room(policy.cap, len(slots)))
            return policy.decision(outcomes)
        if op.name == "acquire":
            assert policy.cap is not None  # noqa: S101 - the store checked it
            applied = executor.acquire(
                maths, states, now, op.cost, cap=policy.cap, slots=slots, holder=op.holder, blocked=blocked
            )
            self._write(at, states, found, applied.writes)
            self._write_slots(at, held, slots)
            return policy.decision(applied.outcomes)
        if op.name in ("hit", "reserve"):
            applied = executor.hit(maths, states, now, op.cost, blocked=blocked)
            self._write(at, states, found, applied.writes)
            decision = policy.decision(applied.outcomes)
            return (decision, executor.until(now, applied.outcomes)) if op.name == "reserve" else decision
        if op.name == "charge":
            writes = executor.charge(maths, states, now, op.cost)
        else:
            writes = executor.refund(maths, states, now, op.cost, op.until)
        kept = self._write(at, states, found, writes)
        return policy.decision(executor.peek(maths, kept, now, 1))

    def _reset(self, at: _Key, held: Row | None) -> None:
        """Delete every row of the key: its rates', its slots' and its block's."""
        con, policy, key, _ = at
        rows = [con.execute(_SELECT, (ns, key)).fetchone() for ns in (*policy.namespaces, policy.block_namespace)]
        names = (*policy.namespaces, policy.cap_namespace, policy.block_namespace)
        con.executemany(_DELETE, [(ns, key) for ns in names if ns])
        _add_rows(con, -sum(row is not None for row in (*rows, held)))

    def _note(self, at: _Key, op: Op) -> bytes | None:
        """Read the key's note (``None``: none, or expired), or write it to expire ``op.cost`` µs from now."""
        con, policy, key, now = at
        row = con.execute(_SELECT, (policy.note_namespace, key)).fetchone()
        if op.name == "read_note":
            return None if row is None or row[1] <= now else bytes(row[0])
        if row is None:
            con.execute(_INSERT, (policy.note_namespace, key, op.text, now + op.cost, now))
            self._make_room(con, _add_rows(con, 1) - self._max_keys, now)
        else:
            con.execute(_UPDATE_ROW, (op.text, now + op.cost, now, policy.note_namespace, key))
        return None

    def _block(self, at: _Key, duration: int) -> int:
        """Block the key for ``duration`` µs, or longer when it already is; the µs its block lasts from now.

        The row's ``touched`` is the far future, as a slot row's: eviction past
        ``max_keys`` takes it last (a block is a penalty); it goes at its expiry.
        """
        con, policy, key, now = at
        row = con.execute(_SELECT, (policy.block_namespace, key)).fetchone()
        old = _decode_block(row)
        block = executor.blocking(old, now, duration)
        if block is None:
            return 0
        if block != old:
            value = (b"%d,%d" % block, _to_second(block[0]))
            if row is None:
                con.execute(_INSERT, (policy.block_namespace, key, *value, _HELD))
                self._make_room(con, _add_rows(con, 1) - self._max_keys, now)
            else:
                con.execute(_UPDATE_ROW, (*value, _HELD, policy.block_namespace, key))
        return block[0] - now

    def _write(self, at: _Key, states: list[Any], found: list[Row | None], writes: list[Any]) -> list[Any]:
        """Store each rate's write (``None``: unchanged) and its recency; the states kept, in order.

        ``expires`` (to the second, rounded up) and ``touched`` (to the second) are
        indexed; a row's index entries are rewritten only when they change, so a
        busy key's decision writes one page.
        """
        con, policy, key, now = at
        kept, inserts, values, full = [], [], [], []
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
            self._make_room(con, _add_rows(con, len(inserts)) - self._max_keys, now)
        return kept

    def _write_slots(self, at: _Key, row: Row | None, slots: Slots) -> None:
        """Store ``key``'s live slots.

        A slot row's ``touched`` is the far future: eviction past ``max_keys``
        takes it last (slots are bounded by the holders in flight, and a lapsed
        one's row expires). A row left without slots is kept empty (a busy key's
        next acquire reuses it) until the purge takes it at its expiry.
        """
        con, policy, key, now = at
        ns = policy.cap_namespace
        if not slots:
            if row is not None and row[0] != _NO_SLOTS:
                con.execute(_UPDATE_VALUE, (_NO_SLOTS, ns, key))
            return
        value, expires = (
            json.dumps(slots, separators=(",", ":"), sort_keys=True).encode(),
            _to_second(max(slots.values())),
        )
        if row is None:
            con.execute(_INSERT, (ns, key, value, expires, _HELD))
            self._make_room(con, _add_rows(con, 1) - self._max_keys, now)
        elif expires == row[1]:  # the indexed expiry stays: only the value is written
            con.execute(_UPDATE_VALUE, (value, ns, key))
        else:
            con.execute(_UPDATE_ROW, (value, expires, _HELD, ns, key))

    def _make_room(self, con: sqlite3.Connection, over: int, now: int, expired: int = 0) -> None:
        """Drop ``over`` rows (expired ones first, then the least recently used, to the second).

        With ``expired``, also purge up to that many expired rows (a sweep).
        """
        if over <= 0 and not expired:
            return
        gone = con.execute(_EXPIRED, (now, max(over, expired))).rowcount
        if gone < over:
            gone += con.execute(_OLDEST, (over - gone,)).rowcount
        if gone:
            _add_rows(con, -gone)


def _to_second(us: int) -> int:
    """``us`` rounded up to a whole second: an expiry that moves within a second leaves its index entry alone."""
    return -(-us // 1_000_000) * 1_000_000


def _add_rows(con: sqlite3.Connection, delta: int) -> int:
    """Move the shared count of states by ``delta``; the count after."""
    (rows,) = con.execute(
        "UPDATE ratelimit_meta SET value = value + ? WHERE name = 'rows' RETURNING value", (delta,)
    ).fetchone()
    return int(rows)


def _decode_slots(row: Row | None) -> Slots:
    if row is None:
        return {}
    slots: Slots = json.loads(row[0])
    return slots


def _decode_block(row: Row | None) -> executor.Block | None:
    if row is None:
        return None
    end, start = row[0].split(b",")
    return int(end), int(start)


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
