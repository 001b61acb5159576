"""Per-route limits: which requests a limiter applies to, and at what cost."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ratelimit_asgi.settle import checked_outcomes
from ratelimit_core import Limiter

__all__ = ["LimiterResolver", "PathMatcher", "Rule", "SegmentPattern", "compile_path"]

#: A function choosing the limiter per request, sync or async: ``(connection) -> Limiter | None``
#: (``None``: unlimited). It reads the request (an API key, a JWT claim, ``request.state``), never its body.
LimiterResolver = Callable[[Any], "Limiter | None | Awaitable[Limiter | None]"]


class PathMatcher(Protocol):
    """What a compiled path pattern offers: ``fullmatch(path)``, true when the whole path matches."""

    def fullmatch(self, path: str) -> object: ...


def compile_path(pattern: str | re.Pattern[str]) -> PathMatcher:
    """A path pattern as a matcher of whole paths, in time linear in the path's length.

    Accepted: a compiled expression (its cost is yours); a route template
    (``/items/{id}``, ``/files/{rest:path}``); a glob (``*`` and ``?`` within
    one segment, ``**`` as a whole segment: one or more segments); or an exact
    path. ``{name:path}`` and ``**`` stand for whole segments only.

    Templates and globs never backtrack without bound: a pattern whose
    segments hold at most one ``*`` (the usual kind) is one regular expression
    that cannot backtrack past a segment; any other is matched segment by
    segment (:class:`SegmentPattern`).
    """
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ValueError(f"not a path, route template, glob or pattern: {pattern!r}")
    segments = [_segment(part, pattern) for part in pattern.split("/")]
    globstars = [i for i, segment in enumerate(segments) if segment is _GLOBSTAR]
    if all(isinstance(seg, re.Pattern | _GlobStar) for seg in segments) and globstars in ([], [len(segments) - 1]):
        return re.compile("/".join(seg.pattern for seg in segments))  # type: ignore[union-attr]
    return SegmentPattern(segments)


class _GlobStar:
    """``**`` (or ``{name:path}``): one or more whole segments."""

    pattern = ".*"


_GLOBSTAR = _GlobStar()
_ONE, _ANY = object(), object()  # within a segment: one character, any run of them


class _Glob:
    """A segment with several wildcards, matched by the classic glob algorithm: O(len x wildcards), no blow-up."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: list[object]) -> None:
        self._tokens = tokens

    def fullmatch(self, text: str) -> bool:
        tokens, t, p, star, mark = self._tokens, 0, 0, -1, 0
        while t < len(text):
            if p < len(tokens) and (tokens[p] is _ONE or tokens[p] == text[t]):
                t, p = t + 1, p + 1
            elif p < len(tokens) and tokens[p] is _ANY:
                star, mark, p = p, t, p + 1
            elif star >= 0:  # let the last * take one more character
                p, mark = star + 1, mark + 1
                t = mark
            else:
                return False
        while p < len(tokens) and tokens[p] is _ANY:
            p += 1
        return p == len(tokens)


def _segment(part: str, pattern: str) -> re.Pattern[str] | _Glob | _GlobStar:
    """One segment: ``**`` or ``{name:path}`` whole; else a regex, or a :class:`_Glob` for several ``*``."""
    if part == "**" or (part.startswith("{") and part.endswith(":path}") and part.count("{") == 1):
        return _GLOBSTAR
    tokens: list[object] = []
    i = 0
    while i < len(part):
        if part[i] == "{":
            end = part.find("}", i)
            if end < 0:
                raise ValueError(f"unclosed parameter in route template: {pattern!r}")
            if part[i + 1 : end].endswith(":path"):
                raise ValueError(f"{{name:path}} must be a whole segment: {pattern!r}")
            tokens += [_ONE, _ANY]  # one or more characters
            i = end + 1
        elif part.startswith("**", i):
            raise ValueError(f"** must be a whole segment (/**/ or a trailing /**): {pattern!r}")
        else:
            tokens.append({"*": _ANY, "?": _ONE}.get(part[i], part[i]))
            i += 1
    if sum(token is _ANY for token in tokens) > 1:
        return _Glob(tokens)
    return re.compile("".join(re.escape(t) if isinstance(t, str) else "[^/]*" if t is _ANY else "[^/]" for t in tokens))


class SegmentPattern:
    """A template or glob matched one path segment at a time: O(segments x pattern), never worse.

    Each path segment is matched against every pattern segment still in play,
    as an automaton's states are, so ``**`` never makes the match try every
    way to split the path.
    """

    __slots__ = ("_segments",)

    def __init__(self, segments: list[re.Pattern[str] | _Glob | _GlobStar]) -> None:
        self._segments = segments

    def fullmatch(self, path: str) -> bool:
        segments, end = self._segments, len(self._segments)
        states = {0}
        for part in path.split("/"):
            after: set[int] = set()
            for i in states:
                if i == end:
                    continue
                segment = segments[i]
                if segment is _GLOBSTAR:
                    after.update((i, i + 1))  # one more segment under **, and maybe its last
                elif segment.fullmatch(part):  # type: ignore[union-attr]
                    after.add(i + 1)
            if not after:
                return False
            states = after
        return end in states


@dataclass(frozen=True, slots=True)
class Rule:
    """Requests matching ``path`` (and ``methods``, when given) use ``limiter`` and ``cost``.

    Args:
        path: An exact path, a route template (``/items/{id}``, mount-aware:
            matched against the full path), a glob (``/api/*``) or a compiled
            regular expression.
        limiter: The limiter for these requests; give each rule its own name
            so that rules never share state. Or a function choosing one per
            request (:data:`LimiterResolver`): tiers read from an API key.
        methods: HTTP methods (any case, matched in any case); empty means all.
            ``GET`` covers ``HEAD``, which Starlette answers with the GET endpoint.
        cost: Units each matching request consumes.
        key_func: Overrides the middleware's key function for this rule.
        per_path: Key on the concrete path too, so ``/items/1`` and
            ``/items/2`` are limited apart; by default a rule's paths share
            each client's limit.
        count: Count only some outcomes: ``count=lambda status: status >= 400``
            for a login. The cost is consumed at admission and refunded when
            the response starts with a status that does not count (an app
            that raises counts as a 500).
        settle: The request's real cost, known after its response
            (:func:`~ratelimit_asgi.from_header`, :func:`~ratelimit_asgi.reported`):
            settled when the response has finished, streamed ones included.
    """

    path: str | re.Pattern[str]
    limiter: Limiter | LimiterResolver
    methods: Iterable[str] = ()
    cost: int = 1
    key_func: Callable[[Any], Any] | None = None
    per_path: bool = False
    count: Callable[[int], bool] | None = None
    settle: Callable[[Any], int] | None = None
    _regex: PathMatcher = field(init=False, repr=False, compare=False)
    _methods: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.limiter, Limiter) and (isinstance(self.limiter, type) or not callable(self.limiter)):
            raise TypeError(
                "a rule's limiter must be a ratelimit_core.Limiter or a function choosing one per request, "
                f"got {self.limiter!r}"
            )
        if isinstance(self.methods, str | bytes):
            raise TypeError(f"a rule's methods must be a list of methods, got one string: {self.methods!r}")
        # Read once, whatever the iterable (a generator is used up by the first pass).
        object.__setattr__(self, "methods", tuple(self.methods))
        for method in self.methods:
            if not isinstance(method, str) or not method:
                raise TypeError(f"a rule's methods must be strings, got {method!r}")
        if isinstance(self.cost, bool) or not isinstance(self.cost, int) or self.cost < 0:
            raise ValueError(f"a rule's cost must be an int >= 0, got {self.cost!r}")
        checked_outcomes(self.count, self.settle)
        object.__setattr__(self, "_regex", compile_path(self.path))
        methods = {m.upper() for m in self.methods}
        if "GET" in methods:
            methods.add("HEAD")
        object.__setattr__(self, "_methods", frozenset(methods))

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with ``method`` (upper case) and ``path`` falls under this rule."""
        return (not self._methods or method in self._methods) and self._regex.fullmatch(path) is not None
