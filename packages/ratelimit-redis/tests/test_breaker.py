"""The circuit breaker's states on an injected clock."""

from __future__ import annotations

from ratelimit_redis.breaker import Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_in_a_row_open_it_and_a_success_in_between_resets_the_count() -> None:
    clock = Clock()
    breaker = Breaker(3, 0.5, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure(OSError("down"))
    breaker.success()
    for _ in range(2):
        breaker.failure(OSError("down"))
    assert breaker.state == "closed"
    breaker.failure(OSError("down"))
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.retry_in() == 0.5
    assert repr(breaker.last_error) == "OSError('down')"


def test_after_the_cooldown_one_probe_goes_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = Breaker(1, 0.5, clock=clock)
    breaker.failure(TimeoutError())
    clock.now += 0.49
    assert not breaker.allow()
    clock.now += 0.01
    assert breaker.state == "half_open"
    assert breaker.allow(), "the probe"
    assert breaker.probing
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure(TimeoutError())
    assert breaker.state == "open", "a failed probe opens it again, for a full cooldown"
    assert not breaker.allow()
    clock.now += 0.5
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    assert all(breaker.allow() for _ in range(5))


def test_an_abandoned_probe_lets_another_go() -> None:
    clock = Clock()
    breaker = Breaker(1, 0.5, clock=clock)
    breaker.failure(TimeoutError())
    clock.now += 1
    assert breaker.allow()
    breaker.abandon()
    assert breaker.allow()
