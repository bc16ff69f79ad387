"""Pruning old request-log rows and fine rollups."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from chungus.telemetry.entries import LogEntry
from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup
from chungus.telemetry.requestlog import write_entries
from chungus.telemetry.retention import prune_fine_rollups, prune_raw_logs, run_retention

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def logged(*ages_in_days: float, now: datetime = NOW) -> None:
    write_entries(
        [
            LogEntry(
                endpoint="chat/completions",
                status=200,
                model="m",
                created_at=now - timedelta(days=d),
            )
            for d in ages_in_days
        ]
    )


def rollups(**filters):
    return set(RequestRollup.objects.filter(**filters).values_list("period", "start", "requests"))


@pytest.mark.django_db
def test_it_prunes_only_rows_older_than_the_retention_and_keeps_rollups():
    logged(31, 31, 40, 40, 45, 29, 1, 0)
    before = rollups()
    assert prune_raw_logs(30, chunk=2, now=NOW) == 5
    ages = sorted((NOW - r.created_at).days for r in RequestLog.objects.all())
    assert ages == [0, 1, 29]
    assert rollups() == before
    assert prune_raw_logs(30, now=NOW) == 0


@pytest.mark.django_db
def test_it_prunes_minute_and_quarter_hour_rollups_but_keeps_hourly_ones():
    logged(40, 40, 1)
    hourly = rollups(period=3600)
    # one old minute: its 60 s and 900 s rows, in both tables
    assert prune_fine_rollups(30, chunk=1, now=NOW) == 4
    assert rollups(period=3600) == hourly
    assert {period for period, _, _ in rollups(start__lt=NOW - timedelta(days=30))} == {3600}
    assert KeyRollup.objects.filter(period=60).count() == 1


@pytest.mark.django_db(transaction=True)
async def test_the_retention_loop_prunes_in_the_background_until_cancelled():
    await sync_to_async(logged)(3, 3, 0.5, now=timezone.now())
    task = asyncio.create_task(run_retention(2, interval_seconds=3600))
    try:
        for _ in range(100):
            if await sync_to_async(RequestLog.objects.count)() == 1:
                break
            await asyncio.sleep(0.05)
        assert await sync_to_async(RequestLog.objects.count)() == 1
        hourly = RequestRollup.objects.filter(period=3600)
        assert await sync_to_async(hourly.count)() == 2
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await sync_to_async(lambda: connection.close())()  # leave no session behind
