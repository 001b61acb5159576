"""Rate limit header fields: the ``X-RateLimit-*`` trio and the IETF draft's pair.

``RateLimit-Policy`` and ``RateLimit`` follow draft-ietf-httpapi-ratelimit-headers-11:
each is an RFC 9651 structured-field list, one member per rate, a quoted
policy name with parameters::

    RateLimit-Policy: "default";q=100;w=60
    RateLimit: "default";r=37;t=12

``q`` is the most a client can take at once (the rate's limit, or its burst
when larger), ``w`` the seconds over which ``q`` comes back (the period,
scaled by ``burst / limit``; only when whole), ``r`` the units left and ``t``
the seconds until the rate is full again, rounded up. On a denial, a policy
that denied has ``t`` equal to ``Retry-After`` (draft-11 section 6: never
earlier). The ``X-RateLimit-*`` trio says the same (``Limit`` is ``q``). Every
integer is clamped to 15 digits, the most a structured field may carry.

A concurrency cap is a member of its own (``<name>/concurrent`` beside rates),
``qu="concurrent-requests"`` and no ``w`` in the policy (draft-11 section
3.1.2), ``r`` the free slots and no ``t``: no time is known at which a slot
frees. A cap's denial sends no ``Retry-After`` for the same reason, and when
the cap binds, no ``X-RateLimit-Reset`` (a ``0`` would invite a retry at once).

    RateLimit-Policy: "api/1min";q=100;w=60, "api/concurrent";q=2;qu="concurrent-requests"
    RateLimit: "api/1min";r=37;t=12, "api/concurrent";r=1
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from ratelimit_core import Concurrency, Decision, Rate, RateStatus

__all__ = ["Fields", "HeaderMode", "retry_after_value", "with_fields"]

HeaderMode = Literal["both", "ietf", "x-ratelimit", "none"]
HEADER_MODES = ("both", "ietf", "x-ratelimit", "none")

Header = tuple[bytes, bytes]


def _sf_string(text: str) -> str:
    """``text`` as a structured-field string: printable ASCII, quotes and backslashes escaped."""
    clean = "".join(c if " " <= c <= "~" else "_" for c in text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _period_label(rate: Rate) -> str:
    seconds = rate.period
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    return f"{rate.period_us}us"


Limit = Rate | Concurrency


def policy_names(name: str, rates: Sequence[Limit]) -> tuple[str, ...]:
    """One policy name per rate: the limiter's name, or ``name/<period>`` when it has several.

    A concurrency cap among them is ``name/concurrent``.
    """
    if len(rates) == 1:
        return (name,)
    names = [f"{name}/{_label(r)}" for r in rates]
    if len(set(names)) != len(names):
        names = [f"{name}/{_label(r, r.limit)}" for r in rates]
    return tuple(names)


def _label(limit: Limit, count: int | None = None) -> str:
    if isinstance(limit, Concurrency):
        return "concurrent"
    return _period_label(limit) if count is None else f"{count}-{_period_label(limit)}"


#: The largest integer a structured field may carry (RFC 9651: 15 digits).
MAX_INTEGER = 999_999_999_999_999


def _int(value: float) -> int:
    """Whole seconds or units for a field: rounded up, clamped to 15 digits."""
    return min(MAX_INTEGER, math.ceil(value))


def retry_seconds(decision: Decision) -> int | None:
    """``Retry-After`` in whole seconds, rounded up, at least 1; ``None`` when it never fits."""
    if decision.retry_after is None:
        return None
    return max(1, _int(decision.retry_after))


def retry_seconds_of(status: RateStatus) -> int:
    """One denying rate's wait in whole seconds, rounded up, at least 1 (``status.retry_after`` is set)."""
    assert status.retry_after is not None  # noqa: S101 - called for denying rates that can fit
    return max(1, _int(status.retry_after))


def retry_after_value(decision: Decision) -> bytes | None:
    """:func:`retry_seconds` as the field's bytes."""
    seconds = retry_seconds(decision)
    return None if seconds is None else b"%d" % seconds


class Fields:
    """Builds the header fields of one limiter, with what never changes done once."""

    __slots__ = ("_both_one", "_ietf", "_limits", "_members", "_names", "_one", "_policy", "_small", "_x")

    def __init__(self, name: str, rates: Sequence[Limit], mode: HeaderMode) -> None:
        if mode not in HEADER_MODES:
            raise ValueError(f"headers must be one of {HEADER_MODES}, got {mode!r}")
        self._x = mode in ("both", "x-ratelimit")
        self._ietf = mode in ("both", "ietf")
        self._names = dict(zip(rates, policy_names(name, rates), strict=True))
        names = [_sf_string(n) for n in self._names.values()]
        self._members = dict(zip(rates, names, strict=True))
        self._one = names[0].encode() if len(names) == 1 else None  # one rate: no per-rate statuses needed
        policies = []
        for rate, member in zip(rates, names, strict=True):
            if isinstance(rate, Concurrency):
                policies.append(f'{member};q={min(MAX_INTEGER, rate.limit)};qu="concurrent-requests"')
                continue
            seconds = rate.period * rate.capacity / rate.limit  # q units come back over this
            window = f";w={_int(seconds)}" if float(seconds).is_integer() else ""
            policies.append(f"{member};q={min(MAX_INTEGER, rate.capacity)}{window}")
        self._policy = (b"ratelimit-policy", ", ".join(policies).encode())
        self._limits = {rate: (b"x-ratelimit-limit", b"%d" % min(MAX_INTEGER, rate.capacity)) for rate in rates}
        # No figure of these rates can pass 15 digits: no clamping per decision.
        self._small = all(
            isinstance(rate, Rate) and rate.capacity <= MAX_INTEGER and rate.period * rate.capacity / rate.limit < 1e14
            for rate in rates
        )
        # The default case (one such rate, both sets of fields): its limit field and the start of its member.
        self._both_one: tuple[Header, bytes] | None = None
        if self._one is not None and self._small and self._x and self._ietf:
            self._both_one = (self._limits[rates[0]], self._one + b";r=")

    def of(self, decision: Decision) -> list[Header]:
        """The fields for ``decision`` (an empty list with ``headers="none"``)."""
        both_one = self._both_one
        if both_one is not None and decision.allowed:  # the default case, built straight: the same fields
            limit, member = both_one
            r, t = b"%d" % decision.remaining, b"%d" % math.ceil(decision.reset_after)
            state = b"".join((member, r, b";t=", t))
            return [
                limit,
                (b"x-ratelimit-remaining", r),
                (b"x-ratelimit-reset", t),
                self._policy,
                (b"ratelimit", state),
            ]
        if self._small:
            remaining, reset = decision.remaining, math.ceil(decision.reset_after)
        else:
            remaining, reset = min(MAX_INTEGER, decision.remaining), _int(decision.reset_after)
        retry = None
        if not decision.allowed:
            retry = retry_seconds(decision)
            if retry is not None:
                reset = retry  # the binding rate denied: its t is Retry-After
        out: list[Header] = []
        if self._x:
            limit, left = self._limits[decision.rate], (b"x-ratelimit-remaining", b"%d" % remaining)
            if decision.rate.__class__ is Concurrency:  # a cap knows no time at which a slot frees
                out += [limit, left]
            else:
                out += [limit, left, (b"x-ratelimit-reset", b"%d" % reset)]
        if self._ietf:
            if self._one is not None and isinstance(decision.rate, Concurrency):
                state = b"%s;r=%d" % (self._one, remaining)
            elif self._one is not None:
                state = b"%s;r=%d;t=%d" % (self._one, remaining, reset)
            else:
                state = ", ".join(self._member(s, retry) for s in decision.statuses).encode()
            out += [self._policy, (b"ratelimit", state)]
        return out

    def violated(self, decision: Decision) -> list[str]:
        """The names of the policies that denied ``decision`` (its ``RateLimit`` members)."""
        return [self._names[s.rate] for s in decision.statuses if not s.allowed]

    def _member(self, status: RateStatus, retry: int | None) -> str:
        if isinstance(status.rate, Concurrency):  # free slots; no time is known at which one frees
            return f"{self._members[status.rate]};r={min(MAX_INTEGER, status.remaining)}"
        reset = _int(status.reset_after)
        if retry is not None and not status.allowed:  # a policy that denied: never earlier than Retry-After
            reset = retry if status.retry_after is None else min(retry, retry_seconds_of(status))
        return f"{self._members[status.rate]};r={min(MAX_INTEGER, status.remaining)};t={reset}"


def with_fields(headers: Iterable[Header], fields: Sequence[Header]) -> list[Header]:
    """The app's headers and the limit fields; a field the app set itself is the app's (sent once)."""
    for name, _ in headers:
        if name and name[0] in _FIELD_INITIALS:  # the app may have set one of ours: look closer
            own = {name.lower() for name, _ in headers}
            return [*headers, *(field for field in fields if field[0] not in own)]
    return [*headers, *fields]


#: The first bytes of our field names, either case (``b"xXrR"`` as ints: ``name[0]`` is an int).
_FIELD_INITIALS = frozenset(b"xXrR")
