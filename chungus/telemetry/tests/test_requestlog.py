"""The request log buffer: what a batch write stores."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async

from chungus.telemetry.entries import BOUNDS, LogEntry
from chungus.telemetry.models import RequestLog, RequestRollup
from chungus.telemetry.requestlog import LogBuffer, write_entries

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
