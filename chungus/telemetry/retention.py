"""Retention: request-log rows older than CHUNGUS_LOG_RETENTION_DAYS are pruned.

Rows go in bounded chunks, each its own short transaction, so pruning a large backlog
never holds a table (or SQLite's single write lock) for long and the log writer gets in
between chunks. Hourly rollups are kept for good, so the 7-day chart (and any longer
one) never loses history; minute and quarter-hour rollups feed only the 1h and 24h
charts and go with the raw rows, or per-key minute rows would grow about as fast as the
raw log at low traffic. Two replicas pruning at once is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from chungus.lib.supervise import beat
from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup

logger = logging.getLogger("chungus.telemetry")

CHUNK = 5000
KEPT_PERIOD = 3600  # rollups of at least this many seconds are never pruned


def prune_chunk(rows: QuerySet[Any], limit: int = CHUNK) -> int:
    """Delete up to `limit` of `rows`, oldest first; return how many went."""
    ids = list(rows.values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    deleted, _ = rows.model.objects.filter(pk__in=ids).delete()
    return deleted


def expired_raw_rows(cutoff: datetime) -> QuerySet[RequestLog]:
    """Raw request-log rows created before `cutoff`."""
    return RequestLog.objects.filter(created_at__lt=cutoff).order_by("created_at")


def expired_fine_rollups(cutoff: datetime) -> list[QuerySet[Any]]:
    """Rollups finer than KEPT_PERIOD whose bucket starts before `cutoff`."""
    return [
        table.objects.filter(period__lt=KEPT_PERIOD, start__lt=cutoff).order_by("start")
        for table in (RequestRollup, KeyRollup)
    ]


def prune_raw_logs(older_than_days: int, *, chunk: int = CHUNK, now: datetime | None = None) -> int:
    """Delete raw rows older than `older_than_days`, chunk by chunk; return how many went."""
    return _drain(expired_raw_rows(_cutoff(older_than_days, now)), chunk)


def prune_fine_rollups(
    older_than_days: int, *, chunk: int = CHUNK, now: datetime | None = None
) -> int:
    """Delete minute and quarter-hour rollups older than `older_than_days`; hourly ones stay."""
    cutoff = _cutoff(older_than_days, now)
    return sum(_drain(rows, chunk) for rows in expired_fine_rollups(cutoff))


async def run_retention(days: int, interval_seconds: float = 3600.0) -> None:
    """Prune now and then every `interval_seconds`; runs until cancelled."""
    prune = sync_to_async(_prune_chunk_and_disconnect, thread_sensitive=False)
    while True:
        try:
            cutoff = _cutoff(days, None)
            raw = 0
            while deleted := await prune(expired_raw_rows(cutoff)):  # cancellable between chunks
                raw += deleted
                beat()
            for rows in expired_fine_rollups(cutoff):
                while await prune(rows):
                    pass
            if raw:
                logger.info("pruned %d request log rows older than %d days", raw, days)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("pruning the request log failed; will retry")
        beat()
        await asyncio.sleep(interval_seconds)


def _cutoff(days: int, now: datetime | None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)


def _drain(rows: QuerySet[Any], chunk: int) -> int:
    total = 0
    while deleted := prune_chunk(rows, chunk):
        total += deleted
    return total


def _prune_chunk_and_disconnect(rows: QuerySet[Any]) -> int:
    # A pool thread would otherwise keep an idle connection open for the hour between passes.
    try:
        return prune_chunk(rows)
    finally:
        connection.close()
