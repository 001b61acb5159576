"""Declarative configuration: limits and rules written as data (a dict, JSON or TOML).

::

    # ratelimit.toml
    headers = "both"
    exclude_routes = ["/health", "/static/*"]
    trusted_proxies = ["10.0.0.0/8"]

    [default]
    rates = "100/minute"
    key_func = "client_ip"

    [[rules]]
    path = "/login"
    methods = ["POST"]
    rates = "5/minute; 20/hour"
    algorithm = "sliding_window_log"
    count = [401]            # only failed logins count

    config = RateLimitConfig.from_toml("ratelimit.toml")
    app = Starlette(middleware=[config.middleware(store=store)])

Options have the names the middleware, ``Rule`` and ``RateLimit`` give them
(``exclude_routes``, ``key_func``, ``methods``...). A rule without
``key_func`` keys as the default limit does, like a ``Rule`` in Python. Each
rule's limiter is named after its path and methods unless it has a ``name``,
so reordering rules never moves their state. Validation errors name the
offending field (``rules.0.rates``). Pydantic is used here only, when the
configuration is read, never per request.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.middleware import Middleware

from ratelimit_asgi.keys import api_key, client_address, client_ip, header
from ratelimit_asgi.middleware import RateLimitMiddleware
from ratelimit_asgi.rules import Rule, compile_path
from ratelimit_asgi.settle import Settle, from_header, reported
from ratelimit_core import Algorithm, Limiter, Store, parse_limits

__all__ = ["LimitConfig", "RateLimitConfig", "RuleConfig"]

KeyName = str  # "client", "client_ip", "api_key" or "header:<Name>"
KEY_NAMES = "'client', 'client_ip', 'api_key' or 'header:<Name>'"


class LimitConfig(BaseModel):
    """One limiter: its rates, algorithm, name, cost per request and key function."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rates: str | list[str]
    algorithm: Algorithm = Algorithm.TOKEN_BUCKET
    name: str | None = None
    cost: int = Field(1, ge=0)
    key_func: KeyName = "client"
    #: The response statuses that count (``[401, 403]`` for a login); none given: every one counts.
    count: list[int] | None = None
    #: Where the real cost comes from after the response: ``"reported"`` or ``"header:<Name>"``.
    settle: str | None = None

    @field_validator("count")
    @classmethod
    def _count(cls, value: list[int] | None) -> list[int] | None:
        for status in value or ():
            if not 100 <= status <= 599:
                raise ValueError(f"count holds HTTP statuses (100 to 599), got {status}")
        return value

    @field_validator("settle")
    @classmethod
    def _settle(cls, value: str | None) -> str | None:
        if value is not None and value != "reported" and not (value.startswith("header:") and value[7:]):
            raise ValueError(f"settle must be 'reported' or 'header:<Name>', got {value!r}")
        return value

    def counted(self) -> Callable[[int], bool] | None:
        """``count=`` for the middleware or a ``Rule``: the listed statuses count."""
        return None if self.count is None else frozenset(self.count).__contains__

    def settled(self) -> Settle | None:
        """``settle=`` for the middleware or a ``Rule``."""
        if self.settle is None:
            return None
        return reported() if self.settle == "reported" else from_header(self.settle[7:])

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: str | list[str]) -> str | list[str]:
        parse_limits(value)  # rates, and at most one concurrency cap ("2 concurrent")
        return value

    @field_validator("key_func")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if (
            value is not None
            and value not in ("client", "client_ip", "api_key")
            and not (value.startswith("header:") and value[7:])
        ):
            raise ValueError(f"key_func must be {KEY_NAMES}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _limiter(self) -> LimitConfig:
        limiter = self.limiter(None, "check")  # rates and algorithm must agree (a burst is for the token bucket)
        if limiter.cap is not None and (self.count is not None or self.settle is not None):
            raise ValueError(
                f"{limiter.cap} holds a slot per request: count and settle need a limit without a concurrency cap"
            )
        return self

    def limiter(self, store: Store | None, default_name: str) -> Limiter:
        """The :class:`~ratelimit_core.Limiter` this describes, on ``store``."""
        return Limiter(self.rates, algorithm=self.algorithm, store=store, name=self.name or default_name)


class RuleConfig(LimitConfig):
    """A per-route limit: requests matching ``path`` and ``methods``; ``key_func`` defaults to the default's."""

    path: str
    methods: list[str] = []
    per_path: bool = False
    key_func: KeyName | None = None  # type: ignore[assignment]  # None: as the default limit keys

    def stable_name(self) -> str:
        """The limiter's name when none is given: from the path and methods, never the rule's position."""
        methods = ",".join(sorted({m.upper() for m in self.methods}))
        return f"rule {self.path} {methods}".rstrip()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        compile_path(value)
        return value


class RateLimitConfig(BaseModel):
    """Everything the middleware takes, as data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: LimitConfig | None = None
    rules: list[RuleConfig] = []
    exclude_routes: list[str] = []
    headers: Literal["both", "ietf", "x-ratelimit", "none"] = "both"
    fail_open: bool = True
    shadow: bool = False
    websocket_messages: bool = False
    problem_type: Literal["about:blank", "quota-exceeded"] = "about:blank"
    trusted_proxies: list[str] = []
    forwarded_header: str = "x-forwarded-for"
    ipv6_prefix: int = 64

    @field_validator("exclude_routes")
    @classmethod
    def _exclude(cls, value: list[str]) -> list[str]:
        for path in value:
            compile_path(path)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        client_ip(value)
        return value

    @field_validator("forwarded_header")
    @classmethod
    def _forwarded_header(cls, value: str) -> str:
        client_ip((), forwarded_header=value)
        return value

    @field_validator("ipv6_prefix")
    @classmethod
    def _ipv6_prefix(cls, value: int) -> int:
        client_address(ipv6_prefix=value)
        return value

    @model_validator(mode="after")
    def _something(self) -> RateLimitConfig:
        if self.default is None and not self.rules:
            raise ValueError("give a default limit, rules, or both")
        if self.websocket_messages:
            for limit in (self.default, *self.rules):
                if limit is not None and parse_limits(limit.rates)[1] is not None:
                    raise ValueError(
                        "websocket_messages counts each message, which a limit with a concurrency cap cannot: "
                        f"give {limit.rates!r} a limit without a cap"
                    )
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateLimitConfig:
        """Read a configuration from plain data."""
        return cls.model_validate(data)

    @classmethod
    def from_json(cls, source: str | Path) -> RateLimitConfig:
        """Read a configuration from JSON text, or from a file (a ``Path``, or a ``str`` naming one)."""
        return cls.model_validate(json.loads(_text(source, ".json")))

    @classmethod
    def from_toml(cls, source: str | Path) -> RateLimitConfig:
        """Read a configuration from TOML text, or from a file (a ``Path``, or a ``str`` naming one)."""
        return cls.model_validate(tomllib.loads(_text(source, ".toml")))

    def middleware(self, store: Store | None = None) -> Middleware:
        """The middleware this describes, for ``Starlette(middleware=[...])`` or ``app.user_middleware``."""
        return Middleware(RateLimitMiddleware, **self.middleware_options(store))

    def middleware_options(self, store: Store | None = None) -> dict[str, Any]:
        """Keyword arguments for :class:`~ratelimit_asgi.RateLimitMiddleware`, every limiter on ``store``.

        Without a store each limiter gets its own ``MemoryStore``.
        """
        rules = [
            Rule(
                rule.path,
                rule.limiter(store, rule.stable_name()),
                methods=rule.methods,
                cost=rule.cost,
                key_func=None if rule.key_func is None else self._key_func(rule.key_func),
                per_path=rule.per_path,
                count=rule.counted(),
                settle=rule.settled(),
            )
            for rule in self.rules
        ]
        options: dict[str, Any] = {
            "rules": rules,
            "exclude_routes": list(self.exclude_routes),
            "headers": self.headers,
            "fail_open": self.fail_open,
            "shadow": self.shadow,
            "websocket_messages": self.websocket_messages,
            "problem_type": self.problem_type,
        }
        if self.default is not None:
            options |= {
                "limiter": self.default.limiter(store, "default"),
                "cost": self.default.cost,
                "key_func": self._key_func(self.default.key_func),
                "count": self.default.counted(),
                "settle": self.default.settled(),
            }
        return options

    def _key_func(self, name: KeyName) -> Callable[[Any], str]:
        if name == "client_ip":
            return client_ip(self.trusted_proxies, forwarded_header=self.forwarded_header, ipv6_prefix=self.ipv6_prefix)
        if name == "api_key":
            return api_key()
        if name.startswith("header:"):
            return header(name[7:])
        return client_address(ipv6_prefix=self.ipv6_prefix)


def _text(source: str | Path, suffix: str) -> str:
    """The configuration text: a ``Path``'s content, a ``str`` naming an existing file, or the ``str`` itself.

    A ``str`` of one line that ends with ``suffix`` but names no file is an
    error naming it, rather than text that fails to parse.
    """
    if isinstance(source, Path):
        return source.read_text()
    if not isinstance(source, str):
        raise TypeError(f"give the configuration as text or a path, got {source!r}")
    if "\n" not in source and os.path.isfile(source):
        return Path(source).read_text()
    if "\n" not in source and source.strip().endswith(suffix):
        raise FileNotFoundError(f"no configuration file at {source!r}")
    return source
