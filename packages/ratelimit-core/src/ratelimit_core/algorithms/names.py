"""The names of the algorithms: :class:`Algorithm`."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Algorithm"]


class Algorithm(StrEnum):
    """A rate limiting algorithm; plain strings are accepted wherever one is.

    ``gcra`` names the same algorithm as ``token_bucket``: the token bucket is
    implemented as GCRA (one timestamp of state), so ``Algorithm("gcra")`` is
    ``Algorithm.TOKEN_BUCKET``.
    """

    FIXED_WINDOW = "fixed_window"
    SLIDING_WINDOW_LOG = "sliding_window_log"
    SLIDING_WINDOW_COUNTER = "sliding_window_counter"
    TOKEN_BUCKET = "token_bucket"
    GCRA = "token_bucket"  # alias

    @classmethod
    def _missing_(cls, value: object) -> Algorithm:
        if isinstance(value, str):
            name = value.strip().lower().replace("-", "_").replace(" ", "_")
            if name == "gcra":
                return cls.TOKEN_BUCKET
            for member in cls:
                if member.value == name:
                    return member
        choices = ", ".join(repr(m.value) for m in cls) + ", 'gcra'"
        raise ValueError(f"unknown algorithm {value!r}; choose one of {choices}")
