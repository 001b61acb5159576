"""What a MemoryStore holds for :meth:`Limiter.block <ratelimit_core.Limiter.block>`: each key's block."""

from __future__ import annotations

from collections import OrderedDict

from ratelimit_core.executor import Block, block_end, blocking, repaired

__all__ = ["Blocks"]


class Blocks:
    """Each key's :data:`~ratelimit_core.executor.Block`, by limiter name; at most ``max_keys`` in all.

    Blocks that have ended are dropped when the bound is reached; past the
    bound, old blocks are forgotten first.
    """

    __slots__ = ("by_name", "max_keys", "size")

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.size = 0
        #: name -> key -> block, the block set longest ago first: empty while no key is blocked.
        self.by_name: dict[str, OrderedDict[str, Block]] = {}

    def clear(self) -> None:
        """Lift every block (``by_name`` stays the same dict: the fast path holds it)."""
        self.by_name.clear()
        self.size = 0

    def end(self, name: str, key: str, now: int, *, repair: bool = True) -> int:
        r"""When ``key``'s block ends (:func:`~ratelimit_core.executor.block_end`); 0 when it has none.

        A decision ``repair``\ s a block read from a clock that went back; a peek does not.
        """
        ends = self.by_name.get(name)
        if ends is None:
            return 0
        block = ends.get(key)
        end = block_end(block, now)
        if end <= now:  # kept until room is needed, as the other stores keep it until it expires
            return 0
        fixed = repaired(block, now) if repair else None
        if fixed is not None:
            ends[key] = fixed
        return end

    def block(self, name: str, key: str, duration: int, now: int) -> int:
        """Block ``key`` for ``duration`` µs, or longer when it already is; the µs its block lasts from now."""
        ends = self.by_name.get(name)
        block = blocking(None if ends is None else ends.get(key), now, duration)
        if block is None:
            return 0
        ends = self.by_name.setdefault(name, OrderedDict())
        if key in ends:
            del ends[key]
        else:
            self.size += 1
        ends[key] = block
        if self.size > self.max_keys:
            self._make_room(now)
        return block[0] - now

    def drop(self, name: str, key: str) -> None:
        """Forget ``key``'s block (a reset)."""
        ends = self.by_name.get(name)
        if ends is not None and ends.pop(key, None) is not None:
            self.size -= 1
            if not ends:
                del self.by_name[name]

    def _make_room(self, now: int) -> None:
        for name, ends in list(self.by_name.items()):
            for key in [key for key, block in ends.items() if block_end(block, now) <= now]:
                self.drop(name, key)
        while self.size > self.max_keys:
            name = next(iter(self.by_name))
            self.drop(name, next(iter(self.by_name[name])))
