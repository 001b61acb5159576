"""What every transport does around an exchange, in no colour: its settings, keys, local pauses and learning.

A transport (httpx async or sync, the aiohttp middleware) asks a :class:`Gate`
which limiter admits a request's key, at what cost; sends the request; hands
the response's status and headers to :meth:`Gate.read`; blocks the key on the
store for the pause it says; and adopts the limits it announces
(:meth:`Gate.adopt`). The I/O (waiting, the store's calls) is the shell's.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from ratelimit_client.headers import Quota, Reading, read
from ratelimit_core import Algorithm, Rate
from ratelimit_core.checks import check_timeout
from ratelimit_core.wrapper import capabilities

__all__ = ["IDEMPOTENT", "NAME", "Gate", "by_host"]

logger = logging.getLogger("ratelimit_client")

#: The limiter name of the limits a transport learns, and of their pauses, when it is given no limiter.
NAME = "ratelimit-client"
#: The methods retried after a 429 or a 503 when ``retries`` allows: those RFC 9110 calls idempotent.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: The window of a ``requests`` quota that announces none (OpenAI and Anthropic limits are per minute).
REQUESTS_WINDOW = 60.0
#: How long a learned limit stays noted in the store for other processes (µs): a day, renewed when it changes.
NOTE_TTL = 86_400_000_000
#: Keys whose local pause is remembered; the oldest go first past it.
_MAX_PAUSES = 10_000
#: Keys whose learned limit is remembered in the process; the oldest go first past it.
_MAX_KEYS = 10_000

#: The limiter type of a colour (``ratelimit_core.Limiter`` or ``ratelimit_core.sync.Limiter``).
L = TypeVar("L")


def by_host(url: str) -> str:
    """The default key: the request's host (and its port, when it names one)."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2].lower() or url


class Gate(Generic[L]):
    """A transport's settings, checked once, and what it remembers between exchanges.

    Args: as the transports' (``limiter_type`` is the colour's ``Limiter``;
    ``store_of`` finds a limiter's store).
    """

    def __init__(
        self,
        limiter_type: Callable[..., L],
        limiter: L | None,
        *,
        key: Callable[[Any], str] | None,
        cost: Callable[[Any], int] | None,
        settle: Callable[[Any], int] | None,
        timeout: float | None,
        store: object | None,
        learn: bool,
        max_wait: float,
        retries: int,
        retry_methods: Iterable[str],
        failed_cost: int,
    ) -> None:
        for name, function in (("key", key), ("cost", cost), ("settle", settle)):
            if function is not None and not callable(function):
                raise TypeError(f"{name} must be a function of the request (or of the response), got {function!r}")
        check_timeout(timeout)
        if not _seconds(max_wait) or max_wait == 0:
            raise ValueError(f"max_wait must be a finite number of seconds > 0, got {max_wait!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        if isinstance(failed_cost, bool) or not isinstance(failed_cost, int) or failed_cost < 0:
            raise ValueError(f"failed_cost must be an int >= 0, got {failed_cost!r}")
        if not isinstance(learn, bool):
            raise TypeError(f"learn must be a bool, got {learn!r}")
        methods = frozenset(m.upper() for m in ([retry_methods] if isinstance(retry_methods, str) else retry_methods))
        if limiter is not None:
            if not isinstance(limiter, limiter_type):  # type: ignore[arg-type]
                raise TypeError(f"limiter must be a {limiter_type.__module__}.Limiter, got {limiter!r}")
            given: Any = limiter
            if store is not None and store is not given.store:
                raise ValueError(
                    "store= is where pauses live without a limiter; a limiter keeps them in its own store "
                    f"({given.store!r}), so give one or the other"
                )
            if settle is not None and given.cap is not None:
                raise ValueError("settle= reserves units, which a limiter with a concurrency cap cannot do")
        elif cost is not None or settle is not None:
            raise ValueError("cost= and settle= count units of the limiter you give; learned limits count requests")
        self.limiter = limiter
        self.key = key
        self.cost = cost
        self.settle = settle
        self.timeout = None if timeout is None else float(timeout)
        self.learn = learn
        self.max_wait = float(max_wait)
        self.retries = retries
        self.retry_methods = methods
        self.failed_cost = failed_cost
        self.malformed = 0  # headers ignored because they could not be read
        self._make = limiter_type
        # Without a limiter: a limiter that only reads the key's pause (it is asked for 0 units), on the
        # store every learned limit of this transport uses too (the colour's MemoryStore when none is given).
        self.pauses: L = limiter if limiter is not None else limiter_type("1/second", name=NAME, store=store)
        shared: Any = self.pauses
        self._store = shared.store
        # key -> its learned rates and their limiter (no rates: it announces none), the oldest first out.
        self._learned: OrderedDict[str, tuple[tuple[Rate, ...], L]] = OrderedDict()
        # Where learned limits are noted for the other processes: the store, when it keeps notes.
        self.notes: Any = shared.store if limiter is None and learn and capabilities(shared.store).noting else None
        self._paused: OrderedDict[str, float] = OrderedDict()  # key -> monotonic end of its pause

    # -- before the exchange ----------------------------------------------------------------

    def key_of(self, request: Any, host: Callable[[Any], str]) -> str:
        """The request's key: ``key(request)``, or without a key function ``host(request)`` (the shell's
        reading of :func:`by_host`); a key function that gives no ``str`` is a ``TypeError`` naming it."""
        if self.key is None:
            return host(request)
        key = self.key(request)
        if key.__class__ is not str:
            raise TypeError(f"the key function {self.key!r} gave {key!r}, not a str")
        return key

    def cost_of(self, request: Any) -> int:
        """The units the request takes: ``cost(request)``, or 1."""
        if self.cost is None:
            return 1
        units = self.cost(request)
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise ValueError(f"the cost function {self.cost!r} gave {units!r}, not an int >= 0")
        return units

    def limiter_for(self, key: str) -> tuple[L, bool]:
        """The limiter that admits ``key``, and whether it counts units (else it only reads the key's pause)."""
        if self.limiter is not None:
            return self.limiter, True
        learned = self._learned.get(key)
        if learned is None or not learned[0]:  # unknown, or it announces nothing: only its pauses hold it
            return self.pauses, False
        return learned[1], True

    def knows(self, key: str) -> bool:
        """Whether ``key``'s limit is learned (or nothing is to learn: a limiter is given, or ``learn`` is off)."""
        return self.limiter is not None or not self.learn or key in self._learned

    def paused(self, key: str) -> float:
        """Seconds left of the pause this process knows for ``key`` (0: none); no round trip."""
        end = self._paused.get(key)
        if end is None:
            return 0.0
        left = end - time.monotonic()
        if left <= 0:
            self._paused.pop(key, None)
            return 0.0
        return left

    def remember_pause(self, key: str, seconds: float) -> bool:
        """Keep ``key``'s pause in this process, so that no call asks the store until it ends.

        Returns whether it ends later than the pause already known (by more
        than a millisecond): only then is it written to the store, so that a
        burst of 429s answered together makes one write.
        """
        end = time.monotonic() + seconds
        if seconds <= 0 or end <= self._paused.get(key, 0.0) + 0.001:
            return False
        self._paused[key] = end
        if len(self._paused) > _MAX_PAUSES:
            with contextlib.suppress(KeyError):  # another thread took it first
                self._paused.popitem(last=False)
        return True

    def deadline(self) -> float | None:
        """The monotonic time past which a call must not wait (``None``: no bound)."""
        return None if self.timeout is None else time.monotonic() + self.timeout

    # -- after the exchange ----------------------------------------------------------------

    def read(self, status: int, headers: Iterable[tuple[str, str]]) -> Reading:
        """What the response says; its unreadable headers are counted (and logged at debug level)."""
        try:
            reading = read(status, headers, now=time.time(), max_wait=self.max_wait)
        except Exception:  # a reader's bug must not fail the caller's request: the response goes on, unread
            self.malformed += 1
            logger.exception("could not read a response's rate limit headers; they are ignored")
            return Reading()
        if reading.malformed:
            self.malformed += len(reading.malformed)
            logger.debug("ignored rate limit headers that could not be read: %s", ", ".join(reading.malformed))
        return reading

    def adopt(self, key: str, reading: Reading) -> tuple[L, Quota] | None:
        """Adopt the limits ``reading`` announces for ``key`` (without a limiter, with ``learn``).

        Returns the new limiter and the quota to bring it in line with (what
        the upstream says is left), or ``None`` when nothing changed. A quota of
        requests (``RateLimit-Policy``, ``x-ratelimit-*-requests``, the legacy
        headers with a window) counts; token quotas pause the key when spent,
        but a limiter without ``cost`` cannot count tokens.
        """
        if self.limiter is not None or not self.learn:
            return None
        quotas = [q for q in reading.quotas if q.limit and _window(q) and "token" not in q.name]
        if not quotas:
            if key not in self._learned:  # nothing to learn here: the key is limited by its pauses alone
                self._keep(key, (), self.pauses)
            return None
        try:
            rates = tuple(sorted({_paced(q.limit or 0, _window(q) or 0) for q in quotas}, key=lambda r: r.period_us))
            current = self._learned.get(key)
            if current is not None and current[0] == rates:
                return None
            limiter = self._make(list(rates), name=NAME, store=self._store, algorithm=Algorithm.TOKEN_BUCKET)
        except ValueError as exc:  # a limit the store cannot run (a window below a µs, a count past its arithmetic)
            self.malformed += 1
            logger.warning("ignored a limit the upstream announced for a key, which no limiter can hold: %s", exc)
            if key not in self._learned:
                self._keep(key, (), self.pauses)
            return None
        self._keep(key, rates, limiter)
        tightest = min(quotas, key=lambda q: q.remaining if q.remaining is not None else math.inf)
        return limiter, tightest

    def note(self, key: str) -> bytes:
        """``key``'s learned limit as noted in the store: ``limit/period µs/burst`` per rate, comma-separated."""
        return ",".join(f"{r.limit}/{r.period_us}/{r.burst}" for r in self._learned[key][0]).encode()

    def adopt_note(self, key: str, text: bytes) -> bool:
        """Adopt the limit another process noted for ``key``; whether it could be read (else it is ignored)."""
        try:
            rates = tuple(
                Rate(int(limit), int(period) / 1_000_000, burst=int(burst))
                for limit, period, burst in (part.split("/") for part in text.decode("ascii").split(","))
            )
            limiter = self._make(list(rates), name=NAME, store=self._store, algorithm=Algorithm.TOKEN_BUCKET)
        except (ValueError, TypeError, UnicodeDecodeError):
            logger.debug("ignored a learned limit noted in the store that could not be read: %r", text)
            return False
        self._keep(key, rates, limiter)
        return True

    def _keep(self, key: str, rates: tuple[Rate, ...], limiter: L) -> None:
        """Remember ``key``'s learned limit; past :data:`_MAX_KEYS` keys the oldest learned is forgotten (its
        next request learns again, from the store's note when there is one)."""
        self._learned[key] = (rates, limiter)
        if len(self._learned) > _MAX_KEYS:
            with contextlib.suppress(KeyError):  # another thread took it first
                self._learned.popitem(last=False)

    def retry(self, method: str, status: int, reading: Reading, attempt: int, deadline: float | None) -> bool:
        """Whether to send the request again once its pause ends."""
        if status not in (429, 503) or attempt >= self.retries or method.upper() not in self.retry_methods:
            return False
        pause = reading.pause or 0.0
        return deadline is None or time.monotonic() + pause <= deadline


def deficit(remaining: Sequence[int], upstream: int | None) -> int:
    """How many units to charge so that the limiter holds no more than the upstream says is left."""
    if upstream is None or not remaining:
        return 0
    return max(0, min(remaining) - upstream)


def _paced(limit: int, window: float) -> Rate:
    """The rate adopted for an announced quota: its limit per window, with a burst of half the limit.

    The other half is headroom: requests reach the upstream later than this
    client admits them, by varying delays, and a run of delayed requests
    arriving together must still fit the upstream's bucket.
    """
    return Rate(limit, window, burst=max(1, limit // 2))


def _window(quota: Quota) -> float | None:
    if quota.window:
        return quota.window
    return REQUESTS_WINDOW if quota.name == "requests" else None


def _seconds(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value >= 0
