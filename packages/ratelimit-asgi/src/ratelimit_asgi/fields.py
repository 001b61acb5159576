"""Rate limit header fields: the ``X-RateLimit-*`` trio and the IETF draft's pair.

``RateLimit-Policy`` and ``RateLimit`` follow draft-ietf-httpapi-ratelimit-headers-11:
each is an RFC 9651 structured-field list, one member per rate, a quoted
policy name with parameters::

    RateLimit-Policy: "default";q=100;w=60
    RateLimit: "default";r=37;t=12

``q`` is the rate's limit, ``w`` its period in seconds (only when whole), ``r``
the units left and ``t`` the seconds until the rate is full again, rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from ratelimit_core import Decision, Rate

__all__ = ["Fields", "HeaderMode", "retry_after_value"]

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


def policy_names(name: str, rates: Sequence[Rate]) -> tuple[str, ...]:
    """One policy name per rate: the limiter's name, or ``name/<period>`` when it has several."""
    if len(rates) == 1:
        return (name,)
    names = [f"{name}/{_period_label(r)}" for r in rates]
    if len(set(names)) != len(names):
        names = [f"{name}/{r.limit}-{_period_label(r)}" for r in rates]
    return tuple(names)


def retry_after_value(decision: Decision) -> bytes | None:
    """``Retry-After`` in whole seconds, rounded up, at least 1; ``None`` when it never fits."""
    if decision.retry_after is None:
        return None
    return str(max(1, math.ceil(decision.retry_after))).encode()


class Fields:
    """Builds the header fields of one limiter, with what never changes done once."""

    __slots__ = ("_ietf", "_members", "_one", "_policy", "_x")

    def __init__(self, name: str, rates: Sequence[Rate], mode: HeaderMode) -> None:
        if mode not in HEADER_MODES:
            raise ValueError(f"headers must be one of {HEADER_MODES}, got {mode!r}")
        self._x = mode in ("both", "x-ratelimit")
        self._ietf = mode in ("both", "ietf")
        names = [_sf_string(n) for n in policy_names(name, rates)]
        self._members = dict(zip(rates, names, strict=True))
        self._one = names[0].encode() if len(names) == 1 else None  # one rate: no per-rate statuses needed
        policies = []
        for rate, member in zip(rates, names, strict=True):
            window = f";w={int(rate.period)}" if float(rate.period).is_integer() else ""
            policies.append(f"{member};q={rate.limit}{window}")
        self._policy = (b"ratelimit-policy", ", ".join(policies).encode())

    def of(self, decision: Decision) -> list[Header]:
        """The fields for ``decision`` (an empty list with ``headers="none"``)."""
        remaining, reset = decision.remaining, math.ceil(decision.reset_after)
        out: list[Header] = []
        if self._x:
            out += [
                (b"x-ratelimit-limit", b"%d" % decision.limit),
                (b"x-ratelimit-remaining", b"%d" % remaining),
                (b"x-ratelimit-reset", b"%d" % reset),
            ]
        if self._ietf:
            if self._one is not None:
                state = b"%s;r=%d;t=%d" % (self._one, remaining, reset)
            else:
                state = ", ".join(
                    f"{self._members[s.rate]};r={s.remaining};t={math.ceil(s.reset_after)}" for s in decision.statuses
                ).encode()
            out += [self._policy, (b"ratelimit", state)]
        return out
