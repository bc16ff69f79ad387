"""Rollups of the request log, written with each batch."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from chungus.telemetry import histogram
from chungus.telemetry.entries import LogEntry
from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup
from chungus.telemetry.requestlog import write_entries
from chungus.telemetry.rollups import PERIODS, Cell, aggregate, apply_rollups

T0 = datetime(2026, 3, 2, 10, 14, 5, tzinfo=UTC)
MINUTE = datetime(2026, 3, 2, 10, 14, tzinfo=UTC)


def entry(status=200, *, at=T0, model="m", key_id=1, latency=100.0, ttft=None, p=10, c=20):
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


def test_a_batch_folds_into_minute_model_and_key_cells():
    deltas = aggregate(
        [
            entry(latency=100, ttft=30),
            entry(latency=300, at=T0.replace(second=59)),
            entry(500, latency=5),
            entry(429, latency=1),
            entry(499, latency=7000),  # the client left: not an error, not a latency sample
            entry(model="other"),
            entry(key_id=None),
            entry(at=T0.replace(minute=15)),
        ]
    )
    assert set(deltas) == {
        Cell(MINUTE, "m", 1),
        Cell(MINUTE, "other", 1),
        Cell(MINUTE, "m", 0),
        Cell(MINUTE.replace(minute=15), "m", 1),
    }
    d = deltas[Cell(MINUTE, "m", 1)]
    assert (d.requests, d.errors, d.prompt_tokens, d.completion_tokens) == (5, 2, 50, 100)
    assert d.latency_sum_ms == 400
    assert sum(d.latency_hist) == 2 and sum(d.ttft_hist) == 1
    assert d.latency_hist[histogram.bucket_of(300)] == 1
    assert d.key_name == "key-1"
    assert deltas[Cell(MINUTE, "m", 0)].key_name == ""


@pytest.mark.django_db
def test_rollups_are_kept_per_model_and_per_key_at_every_period():
    apply_rollups(aggregate([entry(key_id=1), entry(key_id=2), entry(500, key_id=2)]))
    for period in PERIODS:
        row = RequestRollup.objects.get(period=period, model="m")
        assert row.start == datetime.fromtimestamp(T0.timestamp() // period * period, UTC)
        assert (row.requests, row.errors, row.prompt_tokens, row.completion_tokens) == (
            3,
            1,
            30,
            60,
        )
        assert sum(row.latency_hist) == 2 and row.latency_sum_ms == 200
        keys = KeyRollup.objects.filter(period=period).order_by("key_id")
        assert [(k.key_id, k.key_name, k.requests, k.errors) for k in keys] == [
            (1, "key-1", 1, 0),
            (2, "key-2", 2, 1),
        ]


@pytest.mark.django_db
def test_a_second_batch_adds_into_the_existing_rows():
    apply_rollups(aggregate([entry(latency=100, ttft=20), entry(latency=100)]))
    apply_rollups(aggregate([entry(latency=2000, ttft=400), entry(429)]))
    row = RequestRollup.objects.get(period=60, model="m")
    assert (row.requests, row.errors, row.latency_sum_ms) == (4, 1, 2200)
    assert row.latency_hist[histogram.bucket_of(100)] == 2
    assert row.latency_hist[histogram.bucket_of(2000)] == 1
    assert sum(row.ttft_hist) == 2
    assert RequestRollup.objects.count() == len(PERIODS)
    assert KeyRollup.objects.get(period=3600).requests == 4


@pytest.mark.django_db
def test_write_entries_stores_raw_rows_and_their_rollups_together():
    write_entries([entry(), entry(at=T0.replace(hour=11))])
    assert RequestLog.objects.count() == 2
    assert RequestRollup.objects.filter(period=60).count() == 2
    assert RequestRollup.objects.get(period=3600, start=MINUTE.replace(minute=0)).requests == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_to_the_same_cells_lose_no_counts():
    threads, batches, start = 4, 10, threading.Barrier(4)

    def writer(n: int) -> None:
        start.wait()
        try:
            for _ in range(batches):
                write_entries([entry(key_id=k, model=f"m{k % 2}") for k in range(1, 5)])
        finally:
            connection.close()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = threads * batches * 4
    for period in PERIODS:
        rows = RequestRollup.objects.filter(period=period)
        assert sum(r.requests for r in rows) == total
        assert sum(k.requests for k in KeyRollup.objects.filter(period=period)) == total
