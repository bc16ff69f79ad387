"""The GPU chart's data: inventory samples bucketed by the database."""

from datetime import UTC, datetime, timedelta

import pytest

from chungus.fleet.inventory.gpu_history import WINDOWS, gpu_history
from chungus.fleet.models import InventorySample

pytestmark = pytest.mark.django_db  # also run on PostgreSQL by scripts/test

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)  # 30 s into the 10:00 minute
HOST = InventorySample.HOST


def sample(at: datetime, gpu: int = 0, used: int = 0, total: int = 1000, busy=None, **more):
    InventorySample.objects.create(
        time=int(at.timestamp()),
        node=more.pop("node", "box"),
        gpu=gpu,
        memory_used_mb=used,
        memory_total_mb=total,
        utilization_pct=busy,
        **more,
    )


@pytest.mark.parametrize("window", WINDOWS)
def test_every_window_has_at_most_120_buckets_ending_with_the_one_that_holds_now(window):
    data = gpu_history(window, now=NOW)
    count, seconds = WINDOWS[window]
    assert count <= 120 and len(data["labels"]) == count and data["bucket_seconds"] == seconds
    last = datetime.fromisoformat(data["labels"][-1])
    assert last <= NOW < last + timedelta(seconds=seconds)
    assert data["gpus"] == data["hosts"] == []


def test_a_bucket_holds_the_peak_memory_and_the_mean_utilization():
    minute = NOW.replace(second=0)
    sample(minute, used=200, busy=10)
    sample(minute + timedelta(seconds=20), used=600, busy=30)
    sample(minute + timedelta(seconds=40), used=400, busy=None)  # not measured: not averaged
    sample(minute - timedelta(minutes=2), used=100, busy=90)
    gpu = gpu_history("1h", now=NOW)["gpus"][0]
    assert (gpu["node"], gpu["gpu"], gpu["declared"], gpu["memory_total_mb"]) == (
        "box", 0, False, 1000
    )  # fmt: skip
    assert gpu["memory_used_pct"][-3:] == [10.0, None, 60.0]
    assert gpu["utilization_pct"][-3:] == [90.0, None, 20.0]
    assert gpu["memory_used_pct"][:-3] == [None] * 57


def test_samples_outside_the_window_are_left_out():
    first = datetime.fromisoformat(gpu_history("1h", now=NOW)["labels"][0])
    sample(first - timedelta(seconds=1), used=999)
    sample(NOW.replace(second=0) + timedelta(minutes=1), used=999)  # the future
    sample(first, used=500)
    assert gpu_history("1h", now=NOW)["gpus"][0]["memory_used_pct"] == [50.0] + [None] * 59


def test_long_windows_merge_many_samples_per_bucket():
    for minutes in range(0, 120, 5):  # two hours of samples, every 5 minutes
        sample(NOW - timedelta(minutes=minutes), used=minutes * 5, busy=minutes % 60)
    week = gpu_history("7d", now=NOW)["gpus"][0]
    day = gpu_history("24h", now=NOW)["gpus"][0]
    assert sum(v is not None for v in week["memory_used_pct"]) == 2  # two 2 h buckets
    assert sum(v is not None for v in day["memory_used_pct"]) == 9  # 15 min buckets
    assert max(v or 0 for v in week["memory_used_pct"]) == 57.5  # the peak, 115 minutes ago


def test_hosts_and_gpus_are_separate_series_sorted_by_node_and_index():
    sample(NOW, gpu=HOST, used=8000, total=16000, busy=25, node="b")
    sample(NOW, gpu=1, node="b")
    sample(NOW, gpu=0, node="b")
    sample(NOW, gpu=0, node="a", declared=True)
    data = gpu_history("1h", now=NOW)
    assert [(g["node"], g["gpu"], g["declared"]) for g in data["gpus"]] == [
        ("a", 0, True), ("b", 0, False), ("b", 1, False)
    ]  # fmt: skip
    host = data["hosts"][0]
    assert (host["node"], host["memory_total_mb"], host["declared"]) == ("b", 16000, False)
    assert host["memory_used_pct"][-1] == 50.0 and host["cpu_pct"][-1] == 25.0


def test_a_total_of_zero_is_no_percentage_rather_than_an_error():
    sample(NOW, gpu=HOST, used=0, total=0, node="declared-without-memory")
    assert gpu_history("1h", now=NOW)["hosts"][0]["memory_used_pct"][-1] is None


def test_it_reads_all_series_with_one_query(django_assert_num_queries):
    for gpu in range(8):
        for minutes in range(30):
            sample(NOW - timedelta(minutes=minutes), gpu=gpu, used=gpu * 100)
    with django_assert_num_queries(1):
        data = gpu_history("1h", now=NOW)
    assert len(data["gpus"]) == 8 and data["gpus"][7]["memory_used_pct"][-1] == 70.0


def test_an_unknown_window_is_refused():
    with pytest.raises(ValueError, match="2w"):
        gpu_history("2w")
