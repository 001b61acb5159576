"""Waiting for room: the waiters of one key, in arrival order, served by one timer.

``Limiter.wait`` and an ``acquire`` that waits take a turn in their key's
queue (per event loop, per store, per limiter policy): only the waiter at the
head asks the store, and sleeps on one timer until the ``retry_after`` it was
given; the others wait for their turn, without timers or store calls of their
own. When the head is admitted (or gives up) the next one asks at once.

A concurrency cap knows no time at which a slot frees. Within a process the
head is woken as soon as a slot of its key is released here (:func:`nudge`);
a slot freed by another process is found by the head's asking again,
backing off from ``pauses.POLL_FIRST`` to ``pauses.POLL_MAX``: one poll per key at
a time, whatever the number of waiters.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

__all__ = ["Queue", "nudge", "queued", "served", "turn"]

T = TypeVar("T")

#: The queue of each (loop, store, policy, key) that has waiters: gone when its last waiter leaves.
_QUEUES: dict[tuple[object, ...], Queue] = {}


class Queue:
    """The waiters of one key: futures in arrival order; the head's is done (it may ask)."""

    __slots__ = ("alarm", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.alarm: asyncio.Future[None] | None = None  # what the head sleeps on: a nudge ends it early

    async def pause(self, seconds: float) -> None:
        """The head's sleep: ``seconds``, or until a slot of its key is freed here (one timer)."""
        alarm = self.alarm = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((alarm,), timeout=seconds)
        finally:
            self.alarm = None
            alarm.cancel()


def _slot(store: object, namespace: tuple[str, ...], key: str) -> tuple[object, ...]:
    return asyncio.get_running_loop(), id(store), namespace, key


def queued(store: object, namespace: tuple[str, ...], key: str) -> bool:
    """Whether some waiter of this process waits for ``key``: a newcomer then queues behind it."""
    return bool(_QUEUES) and _slot(store, namespace, key) in _QUEUES


@asynccontextmanager
async def turn(
    store: object, namespace: tuple[str, ...], key: str, deadline: float | None = None
) -> AsyncIterator[Queue]:
    """Wait for this waiter's turn at the head of the key's queue; on leaving, the next one's turn comes.

    ``TimeoutError`` when the turn has not come by ``deadline`` (loop time).
    A timeout or a cancellation while waiting leaves the queue as it was but
    for this waiter.
    """
    slot = _slot(store, namespace, key)
    queue = _QUEUES.get(slot)
    if queue is None:
        queue = _QUEUES[slot] = Queue()
    mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    if not queue.waiters:
        mine.set_result(None)
    queue.waiters.append(mine)
    try:
        async with asyncio.timeout_at(deadline):
            await mine
        yield queue
    finally:
        queue.waiters.remove(mine)
        if queue.waiters:
            head = queue.waiters[0]
            if not head.done():
                head.set_result(None)
        elif _QUEUES.get(slot) is queue:
            del _QUEUES[slot]


async def served(
    where: tuple[object, tuple[str, ...], str],
    deadline: float | None,
    ask: Callable[[], Awaitable[T]],
    pause: Callable[[T], float | None],
) -> T:
    """Ask the store, in this waiter's turn, until ``pause`` says the answer is final.

    ``where`` is the key's queue (store, namespace, key). A waiter asks at
    once when no waiter of this process waits for the key; else it waits for
    its turn. ``pause(answer)`` is ``None`` for a final answer, else the seconds
    to sleep (on the queue's one timer) before asking again; it raises to give
    up. ``TimeoutError`` when the turn has not come by ``deadline``.
    """
    loop = asyncio.get_running_loop()
    seconds: float | None = None
    answered = 0.0  # loop time of the answer that said ``seconds``
    if not queued(*where):  # nobody of this process waits for the key: ask at once
        answer = await ask()
        seconds, answered = pause(answer), loop.time()
        if seconds is None:
            return answer
    async with turn(*where, deadline) as queue:
        while True:
            # What is left of the wait: the turn may have come after waiters ahead were served.
            rest = 0.0 if seconds is None else seconds - (loop.time() - answered)
            if rest > 0:
                await queue.pause(rest)
            answer = await ask()
            seconds, answered = pause(answer), loop.time()
            if seconds is None:
                return answer


def nudge(store: object, namespace: tuple[str, ...], key: str) -> None:
    """Wake the head of the key's queue now: room was made here (a slot freed, units given back)."""
    if _QUEUES:
        queue = _QUEUES.get(_slot(store, namespace, key))
        if queue is not None and queue.alarm is not None and not queue.alarm.done():
            queue.alarm.set_result(None)
