"""The request log buffer: what a batch write stores."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db.models import Count, Sum

from chungus.telemetry.entries import BOUNDS, LogEntry
from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup
from chungus.telemetry.requestlog import BUSY_SCALE, LogBuffer, write_entries
from chungus.telemetry.rollups import PERIODS

pytestmark = pytest.mark.django_db


def test_a_nul_from_a_client_is_stored_as_a_replacement_character_not_a_failed_batch():
    # PostgreSQL's text cannot hold NUL: the batch, and every retry of it, would fail.
    entries = [
        LogEntry("chat/completions", 404, model="gemma\x00", prompt="hi\x00there"),
        LogEntry("chat/completions", 200, model="gemma"),
    ]
    write_entries(entries)
    rows = {row.model: row for row in RequestLog.objects.all()}
    assert set(rows) == {"gemma\ufffd", "gemma"}
    assert rows["gemma\ufffd"].prompt == "hi\ufffdthere"
    assert set(RequestRollup.objects.values_list("model", flat=True)) == {"gemma\ufffd", "gemma"}
    assert entries[0].model == "gemma\x00"  # what the caller holds is left alone


@pytest.mark.django_db(transaction=True)
async def test_a_row_the_database_refuses_is_dropped_and_the_rest_of_its_batch_is_stored():
    buffer = LogBuffer(batch_size=10)
    for status in (200, "not a status", 404):
        buffer.append(LogEntry("chat/completions", status, model="m"))  # type: ignore[arg-type]
    assert await buffer.flush() == 2
    assert buffer.rejected == 1 and buffer.pending == []
    statuses = await sync_to_async(
        lambda: sorted(RequestLog.objects.values_list("status", flat=True))
    )()
    assert statuses == [200, 404]


def test_an_entry_is_bounded_as_it_is_queued_so_the_queue_is_bounded_too():
    buffer = LogBuffer()
    buffer.append(LogEntry("chat/completions", 200, prompt="p" * 10**6))
    assert len(buffer.pending[0].prompt) == BOUNDS["prompt"]


def test_dropped_rows_are_counted_reported_and_told_in_one_line_per_minute(caplog):
    buffer = LogBuffer(max_pending=2)
    caplog.set_level(logging.WARNING, "chungus.telemetry")
    for _ in range(50):
        buffer.append(LogEntry("chat/completions", 200))
    assert buffer.status() == {"pending": 2, "dropped": 48, "rejected": 0}
    told = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(told) == 1 and "dropped 1 rows" in told[0]


def test_a_busy_buffer_writes_bigger_batches_up_to_its_bound():
    buffer = LogBuffer(batch_size=10)
    assert buffer.next_batch_size() == 10
    buffer.pending = [LogEntry("chat/completions", 200)] * 35
    assert buffer.next_batch_size() == 35
    buffer.pending = buffer.pending * 10
    assert buffer.next_batch_size() == 10 * BUSY_SCALE


@pytest.mark.django_db(transaction=True)
async def test_100k_entries_land_as_100k_rows_and_the_rollups_equal_the_log_sums():
    buffer = LogBuffer(batch_size=500)
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    for n in range(100_000):
        buffer.append(
            LogEntry(
                "chat/completions",
                (200, 200, 200, 500, 429, 499)[n % 6],
                created_at=start + timedelta(seconds=n % 7200),
                key_id=n % 7 or None,
                key_name=f"key-{n % 7}" if n % 7 else "",
                model=f"m{n % 3}",
                prompt_tokens=n % 11,
                completion_tokens=n % 13,
                latency_ms=float(n % 997),
                ttft_ms=float(n % 101) if n % 2 else None,
            )
        )
    assert await buffer.flush() == 100_000
    assert buffer.status() == {"pending": 0, "dropped": 0, "rejected": 0}
    await sync_to_async(_assert_rollups_equal_the_log)(100_000)


def _assert_rollups_equal_the_log(count: int) -> None:
    assert RequestLog.objects.count() == count
    ok = RequestLog.objects.filter(status__lt=400)
    log = {
        **RequestLog.objects.aggregate(
            requests=Count("id"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
        ),
        "errors": RequestLog.objects.filter(status__gte=400).exclude(status=499).count(),
        "latency": ok.aggregate(s=Sum("latency_ms"))["s"],
        "latency_n": ok.count(),
        "ttft_n": ok.exclude(ttft_ms=None).count(),
    }
    for period in PERIODS:
        models = list(RequestRollup.objects.filter(period=period))
        assert sum(r.requests for r in models) == log["requests"]
        assert sum(r.errors for r in models) == log["errors"]
        assert sum(r.prompt_tokens for r in models) == log["prompt"]
        assert sum(r.completion_tokens for r in models) == log["completion"]
        assert sum(r.latency_sum_ms for r in models) == pytest.approx(log["latency"])
        assert sum(sum(r.latency_hist) for r in models) == log["latency_n"]
        assert sum(sum(r.ttft_hist) for r in models) == log["ttft_n"]
        keys = KeyRollup.objects.filter(period=period).aggregate(
            r=Sum("requests"), e=Sum("errors"), p=Sum("prompt_tokens")
        )
        assert (keys["r"], keys["e"], keys["p"]) == (count, log["errors"], log["prompt"])
