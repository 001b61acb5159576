"""The public face of ratelimit-redis, pinned."""

from __future__ import annotations

from importlib.metadata import version

import ratelimit_redis


def test_exports() -> None:
    assert sorted(ratelimit_redis.__all__) == ["RedisStore", "__version__"]


def test_version_is_the_packages_own() -> None:
    assert ratelimit_redis.__version__ == version("ratelimit-redis")
