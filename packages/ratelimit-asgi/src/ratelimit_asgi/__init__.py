"""ASGI middleware for ratelimit-core (under construction: no middleware yet)."""

from ratelimit_asgi.__about__ import __version__

__all__ = ["__version__"]
