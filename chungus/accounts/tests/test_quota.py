"""What a user may give their own keys: the quota decision."""

from chungus.accounts.quota import DEFAULT_QUOTA, Quota, capped_limits, new_key_problems

QUOTA = Quota(max_keys=2, max_rpm=30, max_tpm=1000)


def test_a_key_within_the_quota_has_no_problems():
    assert new_key_problems(QUOTA, 1, 30, 1000) == []


def test_it_refuses_a_key_beyond_the_number_allowed():
    [problem] = new_key_problems(QUOTA, 2, None, None)
    assert "the most you may hold is 2" in problem


def test_it_refuses_limits_above_the_quota():
    problems = new_key_problems(QUOTA, 0, 31, 1001)
    assert len(problems) == 2
    assert "30 requests" in problems[0] and "1000 tokens" in problems[1]


def test_unset_limits_become_the_quota_maximum():
    assert capped_limits(QUOTA, None, None) == (30, 1000)
    assert capped_limits(QUOTA, 5, None) == (5, 1000)


def test_the_defaults_are_limited():
    assert DEFAULT_QUOTA.max_keys > 0 and DEFAULT_QUOTA.max_rpm > 0 and DEFAULT_QUOTA.max_tpm > 0
