"""The pooled summary: the best replica, the lowest RMSD, the share below the threshold."""

from chungus.fleet.jobs.kinds.ensemble.pooled import Curves, pooled, replica_summary


def curves(replica, rmsd, q=None, state="succeeded"):
    times = [0.001 * (i + 1) for i in range(len(rmsd))]
    return Curves(replica, state, times, rmsd, [1.0] * len(rmsd), q or [0.5] * len(rmsd))


def test_the_best_replica_reached_the_lowest_rmsd():
    summary = pooled([curves(7, [0.5, 0.25, 0.4]), curves(8, [0.3, 0.35]), curves(9, [])], 0.3)
    assert summary["best_replica"] == 7 and summary["lowest_rmsd_nm"] == 0.25
    assert summary["analysed"] == 2 and summary["replicas"] == 3
    assert summary["below_threshold"] == 1 and summary["fraction_below_threshold"] == 0.5
    assert summary["not_analysed"] == [{"replica": 9, "state": "succeeded", "why": "no frames yet"}]
    per = {row["replica"]: row for row in summary["per_replica"]}
    assert per[7]["min_rmsd_at_ns"] == 0.002 and per[7]["final_rmsd_nm"] == 0.4


def test_ties_go_to_more_native_contacts():
    summary = pooled([curves(1, [0.2], [0.6]), curves(2, [0.2], [0.9])], 0.3)
    assert summary["best_replica"] == 2


def test_nothing_to_pool_yet():
    summary = pooled([curves(1, [])], 0.3)
    assert summary["best_replica"] is None and summary["lowest_rmsd_nm"] is None
    assert summary["fraction_below_threshold"] == 0.0
    assert replica_summary(curves(1, [])) is None
