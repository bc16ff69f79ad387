"""How long a sign-in must wait, from the times of recent failures."""

from chungus.accounts.throttle import LoginLimits, retry_after, wait_seconds

LIMITS = LoginLimits(per_user=5, per_ip=20, window_s=900)


def test_fewer_failures_than_the_limit_do_not_wait():
    assert wait_seconds([100.0] * 4, 5, 900, now=200.0) == 0


def test_at_the_limit_it_waits_until_the_oldest_counted_failure_leaves_the_window():
    failures = [100.0, 110.0, 120.0, 130.0, 140.0]
    assert wait_seconds(failures, 5, 900, now=200.0) == 800  # 100 + 900 - 200


def test_failures_outside_the_window_do_not_count():
    assert wait_seconds([0.0] * 10 + [950.0], 5, 900, now=1000.0) == 0


def test_the_longer_wait_of_username_and_address_wins():
    by_user = [10.0] * 5
    by_ip = [50.0] * 20
    assert retry_after(by_user, by_ip, LIMITS, now=100.0) == 850
    assert retry_after([], [], LIMITS, now=100.0) == 0
