"""The shape every algorithm's ``step`` returns."""

from __future__ import annotations

from typing import TypeAlias, TypeVar

S = TypeVar("S")

#: ``(allowed, new_state, remaining, reset_after_us, retry_after_us)``.
#:
#: * ``new_state`` is the state to store, or ``None`` when nothing changes
#:   (a denial, or a cost of 0).
#: * ``remaining`` is whole units left after the step (nothing is consumed
#:   when denied).
#: * ``reset_after_us`` is the microseconds until full capacity.
#: * ``retry_after_us`` is ``0`` when allowed, the microseconds until the same
#:   cost fits when denied, ``None`` when it never can.
#:
#: A plain tuple: it is built on every decision.
Step: TypeAlias = tuple[bool, S | None, int, int, int | None]
