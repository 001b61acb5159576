"""What a response says about its limits: every header format read, exactly and defensively.

:func:`read` turns a response's status and headers into a :class:`Reading`:
the pause the key must keep (seconds, capped at ``max_wait``), the quotas
announced, and the names of the headers it could not read (ignored, counted,
never raised). The formats:

* ``Retry-After``: delta-seconds or an HTTP-date; ``retry-after-ms``
  (milliseconds). A pause only on a 429 or a 503.
* IETF draft-11 ``RateLimit-Policy`` (``q``, ``w``) and ``RateLimit``
  (``r``, ``t``), Structured Field lists, one member per policy.
* ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (GitHub's too, with
  ``-Resource`` naming the quota). Reset is an HTTP-date, or a number: above
  1,000,000,000 a Unix time (any time since 2001-09-09), else seconds from now.
* OpenAI ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, reset a
  duration such as ``6m0s``, ``1.5s`` or ``12ms``.
* Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``,
  reset an RFC 3339 time.

A quota with nothing remaining and a known reset pauses the key until then,
whatever the status. Counts have at most 15 digits; times past ``max_wait``
are capped there; a negative, not-a-number or unreadable value is ignored.
A header sent twice with different values is ignored (a single field must
not be guessed at); the lines of a Structured Field list are joined, as RFC
9651 says.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import partial

from ratelimit_client.sf import parse_list

__all__ = ["EPOCH_AFTER", "Quota", "Reading", "read"]

#: A reset above this many seconds is a Unix time, not seconds from now.
EPOCH_AFTER = 1_000_000_000
_INT = re.compile(r"\d{1,15}")
_DECIMAL = re.compile(r"\d{1,15}(\.\d{1,9})?")
_DURATION = re.compile(r"(\d{1,15}(?:\.\d{1,9})?)(h|ms|m|s|us|µs|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_OPENAI = re.compile(r"x-ratelimit-(limit|remaining|reset)-(requests|tokens)")
_ANTHROPIC = re.compile(r"anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-(limit|remaining|reset)")
_LEGACY = {"x-ratelimit-limit": "limit", "x-ratelimit-remaining": "remaining", "x-ratelimit-reset": "reset"}
_LISTS = ("ratelimit", "ratelimit-policy")  # Structured Field lists: their lines are joined


@dataclass(frozen=True, slots=True)
class Quota:
    """One quota a response announces; ``None`` where it says nothing.

    Attributes:
        name: The policy's name (``"default"`` when it has none).
        limit: Units per window.
        window: The window, in seconds.
        remaining: Units left now.
        reset: Seconds until the quota is restored (or its window resets).
    """

    name: str
    limit: int | None = None
    window: float | None = None
    remaining: int | None = None
    reset: float | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What :func:`read` found.

    Attributes:
        pause: Seconds the key must send nothing (``None``: no pause announced).
        quotas: The quotas announced, by name.
        malformed: The headers ignored because they could not be read.
    """

    pause: float | None = None
    quotas: tuple[Quota, ...] = ()
    malformed: tuple[str, ...] = field(default=())


#: What a response without any of the fields says.
_NOTHING = Reading()


def read(status: int, headers: Iterable[tuple[str, str]], *, now: float, max_wait: float) -> Reading:
    """What ``status`` and ``headers`` say, at Unix time ``now``, waits capped at ``max_wait`` seconds."""
    fields, bad = _fields(headers)
    if not fields and not bad:  # most responses: nothing to read
        return _NOTHING
    parts: dict[str, dict[str, float]] = {}  # quota -> limit, window, remaining, reset
    pause: float | None = None
    for name, value in fields.items():
        try:
            if name in ("retry-after", "retry-after-ms"):
                wait = _checked(name, _retry_after(name, value, now))
                if status in (429, 503):
                    pause = wait if pause is None else max(pause, wait)
            elif name in _LISTS:
                _ietf(name, value, parts)
            elif name in _LEGACY:
                _part(parts, fields.get("x-ratelimit-resource", "default"), _LEGACY[name], name, value, now)
            elif match := _OPENAI.fullmatch(name):
                _part(parts, match[2], match[1], name, value, now, reset=_duration)
            elif match := _ANTHROPIC.fullmatch(name):
                _part(parts, match[1], match[2], name, value, now, reset=partial(_rfc3339, now=now))
        except ValueError:
            bad.append(name)
    quotas = tuple(_quota(name, found, max_wait) for name, found in parts.items())
    for quota in quotas:
        if quota.remaining == 0 and quota.reset is not None:
            pause = quota.reset if pause is None else max(pause, quota.reset)
    return Reading(None if pause is None else min(pause, max_wait), quotas, tuple(dict.fromkeys(bad)))


def _quota(name: str, found: dict[str, float], max_wait: float) -> Quota:
    limit, remaining, window, reset = (found.get(part) for part in ("limit", "remaining", "window", "reset"))
    return Quota(
        name,
        limit=None if limit is None else int(limit),
        window=window,
        remaining=None if remaining is None else int(remaining),
        reset=None if reset is None else min(reset, max_wait),
    )


def _checked(name: str, seconds: float | None) -> float:
    """``seconds``, unless it is none, negative or not a number: then ``name`` is malformed."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(name)
    return seconds


def _fields(headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """One value per field name (lower case): list fields joined, disagreeing singles dropped as malformed."""
    fields: dict[str, str] = {}
    bad: list[str] = []
    for raw_name, raw_value in headers:
        name, value = raw_name.lower(), raw_value.strip()
        if not _known(name):  # the upstream's other headers: not ours to judge, nor to name
            continue
        if name not in fields:
            fields[name] = value
        elif name in _LISTS:
            fields[name] = f"{fields[name]}, {value}"
        elif fields[name] != value:
            bad.append(name)
    for name in bad:
        fields.pop(name, None)
    return fields, bad


def _known(name: str) -> bool:
    """Whether ``name`` is a field :func:`read` reads."""
    return (
        name in ("retry-after", "retry-after-ms", "x-ratelimit-resource")
        or name in _LISTS
        or name in _LEGACY
        or _OPENAI.fullmatch(name) is not None
        or _ANTHROPIC.fullmatch(name) is not None
    )


def _retry_after(name: str, value: str, now: float) -> float | None:
    if name == "retry-after-ms":
        return float(value) / 1000 if _DECIMAL.fullmatch(value) else None
    if _INT.fullmatch(value):
        return float(value)
    return _http_date(value, now)


def _http_date(value: str, now: float) -> float | None:
    """Seconds from ``now`` until an HTTP-date (0 for one past), or ``None`` when it is none."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _rfc3339(value: str, *, now: float) -> float | None:
    """Seconds from ``now`` until an RFC 3339 time with its offset (0 for one past)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if when.tzinfo is None else max(0.0, when.timestamp() - now)


def _legacy_reset(value: str, now: float) -> float | None:
    """An HTTP-date, or a number: above :data:`EPOCH_AFTER` a Unix time, else seconds from now."""
    if _DECIMAL.fullmatch(value):
        number = float(value)
        return max(0.0, number - now) if number > EPOCH_AFTER else number
    return _http_date(value, now)


def _duration(value: str) -> float | None:
    """A Go-style duration (``6m0s``, ``1h2m3.5s``, ``12ms``) in seconds."""
    total, at = 0.0, 0
    for match in _DURATION.finditer(value):
        if match.start() != at:
            return None
        total += float(match[1]) * _UNITS[match[2]]
        at = match.end()
    return total if at == len(value) and value else None


def _part(
    parts: dict[str, dict[str, float]],
    quota: str,
    part: str,
    name: str,
    value: str,
    now: float,
    reset: Callable[[str], float | None] | None = None,
) -> None:
    """One part (limit, remaining or reset) of one quota, read from ``value``; ``ValueError`` when unreadable."""
    if part == "reset":
        seconds = _legacy_reset(value, now) if reset is None else reset(value)
        parts.setdefault(quota, {})["reset"] = _checked(name, seconds)
    elif _INT.fullmatch(value):
        parts.setdefault(quota, {})[part] = int(value)
    else:
        raise ValueError(name)


def _ietf(name: str, value: str, quotas: dict[str, dict[str, float]]) -> None:
    """``RateLimit-Policy`` (``q``, ``w``) or ``RateLimit`` (``r``, ``t``): one quota per member."""
    members = parse_list(value)
    wanted = {"q": "limit", "w": "window"} if name == "ratelimit-policy" else {"r": "remaining", "t": "reset"}
    for policy, parameters in members:
        if not isinstance(policy, str):
            raise ValueError(name)
        parts = quotas.setdefault(policy, {})
        for key, part in wanted.items():
            number = parameters.get(key)
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise ValueError(name)
            parts[part] = number
