"""The request log buffer: appended to on the hot path, written in batches."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from operator import attrgetter

from asgiref.sync import sync_to_async
from django.db import DataError, IntegrityError
from django.db.backends.base.base import BaseDatabaseWrapper
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from chungus.lib.dbthreads import refresh_connections
from chungus.lib.supervise import beat
from chungus.telemetry.entries import BOUNDS, LogEntry, bounded, texts

logger = logging.getLogger("chungus.telemetry")
DROP_WARNING_SECONDS = 60.0  # at most one "rows dropped" line per this long
# The database refused the row itself (a value it cannot hold), not the connection.
BAD_ROW = (DataError, IntegrityError, ValueError, TypeError)
BUSY_SCALE = 8  # a busy buffer writes batches up to this many times the base batch size


def storable(entry: LogEntry) -> LogEntry:
    """The entry within its length bounds and with NUL replaced by U+FFFD: a client's model
    name or prompt may carry one, PostgreSQL's text cannot, and one such row would fail its
    whole batch on every retry."""
    entry = bounded(entry)
    if "\x00" not in "".join(texts(entry)):
        return entry
    clean = copy.copy(entry)
    for name in BOUNDS:  # every text field
        setattr(clean, name, getattr(entry, name).replace("\x00", "\ufffd"))
    return clean


def write_entries(entries: list[LogEntry]) -> None:
    """Insert a batch of entries and add it to the chart rollups (runs off the event loop).

    Rows go through the DB-API (COPY on PostgreSQL, executemany elsewhere), built from the
    entries directly: the ORM's model instances and bulk_create cost more CPU than the
    request they record.
    """
    from django.db import connection, transaction

    from chungus.telemetry.rollups import aggregate, apply_rollups

    refresh_connections()  # a pool thread's connection may be one a database restart broke
    entries = [storable(e) for e in entries]
    sql, names = _insert_sql(connection)
    when = _datetime_adapter(connection)
    at = names.index("created_at")
    values = attrgetter(*names)
    rows = []
    for entry in entries:
        row = list(values(entry))
        row[at] = when(row[at])
        rows.append(row)
    with transaction.atomic():  # rows and rollups together: a retried batch never counts twice
        if connection.vendor == "postgresql":
            _copy_rows(connection, sql, rows)
        elif connection.vendor == "sqlite":
            # sqlite3's own executemany: Django's cursor wrapper would rewrite the query and
            # go through its wrappers for every batch, for nothing it needs to do here.
            with connection.wrap_database_errors:
                connection.connection.executemany(sql.replace("%s", "?"), rows)
        else:
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)
        apply_rollups(aggregate(entries))


def _datetime_adapter(connection: BaseDatabaseWrapper) -> Callable[[datetime], object]:
    """How a created_at goes to the database. On SQLite, Django's adapter costs about 6 µs a
    row (settings and time zone lookups); an entry's time is always an aware UTC datetime,
    which is stored as its naive UTC text, the same text Django writes."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor != "sqlite" or connection.timezone_name != "UTC":
        return adapt

    def utc_text(value: datetime) -> object:
        if value.tzinfo is UTC:
            return str(value.replace(tzinfo=None))
        return adapt(value)

    return utc_text


def _copy_rows(connection: BaseDatabaseWrapper, insert: str, rows: list[list[object]]) -> None:
    """PostgreSQL's COPY (psycopg 3), in the open transaction, errors as Django's own."""
    head = insert[: insert.index(" VALUES")].replace("INSERT INTO", "COPY", 1)
    with (
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(f"{head} FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _insert_sql(connection: BaseDatabaseWrapper) -> tuple[str, list[str]]:
    """The INSERT for RequestLog and its field names, from the model's _meta (cannot drift)."""
    from chungus.telemetry.models import RequestLog

    quote = connection.ops.quote_name
    concrete = [f for f in RequestLog._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in concrete]
    columns = ", ".join(quote(f.column) for f in concrete)
    marks = ", ".join(["%s"] * len(concrete))
    return f"INSERT INTO {quote(RequestLog._meta.db_table)} ({columns}) VALUES ({marks})", names


class LogBuffer:
    """Collects entries in memory; a background task writes them in bulk."""

    def __init__(self, batch_size: int = 500, max_pending: int = 100_000) -> None:
        self.pending: list[LogEntry] = []
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.dropped = 0
        self.rejected = 0  # rows the database refused for their data
        self._wake = asyncio.Event()
        self._dropped_told = 0  # `dropped` when the last warning was logged
        self._told_at: float | None = None

    def append(self, entry: LogEntry) -> None:
        """Queue an entry (bounded first, so the queue's memory is bounded too)."""
        if len(self.pending) >= self.max_pending:
            self.dropped += 1  # the database is far behind; shed rather than grow without end
            self._tell_dropped()
            return
        self.pending.append(bounded(entry))
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    def status(self) -> dict[str, int]:
        """What /readyz reports: rows waiting, dropped for want of room, refused by the DB."""
        return {"pending": len(self.pending), "dropped": self.dropped, "rejected": self.rejected}

    def _tell_dropped(self) -> None:
        now = time.monotonic()
        if self._told_at is not None and now - self._told_at < DROP_WARNING_SECONDS:
            return
        logger.warning(
            "the request log is %d rows behind: dropped %d rows since the last warning "
            "(%d in all); is the database reachable?",
            len(self.pending),
            self.dropped - self._dropped_told,
            self.dropped,
        )
        self._told_at, self._dropped_told = now, self.dropped

    def next_batch_size(self) -> int:
        """The base batch size when idle, up to BUSY_SCALE times it when more is pending:
        a flush writes everything pending at once, so a busy buffer pays fewer, bigger
        transactions while an idle one still writes every interval."""
        return min(self.batch_size * BUSY_SCALE, max(self.batch_size, len(self.pending)))

    async def flush(self) -> int:
        """Write everything pending; return how many entries were written.

        A batch the database refuses for its data (not for being unreachable) is written
        again row by row, so one bad row is dropped, with an error in the log, instead of
        holding back every row after it on every retry.
        """
        write = sync_to_async(write_entries, thread_sensitive=False)
        written = 0
        while self.pending:
            size = self.next_batch_size()
            batch, self.pending = self.pending[:size], self.pending[size:]
            try:
                await write(batch)
                written += len(batch)
                continue
            except BAD_ROW:
                pass
            except Exception:
                self.pending = batch + self.pending  # keep them for the next flush
                raise
            for position, entry in enumerate(batch):
                try:
                    await write([entry])
                    written += 1
                except BAD_ROW as exc:
                    self.rejected += 1
                    logger.error("a request log row was refused and dropped: %s", exc)
                except Exception:
                    self.pending = batch[position:] + self.pending
                    raise
        return written

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds or when a batch fills; runs until cancelled.

        The cadence follows the load: when idle, one flush per interval; when a batch fills
        during a flush, the next flush starts at once, and each writes batches up to
        BUSY_SCALE times batch_size (next_batch_size), so a busy gateway pays fewer, bigger
        transactions.
        """
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("writing the request log failed; will retry")
            beat()


class LogBufferMetrics:
    """A buffer's status() for /metrics (register it on the process's registry)."""

    def __init__(self, buffer: LogBuffer) -> None:
        self.buffer = buffer

    def collect(self) -> Iterator[Metric]:
        status = self.buffer.status()
        yield GaugeMetricFamily(
            "chungus_request_log_pending", "Request log rows not yet written", status["pending"]
        )
        yield CounterMetricFamily(
            "chungus_request_log_dropped",
            "Request log rows dropped because the buffer was full",
            status["dropped"],
        )
        yield CounterMetricFamily(
            "chungus_request_log_rejected",
            "Request log rows the database refused",
            status["rejected"],
        )
