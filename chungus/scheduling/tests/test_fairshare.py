"""The order queued jobs are offered GPUs in: tiers, priority, fair share, age."""

from chungus.scheduling.fairshare import (
    JOB_FLOOR,
    QueuedJob,
    fair_order,
    placement_priority,
    tier_ceiling,
)


def q(id, owner, tier="batch", priority=0, gpus=1, created=None):
    return QueuedJob(id, owner, tier, priority, gpus, float(id if created is None else created))


def test_one_users_many_jobs_do_not_starve_another_users_one():
    queued = [q(i, owner=1) for i in range(1, 501)] + [q(501, owner=2)]
    order = [j.id for j in fair_order(queued, {})]
    assert order[:2] == [1, 501]


def test_users_take_turns_by_the_gpus_they_hold():
    queued = [q(1, 1), q(2, 1), q(3, 2), q(4, 2)]
    assert [j.id for j in fair_order(queued, {})] == [1, 3, 2, 4]
    # User 1 holds 3 GPUs already: user 2 goes first until they are even.
    assert [j.id for j in fair_order(queued, {1: 3})] == [3, 4, 1, 2]


def test_tier_then_priority_come_before_fair_share_and_age():
    queued = [q(1, 1, tier="background"), q(2, 2, priority=-5), q(3, 1, priority=5), q(4, 2)]
    assert [j.id for j in fair_order(queued, {})] == [3, 4, 2, 1]


def test_within_a_user_older_jobs_go_first():
    queued = [q(1, 1, created=30), q(2, 1, created=10), q(3, 1, created=20)]
    assert [j.id for j in fair_order(queued, {})] == [2, 3, 1]


def test_every_job_ranks_below_every_deployment_and_background_below_batch():
    assert placement_priority("batch", 100) < -30_000  # deployments' priorities are small ints
    assert placement_priority("background", 100) < placement_priority("batch", -100)
    assert placement_priority("batch", 0) == JOB_FLOOR


def test_a_tiers_ceiling_is_above_its_ranks_and_below_the_next_tier():
    assert placement_priority("background", 100) < tier_ceiling("background")
    assert tier_ceiling("background") < placement_priority("batch", -100)
