"""Per-route limits: which requests a limiter applies to, and at what cost."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ratelimit_core import Limiter

__all__ = ["Rule", "compile_path"]


def compile_path(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """A path pattern as a regular expression matched against the whole path.

    Accepted: a compiled expression; a route template (``/items/{id}``,
    ``/files/{rest:path}``); a glob (``*`` within one segment, ``**`` across
    segments, ``?`` one character); or an exact path.
    """
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ValueError(f"not a path, route template, glob or pattern: {pattern!r}")
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "{":
            end = pattern.find("}", i)
            if end < 0:
                raise ValueError(f"unclosed parameter in route template: {pattern!r}")
            out.append(".*" if pattern[i + 1 : end].endswith(":path") else "[^/]+")
            i = end + 1
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True)
class Rule:
    """Requests matching ``path`` (and ``methods``, when given) use ``limiter`` and ``cost``.

    Args:
        path: An exact path, a route template (``/items/{id}``, mount-aware:
            matched against the full path), a glob (``/api/*``) or a compiled
            regular expression.
        limiter: The limiter for these requests; give each rule its own name
            so that rules never share state.
        methods: HTTP methods (any case, matched in any case); empty means all.
            ``GET`` covers ``HEAD``, which Starlette answers with the GET endpoint.
        cost: Units each matching request consumes.
        key_func: Overrides the middleware's key function for this rule.
        per_path: Key on the concrete path too, so ``/items/1`` and
            ``/items/2`` are limited apart; by default a rule's paths share
            each client's limit.
    """

    path: str | re.Pattern[str]
    limiter: Limiter
    methods: Iterable[str] = ()
    cost: int = 1
    key_func: Callable[[Any], Any] | None = None
    per_path: bool = False
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _methods: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.limiter, Limiter):
            raise TypeError(f"Rule limiter must be a ratelimit_core.Limiter, got {self.limiter!r}")
        if isinstance(self.methods, str | bytes):
            raise TypeError(f"Rule methods must be a list of methods, got one string: {self.methods!r}")
        for method in self.methods:
            if not isinstance(method, str) or not method:
                raise TypeError(f"Rule methods must be strings, got {method!r}")
        if isinstance(self.cost, bool) or not isinstance(self.cost, int) or self.cost < 0:
            raise ValueError(f"Rule cost must be an int >= 0, got {self.cost!r}")
        object.__setattr__(self, "_regex", compile_path(self.path))
        methods = {m.upper() for m in self.methods}
        if "GET" in methods:
            methods.add("HEAD")
        object.__setattr__(self, "_methods", frozenset(methods))

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with ``method`` (upper case) and ``path`` falls under this rule."""
        return (not self._methods or method in self._methods) and self._regex.fullmatch(path) is not None
