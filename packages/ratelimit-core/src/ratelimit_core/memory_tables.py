"""What a MemoryStore holds: a table of states per rate, bounded as a whole, and concurrency slots."""

from __future__ import annotations

from collections import OrderedDict
from hashlib import blake2b
from typing import Any
from weakref import WeakValueDictionary

from ratelimit_core.algorithms import AlgorithmMath, applier
from ratelimit_core.concurrency import Slots, live
from ratelimit_core.policy import Policy

__all__ = ["MAX_KEY_CHARS", "SlotTables", "Table", "Tables", "bounded"]

#: Keys longer than this many characters are held as a digest of 65 characters.
MAX_KEY_CHARS = 64


def bounded(key: str) -> str:
    """``key``, or for a longer one ``"~"`` and the hex of its 256-bit BLAKE2b digest.

    Keys can come from client text (an API key header, a path); the digest
    bounds what one key holds, and is 65 characters long, so it never equals a
    key that is kept as it is.
    """
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "~" + blake2b(key.encode("utf-8", "surrogatepass"), digest_size=32).hexdigest()


class Table:
    """The states of one rate of one policy (one namespace), least recently used first.

    ``touched`` holds when each state was last used (µs of the store's clock),
    so that the store can evict the least recently used state of all its
    tables: every table's first state is its own least recently used.
    """

    __slots__ = ("__weakref__", "apply", "data", "math", "namespace", "touched")

    def __init__(self, namespace: str, math: AlgorithmMath) -> None:
        self.namespace = namespace
        self.math = math
        self.apply = applier(math)
        self.data: OrderedDict[str, Any] = OrderedDict()
        self.touched: dict[str, int] = {}

    def drop(self, key: str) -> bool:
        """Forget ``key``'s state; whether there was one."""
        self.touched.pop(key, None)
        return self.data.pop(key, None) is not None

    def oldest_touch(self) -> int:
        """When this table's least recently used state was last used."""
        return self.touched[next(iter(self.data))]

    def kept(self, state: Any, write: Any) -> Any:
        """The state to keep after ``write`` (an executor's write) on ``state``."""
        return write if self.apply is None else self.apply(state, write)


class Tables:
    """Every table of a store, holding at most ``max_keys`` states in all.

    A table is held strongly while it holds states, and otherwise only by
    whoever uses it (a limiter's bound function): an empty table nobody holds
    is gone, so memory is bounded by ``max_keys`` whatever the number of
    limiter names. A state whose limit is fully restored is dropped when the
    store needs room: the table's oldest as a new key arrives, expired ones in
    a sweep (at most once per ``max_keys // 8`` new keys), then the least
    recently used of the whole store.
    """

    __slots__ = ("_held", "_sweep_credit", "_tables", "max_keys", "size")

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.size = 0  # states held, over all tables
        self._tables: WeakValueDictionary[str, Table] = WeakValueDictionary()
        self._held: dict[str, Table] = {}  # the tables that hold states
        self._sweep_credit = 0  # new keys to go before a sweep for expired states may run

    def of(self, policy: Policy) -> list[Table]:
        """The table of each rate of ``policy``, in order (made when missing)."""
        tables = self._tables
        out = []
        for namespace, math in zip(policy.namespaces, policy.maths, strict=True):
            table = tables.get(namespace)
            if table is None:
                table = tables[namespace] = Table(namespace, math)
            out.append(table)
        return out

    def read(self, tables: list[Table], key: str, now: int) -> list[Any]:
        """``key``'s state in each table (``None`` for none), each marked as used at ``now``."""
        states = [table.data.get(key) for table in tables]
        for table, state in zip(tables, states, strict=True):
            if state is not None:
                table.data.move_to_end(key)  # touched first, so making room never takes them
                table.touched[key] = now
        return states

    def write(self, tables: list[Table], key: str, states: list[Any], writes: list[Any], now: int) -> list[Any]:
        """Carry out one write per table (``None``: none) on ``key``'s states; the states kept, in order.

        Updates first, then new keys: making room for those never drops an update.
        """
        kept = list(states)
        for i, (table, state, write) in enumerate(zip(tables, states, writes, strict=True)):
            if write is not None and state is not None:
                kept[i] = table.data[key] = table.kept(state, write)
        for i, (table, state, write) in enumerate(zip(tables, states, writes, strict=True)):
            if write is not None and state is None:
                kept[i] = table.kept(None, write)
                self.insert(table, key, kept[i], now)
        return kept

    def insert(self, table: Table, key: str, state: Any, now: int) -> None:
        """Add a new key's state, making room first; drop the table's oldest state if expired."""
        data = table.data
        if self.size >= self.max_keys:
            self._make_room(now)
        elif data:
            oldest = next(iter(data))
            if table.math.expires_at(data[oldest]) <= now:
                table.drop(oldest)
                self.size -= 1
        if not data:
            self._held[table.namespace] = table
        data[key] = state
        table.touched[key] = now
        self.size += 1
        self._sweep_credit -= 1

    def clear(self) -> None:
        """Forget every state; the tables stay the same objects (bound functions hold them)."""
        for table in self._held.values():
            table.data.clear()
            table.touched.clear()
        self._held.clear()
        self.size = 0

    def drop(self, table: Table, key: str) -> None:
        """Forget ``key``'s state in ``table``; let go of a table left empty."""
        if table.drop(key):
            self.size -= 1
            if not table.data:
                self._held.pop(table.namespace, None)

    def _make_room(self, now: int) -> None:
        """Free one place: expired states first, else the least recently used state of the whole store."""
        if self._sweep_credit <= 0:
            self._sweep_credit = max(1, self.max_keys // 8)
            for table in list(self._held.values()):
                expires_at = table.math.expires_at
                for key in [k for k, state in table.data.items() if expires_at(state) <= now]:
                    self.drop(table, key)
        while self.size >= self.max_keys:
            victim = min(self._held.values(), key=Table.oldest_touch)
            self.drop(victim, next(iter(victim.data)))

    def counts(self) -> tuple[int, int, int]:
        """Tables alive, those holding states, and the states they hold (which :attr:`size` counts)."""
        return len(self._tables), len(self._held), sum(len(table.data) for table in self._held.values())


class SlotTables:
    """Concurrency slots: cap namespace -> key -> holder -> lapse (µs).

    Held only while some slot is: bounded by the holders in flight, not by ``max_keys``.
    """

    __slots__ = ("_caps",)

    def __init__(self) -> None:
        self._caps: dict[str, dict[str, Slots]] = {}

    def live(self, namespace: str, key: str, now: int) -> Slots:
        """``key``'s live slots (lapsed ones dropped); a key with none is not kept."""
        slots = self._caps.get(namespace, {}).get(key)
        if slots is None:
            return {}
        live(slots, now)
        if not slots:
            self.forget(namespace, key)
        return slots

    def keep(self, namespace: str, key: str, slots: Slots) -> None:
        """Keep ``key``'s slots (after one was taken)."""
        self._caps.setdefault(namespace, {})[key] = slots

    def release(self, namespace: str, key: str, holder: str) -> None:
        """Free ``holder``'s slot, if it holds one."""
        slots = self._caps.get(namespace, {}).get(key)
        if slots is not None:
            slots.pop(holder, None)
            if not slots:
                self.forget(namespace, key)

    def clear(self) -> None:
        """Free every slot."""
        self._caps.clear()

    def forget(self, namespace: str, key: str) -> None:
        """Drop ``key``'s slots, and the namespace's table once it holds none."""
        table = self._caps.get(namespace)
        if table is not None:
            table.pop(key, None)
            if not table:
                del self._caps[namespace]
