"""An in-process store: a bounded dict, no lock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from time import monotonic_ns
from typing import Any

from ratelimit_core.algorithms import AlgorithmMath
from ratelimit_core.decision import Decision
from ratelimit_core.policy import Outcome, Policy

__all__ = ["MemoryStore"]

_Entry = tuple[str, str]  # (policy namespace of one rate, key)


class MemoryStore:
    """Limiter state in this process, for one event loop.

    Each decision runs from start to end without an ``await``, which makes it
    atomic on its event loop: no lock is needed. Do not share one store
    between threads or event loops.

    Args:
        clock: A zero-argument callable returning seconds (any origin). Default:
            the monotonic clock. Tests inject one and advance it instead of
            sleeping.
        max_keys: At most this many (rate, key) states are held. When full, a
            new key first takes the place of an expired state (one whose limit
            is fully restored), else of the least recently used one.

    A state whose limit is fully restored carries no information and is
    dropped: when its key is next written, when it is among the oldest
    entries as new keys arrive, or when the store is full. Evicting a state
    that has *not* expired forgets that key's usage: it starts afresh. Choose
    ``max_keys`` above the number of clients active within your longest period.
    """

    __slots__ = ("_clock", "_data", "_maths", "_max_keys", "_sweep_credit")

    def __init__(self, *, clock: Callable[[], float] | None = None, max_keys: int = 100_000) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be an int >= 1, got {max_keys!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        self._data: OrderedDict[_Entry, Any] = OrderedDict()  # least recently used first
        self._maths: dict[str, AlgorithmMath] = {}  # namespace -> its arithmetic, for expiry
        self._max_keys = max_keys
        # Nanoseconds, whole microseconds for an injected clock (seconds are rounded to the µs).
        self._clock: Callable[[], int] = monotonic_ns if clock is None else _seconds_to_ns(clock)
        self._sweep_credit = 0  # inserts until the next full sweep for expired states may run

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._data)}, max_keys={self._max_keys})"

    def __len__(self) -> int:
        """How many (rate, key) states are held."""
        return len(self._data)

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        return self.hit_nowait(policy, key, cost)

    def hit_nowait(self, policy: Policy, key: str, cost: int) -> Decision:
        """:meth:`hit` without a coroutine: the limiter's fast path (nothing here awaits)."""
        now = self._clock() // 1000
        data = self._data
        math = policy.single
        if math is not None:  # one rate: the common case, without lists
            entry = (policy.namespaces[0], key)
            state = data.get(entry)
            allowed, new, remaining, reset, retry = math.step(state, now, cost)
            if new is not None:
                if state is None:
                    self._insert(entry, new, math, now)
                else:
                    data[entry] = new
                    data.move_to_end(entry)
            elif state is not None:
                data.move_to_end(entry)
            return policy.decision_of(allowed, remaining, reset, retry)

        entries = [(namespace, key) for namespace in policy.namespaces]
        states = [data.get(e) for e in entries]
        steps = [m.step(s, now, cost) for m, s in zip(policy.maths, states, strict=True)]
        outcomes: list[Outcome]
        if all(s[0] for s in steps):
            for entry, state in zip(entries, states, strict=True):
                if state is not None:
                    data.move_to_end(entry)  # touched first, so making room never takes them
            for entry, state, math, step in zip(entries, states, policy.maths, steps, strict=True):
                if step[1] is None:
                    continue
                if state is None:
                    self._insert(entry, step[1], math, now)
                else:
                    data[entry] = step[1]
            outcomes = [(True, s[2], s[3], 0) for s in steps]
        else:
            # All or nothing: report the rates that would have admitted as they stand.
            outcomes = []
            for entry, state, math, step in zip(entries, states, policy.maths, steps, strict=True):
                if state is not None:
                    data.move_to_end(entry)
                view = step if not step[0] else math.step(state, now, 0)
                outcomes.append((step[0], view[2], view[3], step[4]))
        return policy.decision(outcomes)

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        now = self._clock() // 1000
        outcomes: list[Outcome] = []
        for namespace, math in zip(policy.namespaces, policy.maths, strict=True):
            state = self._data.get((namespace, key))
            step = math.step(state, now, cost)
            view = step if not step[0] or not cost else math.step(state, now, 0)
            outcomes.append((step[0], view[2], view[3], step[4]))
        return policy.decision(outcomes)

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        for namespace in policy.namespaces:
            self._data.pop((namespace, key), None)

    def _insert(self, entry: _Entry, state: Any, math: AlgorithmMath, now: int) -> None:
        """Add a new key's state, making room first; drop the oldest state if it has expired."""
        data = self._data
        self._maths[entry[0]] = math
        if len(data) >= self._max_keys:
            self._make_room(now)
        elif data:
            oldest = next(iter(data))
            if self._maths[oldest[0]].expires_at(data[oldest]) <= now:
                del data[oldest]
        data[entry] = state
        self._sweep_credit -= 1

    def _make_room(self, now: int) -> None:
        """Free one place: expired states first, else the least recently used one.

        A full sweep for expired states costs O(max_keys), so it runs at most
        once per ``max_keys // 8`` inserts; in between, the least recently used
        state goes.
        """
        data, maths = self._data, self._maths
        if self._sweep_credit <= 0:
            self._sweep_credit = max(1, self._max_keys // 8)
            expired = [e for e, state in data.items() if maths[e[0]].expires_at(state) <= now]
            for entry in expired:
                del data[entry]
        while len(data) >= self._max_keys:
            data.popitem(last=False)


def _seconds_to_ns(clock: Callable[[], float]) -> Callable[[], int]:
    def now_ns() -> int:
        return round(clock() * 1_000_000) * 1000

    return now_ns
