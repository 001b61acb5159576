"""What the sync httpx transport does around an exchange: the I/O of a :class:`~ratelimit_client.gate.Gate`'s
decisions, in blocking calls from any thread; the twin of :mod:`ratelimit_client.flow`.

Written from flow.py by scripts/unasync_client.py: edit flow.py, then run ``hatch run client:unasync``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ratelimit_client.exchange import exceeded, log_store_failure
from ratelimit_client.gate import NOTE_TTL, Gate, deficit
from ratelimit_client.headers import Reading
from ratelimit_core import RateLimitExceeded, Reservation
from ratelimit_core.failures import BACKEND_ERRORS
from ratelimit_core.sync import Hold, Limiter

__all__ = ["Flow", "Ticket"]


class Flow:
    """A gate, and the requests of this process that are teaching their key's limit (one per key)."""

    def __init__(self, gate: Gate[Limiter]) -> None:
        self.gate = gate
        self._teaching: dict[str, threading.Event] = {}
        self._lock = threading.Lock()  # guards _teaching

    def turn(self, key: str, deadline: float | None) -> bool:
        """Wait while another request teaches ``key``'s limit; whether this request is the one that teaches it
        (then :meth:`taught` must follow its response).

        The first request of an unknown key reads the limit another process
        noted in the store, if any: then nobody needs to teach it here.
        """
        while not self.gate.knows(key):
            with self._lock:
                teacher = self._teaching.get(key)
                if teacher is None:
                    self._teaching[key] = threading.Event()
            if teacher is None:
                if self._recall(key):
                    self.taught(key)
                    return False
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not teacher.wait(left):
                why = "timed out waiting for the first response to teach the limit"
                raise exceeded(None, why, self.gate.pauses.policy.limits[0])
        return False

    def taught(self, key: str) -> None:
        """The teaching request of ``key`` is done (answered or failed): the others go on."""
        with self._lock:
            self._teaching.pop(key).set()

    def admit(self, key: str, cost: int, deadline: float | None) -> Ticket:
        """Take the request's turn: its key's pause, then the limiter (waiting within ``deadline``)."""
        gate = self.gate
        limiter, counts = gate.limiter_for(key)
        pause = gate.paused(key)
        if pause:  # known here: no round trip until it ends
            if deadline is not None and time.monotonic() + pause > deadline:
                why = "the upstream paused this key for longer than the timeout"
                raise exceeded(pause, why, limiter.policy.limits[0])
            time.sleep(pause)
        units = cost if counts else 0
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not counts or (limiter.cap is None and gate.settle is None):
            limiter.wait(key, units, timeout=left)
            return _NOTHING
        if limiter.cap is not None:
            hold = limiter.acquire(key, cost, timeout=left)
            hold.__enter__()
            return Ticket(hold=hold)
        while True:
            reservation = limiter.reserve(key, cost)
            if reservation:
                return Ticket(reservation=reservation)
            wait = reservation.decision.retry_after
            if wait is None or (deadline is not None and time.monotonic() + wait > deadline):
                raise RateLimitExceeded(reservation.decision, "no room for the request within the timeout")
            time.sleep(wait)

    def learn(self, key: str, status: int, headers: Any) -> Reading:
        """Read a response: block the key for the pause it says, adopt (and note) the limits it announces."""
        gate = self.gate
        reading = gate.read(status, headers)
        if not (reading.pause or reading.quotas) and gate.knows(key):
            return reading  # most responses: nothing to keep
        try:
            if reading.pause and gate.remember_pause(key, reading.pause):
                gate.limiter_for(key)[0].block(key, reading.pause)
            adopted = gate.adopt(key, reading)
            if adopted is not None:
                limiter, quota = adopted
                now = limiter.peek(key, 0)
                units = deficit([s.remaining for s in now.statuses], quota.remaining)
                if units:
                    limiter.charge(key, units)
                if gate.notes is not None:
                    gate.notes.write_note(gate.pauses.policy, key, gate.note(key), NOTE_TTL)
        except BACKEND_ERRORS as exc:  # the response is the caller's all the same; the pause is kept here
            log_store_failure(exc)
        return reading

    def _recall(self, key: str) -> bool:
        gate = self.gate
        if gate.notes is None:
            return False
        try:
            text = gate.notes.read_note(gate.pauses.policy, key)
        except BACKEND_ERRORS as exc:
            log_store_failure(exc)
            return False
        return text is not None and gate.adopt_note(key, text)


class Ticket:
    """What a request took: a slot held for the exchange, or units reserved until its response is settled."""

    __slots__ = ("hold", "reservation")

    def __init__(self, hold: Hold | None = None, reservation: Reservation[Any] | None = None) -> None:
        self.hold = hold
        self.reservation = reservation

    def close(self, actual: int | None) -> None:
        """Settle the reservation at ``actual`` units (``None``: leave it at its estimate), free the slot."""
        try:
            if self.reservation is not None and actual is not None:
                self.reservation.settle(actual)
        finally:
            if self.hold is not None:
                self.hold.__exit__(None, None, None)


#: The ticket of a request that holds nothing: nothing to settle or free.
_NOTHING = Ticket()
