"""Waiting for room, for threads: the waiters of one key in arrival order, the head asking the store.

The twin of :mod:`ratelimit_core.waiting` (see it for the rules): a thread
takes a turn in its key's queue (per store, limiter policy and key, across
the process's threads); only the head asks the store and sleeps until the
``retry_after`` it was given, or until a release here wakes it
(:func:`nudge`); the others wait for their turn without asking. A thread
that must wait asks once more as it becomes the head, so that no release
made between its first ask and its queueing is missed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["nudge", "served"]

T = TypeVar("T")

_LOCK = threading.Lock()  # guards _QUEUES and every queue in it
_QUEUES: dict[tuple[object, ...], _Queue] = {}


class _Queue:
    __slots__ = ("alarm", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[threading.Event] = deque()  # in arrival order; the head's is set
        # What the head sleeps on. The head clears it before it asks, and a nudge sets it: a slot freed
        # while the head was asking wakes it as surely as one freed while it sleeps.
        self.alarm = threading.Event()


def _slot(store: object, namespace: tuple[str, ...], key: str) -> tuple[object, ...]:
    return id(store), namespace, key


@contextmanager
def _turn(slot: tuple[object, ...], deadline: float | None) -> Iterator[_Queue]:
    """Wait for the head of the key's queue (``TimeoutError`` past ``deadline``, monotonic seconds)."""
    mine = threading.Event()
    with _LOCK:
        queue = _QUEUES.get(slot)
        if queue is None:
            queue = _QUEUES[slot] = _Queue()
        if not queue.waiters:
            mine.set()
        queue.waiters.append(mine)
    try:
        if not mine.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
            raise TimeoutError
        yield queue
    finally:
        with _LOCK:
            queue.waiters.remove(mine)
            if queue.waiters:
                queue.waiters[0].set()
            elif _QUEUES.get(slot) is queue:
                del _QUEUES[slot]


def served(
    where: tuple[object, tuple[str, ...], str],
    deadline: float | None,
    ask: Callable[[], T],
    pause: Callable[[T], float | None],
) -> T:
    """Ask the store, in this thread's turn, until ``pause`` says the answer is final.

    As :func:`ratelimit_core.waiting.served`, with ``deadline`` on the
    monotonic clock: a thread asks at once when no thread of this process
    waits for the key, else it waits for its turn.
    """
    slot = _slot(*where)
    if slot not in _QUEUES:  # nobody here waits for the key: ask at once, and queue only to wait
        answer = ask()
        if pause(answer) is None:
            return answer
    with _turn(slot, deadline) as queue:
        while True:
            queue.alarm.clear()
            answer = ask()
            seconds = pause(answer)
            if seconds is None:
                return answer
            queue.alarm.wait(seconds)


def nudge(store: object, namespace: tuple[str, ...], key: str) -> None:
    """Wake the head of the key's queue now: room was made here (a slot freed, units given back)."""
    if _QUEUES:
        with _LOCK:
            queue = _QUEUES.get(_slot(store, namespace, key))
        if queue is not None:
            queue.alarm.set()
