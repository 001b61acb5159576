"""What a MemoryStore holds for :class:`~ratelimit_core.store.Noting`: each key's note, until it expires."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["MAX_NOTE", "Notes", "check_note"]

#: The longest note, in bytes.
MAX_NOTE = 1024


def check_note(text: object, ttl: object) -> None:
    """A note is ``bytes`` of at most :data:`MAX_NOTE` (else ``TypeError``/``ValueError``), ``ttl`` an int > 0 µs."""
    if not isinstance(text, bytes):
        raise TypeError(f"a note is bytes, got {type(text).__name__}")
    if len(text) > MAX_NOTE:
        raise ValueError(f"a note holds at most {MAX_NOTE} bytes, got {len(text)}")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ValueError(f"a note's ttl must be an int >= 1 µs, got {ttl!r}")


class Notes:
    """Notes by (limiter name, key): ``(text, expiry µs)``, at most ``max_keys``, the oldest written first out."""

    __slots__ = ("_notes", "max_keys")

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._notes: OrderedDict[tuple[str, str], tuple[bytes, int]] = OrderedDict()

    def clear(self) -> None:
        self._notes.clear()

    def write(self, name: str, key: str, text: bytes, expires: int) -> None:
        slot = (name, key)
        self._notes.pop(slot, None)
        self._notes[slot] = (text, expires)
        while len(self._notes) > self.max_keys:
            self._notes.popitem(last=False)

    def read(self, name: str, key: str, now: int) -> bytes | None:
        note = self._notes.get((name, key))
        if note is None or note[1] <= now:
            return None
        return note[0]
