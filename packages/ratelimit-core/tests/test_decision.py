from __future__ import annotations

import pytest

from ratelimit_core import Decision, Rate, RateStatus
from ratelimit_core.decision import new_decision, new_rate_status

RATE = Rate(10, 60)


def test_the_hot_path_constructor_builds_an_equal_immutable_decision() -> None:
    fast = new_decision(True, 10, 7, 1.5, 0.0, RATE, False, None)
    slow = Decision(True, 10, 7, 1.5, 0.0, RATE)
    assert type(fast) is Decision
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    with pytest.raises(AttributeError):
        fast.allowed = False  # type: ignore[misc]
    assert not hasattr(fast, "__dict__")


def test_a_decision_never_equals_a_plain_tuple() -> None:
    decision = Decision(True, 10, 7, 1.5, 0.0, RATE)
    assert decision != tuple(decision)
    assert tuple(decision) != decision
    assert decision.statuses[0].remaining == 7


def test_fast_rate_status_matches_the_constructor() -> None:
    assert new_rate_status(RATE, False, 0, 3.0, None) == RateStatus(RATE, False, 0, 3.0, None)


def test_one_rate_statuses_are_derived_from_the_decision() -> None:
    decision = Decision(False, 10, 0, 2.0, 1.0, RATE)
    assert decision.statuses == (RateStatus(RATE, False, 0, 2.0, 1.0),)


def test_replace_keeps_the_statuses() -> None:
    statuses = (RateStatus(RATE, True, 3, 1.0, 0.0), RateStatus(Rate(100, 3600), True, 50, 9.0, 0.0))
    decision = Decision(True, 10, 3, 1.0, 0.0, RATE, False, statuses)
    degraded = decision._replace(degraded=True)
    assert degraded.degraded
    assert degraded.statuses == statuses


def test_equality_compares_every_rate() -> None:
    other = Rate(100, 3600)
    one = (RateStatus(RATE, True, 3, 1.0, 0.0), RateStatus(other, True, 50, 9.0, 0.0))
    two = (RateStatus(RATE, True, 3, 1.0, 0.0), RateStatus(other, True, 49, 9.0, 0.0))
    first, second = (Decision(True, 10, 3, 1.0, 0.0, RATE, False, statuses) for statuses in (one, two))
    assert first != second, "the second rate differs"
    assert first == Decision(True, 10, 3, 1.0, 0.0, RATE, False, one)
    assert hash(first) == hash(Decision(True, 10, 3, 1.0, 0.0, RATE, False, one))
    # One rate: the status is derived, and an explicit one equal to it is the same decision.
    derived = Decision(True, 10, 3, 1.0, 0.0, RATE)
    assert derived == Decision(True, 10, 3, 1.0, 0.0, RATE, False, (RateStatus(RATE, True, 3, 1.0, 0.0),))


def test_decisions_are_truthy_when_allowed() -> None:
    assert Decision(True, 10, 3, 1.0, 0.0, RATE)
    assert not Decision(False, 10, 0, 1.0, 2.0, RATE)
