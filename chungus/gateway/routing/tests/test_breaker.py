"""The circuit breaker: out of rotation on failure, back after a trial."""

from chungus.gateway.routing.breaker import Breaker, Health


def test_it_opens_after_repeated_failures_and_not_before():
    breaker = Breaker(threshold=3)
    assert not breaker.failure(0, "boom") and not breaker.failure(0, "boom")
    assert breaker.available(0)
    assert breaker.failure(0, "boom")
    assert breaker.state is Health.UNHEALTHY and not breaker.available(0.5)


def test_a_refused_connection_opens_it_at_once():
    breaker = Breaker()
    assert breaker.failure(0, "refused", fatal=True)
    assert not breaker.available(0.1)


def test_after_the_cooldown_one_trial_goes_through():
    breaker = Breaker(base_cooldown=1)
    breaker.failure(0, "refused", fatal=True)
    assert breaker.available(1.0)
    breaker.taken()
    assert not breaker.available(1.0), "only one trial while half-open"
    assert breaker.success()
    assert breaker.state is Health.HEALTHY and breaker.available(1.0)


def test_a_failed_trial_reopens_with_a_longer_cooldown():
    breaker = Breaker(base_cooldown=1, max_cooldown=30)
    breaker.failure(0, "refused", fatal=True)
    breaker.available(1.0)
    breaker.taken()
    breaker.failure(1.0, "still refused")
    assert breaker.state is Health.UNHEALTHY
    assert breaker.open_until == 3.0
