"""A Redis store for ratelimit-core (under construction: no store yet)."""

from ratelimit_redis.__about__ import __version__

__all__ = ["__version__"]
