"""The public face of ratelimit-redis, pinned."""

from __future__ import annotations

import ratelimit_redis


def test_exports() -> None:
    assert sorted(ratelimit_redis.__all__) == ["__version__"]


def test_version_is_the_packages_own() -> None:
    from importlib.metadata import version

    assert ratelimit_redis.__version__ == version("ratelimit-redis")
