"""The public face of ratelimit-asgi, pinned."""

from __future__ import annotations

from importlib.metadata import version

import ratelimit_asgi


def test_exports() -> None:
    assert sorted(ratelimit_asgi.__all__) == [
        "ANONYMOUS",
        "Completion",
        "DecisionEvent",
        "KeyFunc",
        "LimitConfig",
        "LimiterResolver",
        "RateLimit",
        "RateLimitConfig",
        "RateLimitMiddleware",
        "RateLimitRefusal",
        "RateLimiterMiddleware",
        "Rule",
        "RuleConfig",
        "Settle",
        "UNIX",
        "__version__",
        "api_key",
        "client_address",
        "client_ip",
        "from_header",
        "header",
        "problem_handler",
        "report_cost",
        "reported",
    ]


def test_version_is_the_packages_own() -> None:
    assert ratelimit_asgi.__version__ == version("ratelimit-asgi")
