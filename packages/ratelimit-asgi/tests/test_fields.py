"""The header fields: every mode says the same, whichever way it is built."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from ratelimit_asgi.fields import Fields
from ratelimit_core import Decision, Limiter, MemoryStore, Rate
from ratelimit_core.testing import ManualClock

#: Examples per property test: 100 under the ci profile, 20 under dev (the root conftest.py).
EXAMPLES = settings().max_examples

RATES = st.sampled_from(["3/s", "7/s", "100000000/hour", "5/minute; 2/s", "10/day"]) | st.builds(
    lambda limit, burst: Rate(limit, 1, burst=burst), st.integers(1, 10), st.integers(10, 10**16)
)


async def _decisions(rates: str | Rate, costs: list[tuple[int, int]]) -> tuple[Limiter, list[Decision]]:
    clock = ManualClock()
    limiter = Limiter(rates, store=MemoryStore(clock=clock))
    decisions = []
    for advance_us, cost in costs:
        clock.us += advance_us
        decisions.append(await limiter.hit("k", cost))
    return limiter, decisions


@given(rates=RATES, costs=st.lists(st.tuples(st.integers(0, 300_000), st.integers(0, 4)), min_size=1, max_size=20))
@settings(max_examples=EXAMPLES * 150 // 100, deadline=None)
def test_both_is_the_x_ratelimit_fields_then_the_ietf_fields(rates: str | Rate, costs: list[tuple[int, int]]) -> None:
    """``headers="both"`` builds its common case straight; it must say what the two modes say."""
    limiter, decisions = asyncio.run(_decisions(rates, costs))
    modes = {mode: Fields(limiter.name, limiter.rates, mode) for mode in ("both", "x-ratelimit", "ietf", "none")}
    for decision in decisions:
        both = modes["both"].of(decision)
        assert both == modes["x-ratelimit"].of(decision) + modes["ietf"].of(decision)
        assert len(both) == 5
        assert modes["none"].of(decision) == []
