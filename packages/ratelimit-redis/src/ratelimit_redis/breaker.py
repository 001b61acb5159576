"""A circuit breaker: fail fast while a server is down, come back at once when it answers.

* **Closed**: every call goes to the server. ``failures`` failures in a row open it.
* **Open**: calls fail at once (microseconds, not a timeout) for ``cooldown`` seconds
  after the last failure.
* **Half-open**: then one call, the probe, goes through while the others still fail
  fast. The probe's success closes the breaker; its failure opens it again.

Any success closes it, so a call that was already in flight when it opened
and then succeeded closes it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Breaker"]


class Breaker:
    """See the module's docstring. Not thread-safe: one per event loop, like the store."""

    __slots__ = (
        "_clock",
        "_cooldown",
        "_failures",
        "_last_error",
        "_on_change",
        "_opened_at",
        "_probing",
        "_threshold",
    )

    def __init__(
        self,
        failures: int,
        cooldown: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._on_change = on_change  # told "open", "half_open" or "closed" as the breaker moves
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0  # in a row
        self._opened_at = 0.0  # when the last failure came, once open
        self._probing = False
        self._last_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Breaker({self.state}, failures={self._failures}/{self._threshold}, cooldown={self._cooldown:g})"

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` (a probe may go, or is under way)."""
        if self._failures < self._threshold:
            return "closed"
        if self._probing or self._clock() >= self._opened_at + self._cooldown:
            return "half_open"
        return "open"

    @property
    def probing(self) -> bool:
        """Is a probe under way?"""
        return self._probing

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def allow(self) -> bool:
        """May a call go to the server now? ``True`` in the half_open state makes that call the probe."""
        if self._failures < self._threshold:
            return True
        if self._probing or self._clock() < self._opened_at + self._cooldown:
            return False
        self._probing = True
        if self._on_change is not None:
            self._on_change("half_open")
        return True

    def retry_in(self) -> float:
        """Seconds until a probe may go (0 when one may go now or is under way)."""
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def success(self) -> None:
        if self._on_change is not None and self._failures >= self._threshold:
            self._on_change("closed")
        self._failures = 0
        self._probing = False

    def failure(self, error: BaseException) -> None:
        self._failures += 1
        self._last_error = error
        was_probing, self._probing = self._probing, False
        if self._failures >= self._threshold:
            self._opened_at = self._clock()
            if self._on_change is not None and (self._failures == self._threshold or was_probing):
                self._on_change("open")

    def abandon(self) -> None:
        """The probe ended without an answer (its caller was cancelled): another may go."""
        self._probing = False
