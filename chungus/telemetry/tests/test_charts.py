"""The dashboard's chart data, read from the rollups."""

from datetime import UTC, datetime, timedelta

import pytest

from chungus.telemetry.charts import chart_data
from chungus.telemetry.entries import LogEntry
from chungus.telemetry.models import RequestLog
from chungus.telemetry.requestlog import write_entries

NOW = datetime(2026, 3, 2, 10, 14, 30, tzinfo=UTC)


def entry(at, status=200, *, model="m", key_id=1, latency=100.0, ttft=None, p=10, c=60):
    return LogEntry(
        endpoint="chat/completions",
        status=status,
        created_at=at,
        key_id=key_id,
        key_name=f"key-{key_id}" if key_id else "",
        model=model,
        prompt_tokens=p,
        completion_tokens=c,
        latency_ms=latency,
        ttft_ms=ttft,
    )


@pytest.mark.django_db
def test_every_window_has_one_label_per_bucket_ending_with_the_current_one():
    for window, count, seconds, first in (
        ("1h", 60, 60, "2026-03-02T09:15:00Z"),
        ("24h", 96, 900, "2026-03-01T10:15:00Z"),
        ("7d", 168, 3600, "2026-02-23T11:00:00Z"),
    ):
        data = chart_data(window, now=NOW)
        assert (data["window"], data["bucket_seconds"], len(data["labels"])) == (
            window,
            seconds,
            count,
        )
        assert data["labels"][0] == first
        last = datetime.fromisoformat(data["labels"][-1])
        assert last <= NOW < last + timedelta(seconds=seconds)


def test_an_unknown_window_is_refused():
    with pytest.raises(ValueError, match="unknown window"):
        chart_data("3d", now=NOW)


@pytest.mark.django_db
def test_no_traffic_gives_empty_series_and_zero_totals():
    data = chart_data("1h", now=NOW)
    assert data["models"] == [] and data["top_keys"] == []
    assert data["series"]["latency_p50_ms"] == {}
    assert data["totals"] == {
        "requests": 0,
        "errors": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


@pytest.mark.django_db
def test_requests_land_in_their_buckets_and_empty_buckets_are_null():
    write_entries(
        [
            entry(NOW - timedelta(seconds=10), latency=100, ttft=40),
            entry(NOW - timedelta(seconds=20), latency=200, ttft=40),
            entry(NOW - timedelta(seconds=25), 500, latency=1),
            entry(NOW - timedelta(seconds=29), 499),
            entry(NOW - timedelta(minutes=5), model="other", latency=1000),
            entry(NOW - timedelta(hours=2)),  # outside the window
        ]
    )
    data = chart_data("1h", now=NOW)
    series = data["series"]
    assert data["models"] == ["m", "other"]
    assert series["requests_per_minute"]["m"][-1] == 4
    assert series["requests_per_minute"]["m"][-2] == 0
    assert series["requests_per_minute"]["other"][-6] == 1
    assert series["tokens_per_second"]["m"][-1] == 4 * 60 / 60
    assert series["error_rate"]["m"][-1] == 0.25  # 499 is the client leaving, not an error
    assert series["error_rate"]["m"][-2] is None
    assert 100 <= series["latency_p50_ms"]["m"][-1] <= 200
    assert 180 <= series["latency_p95_ms"]["m"][-1] <= 220
    assert 36 <= series["ttft_p50_ms"]["m"][-1] <= 44
    assert series["latency_p50_ms"]["m"][-2] is None
    assert series["ttft_p50_ms"]["other"][-6] is None  # not a stream
    assert all(len(values) == 60 for s in series.values() for values in s.values())
    assert data["totals"] == {
        "requests": 5,
        "errors": 1,
        "prompt_tokens": 50,
        "completion_tokens": 300,
    }


@pytest.mark.django_db
def test_longer_windows_merge_requests_into_wider_buckets():
    write_entries(
        [entry(NOW - timedelta(minutes=m), latency=100 * (m + 1)) for m in range(0, 14)]
        + [entry(NOW - timedelta(hours=30))]
    )
    day = chart_data("24h", now=NOW)
    assert day["series"]["requests_per_minute"]["m"][-1] == pytest.approx(14 / 15, abs=1e-3)
    assert day["totals"]["requests"] == 14
    week = chart_data("7d", now=NOW)
    assert week["series"]["requests_per_minute"]["m"][-1] == pytest.approx(14 / 60, abs=1e-3)
    assert week["series"]["requests_per_minute"]["m"][-31] == pytest.approx(1 / 60, abs=1e-3)
    assert week["totals"]["requests"] == 15
    assert 600 <= week["series"]["latency_p50_ms"]["m"][-1] <= 800


@pytest.mark.django_db
def test_top_keys_rank_by_requests_and_leave_out_keyless_requests():
    entries = [entry(NOW, key_id=k) for k in range(1, 13) for _ in range(k)]
    entries += [entry(NOW, key_id=None)] * 50
    entries += [entry(NOW, key_id=12, model="other", p=1, c=1)]
    write_entries(entries)
    top = chart_data("1h", now=NOW)["top_keys"]
    assert [k["key_id"] for k in top] == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3]
    assert top[0] == {"key_id": 12, "key_name": "key-12", "requests": 13, "tokens": 12 * 70 + 2}


@pytest.mark.django_db
def test_one_model_can_be_asked_for_even_without_traffic():
    write_entries([entry(NOW, model="a", key_id=1), entry(NOW, model="b", key_id=2)])
    data = chart_data("1h", model="b", now=NOW)
    assert data["models"] == ["b"] and data["totals"]["requests"] == 1
    assert [k["key_id"] for k in data["top_keys"]] == [2]
    quiet = chart_data("1h", model="c", now=NOW)
    assert quiet["models"] == ["c"] and quiet["series"]["requests_per_minute"]["c"] == [0] * 60


@pytest.mark.django_db
def test_charts_read_the_rollups_not_the_raw_log():
    write_entries([entry(NOW), entry(NOW, 500)])
    before = chart_data("1h", now=NOW)
    RequestLog.objects.all().delete()
    assert chart_data("1h", now=NOW) == before
