"""Rollups of the request log, kept up to date in the transaction that writes each batch.

`aggregate` (pure) folds a batch of LogEntry into per-(minute, model, key) deltas;
`apply_rollups` adds them into RequestRollup (per model, with latency histograms) and
KeyRollup (per key, sums only) at every period in PERIODS. Charts then read one row per
bucket and model: at low traffic per key, per-minute-per-key rows would be almost as many
as the raw rows they summarise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model

from chungus.telemetry import histogram
from chungus.telemetry.entries import LogEntry
from chungus.telemetry.models import KeyRollup, RequestRollup

PERIODS = (60, 900, 3600)  # the charts' bucket lengths: 1h, 24h and 7d windows
CLIENT_CLOSED = 499  # chungus.gateway.service.CLIENT_CLOSED: the client left, not a failure
NO_KEY = KeyRollup.NO_KEY


class Cell(NamedTuple):
    """Where a delta goes: a minute, a model and a key (NO_KEY for none)."""

    minute: datetime
    model: str
    key_id: int


@dataclass(slots=True)
class Delta:
    """What a batch adds to one cell."""

    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_sum_ms: float = 0.0
    latency_hist: list[int] = field(default_factory=list)
    ttft_hist: list[int] = field(default_factory=list)
    key_name: str = ""

    def add_entry(self, entry: LogEntry) -> None:
        self.requests += 1
        self.prompt_tokens += entry.prompt_tokens
        self.completion_tokens += entry.completion_tokens
        if is_error(entry.status):
            self.errors += 1
        elif entry.status < 400:
            self.latency_sum_ms += entry.latency_ms
            histogram.record(self.latency_hist, entry.latency_ms)
            if entry.ttft_ms is not None:
                histogram.record(self.ttft_hist, entry.ttft_ms)
        if entry.key_name:
            self.key_name = entry.key_name

    def merge(self, other: Delta) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.latency_sum_ms += other.latency_sum_ms
        histogram.merge(self.latency_hist, other.latency_hist)
        histogram.merge(self.ttft_hist, other.ttft_hist)
        self.key_name = other.key_name or self.key_name


Deltas = dict[Cell, Delta]


def is_error(status: int) -> bool:
    """Whether a logged status counts as an error (499, the client leaving, does not)."""
    return status >= 400 and status != CLIENT_CLOSED


def bucket_start(moment: datetime, seconds: int) -> datetime:
    """The UTC start of the `seconds`-long bucket holding `moment` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def aggregate(entries: Iterable[LogEntry]) -> Deltas:
    """Fold log entries into per-(minute, model, key) deltas."""
    deltas: Deltas = {}
    minutes: dict[datetime, datetime] = {}  # entries of a batch share a few minutes
    for entry in entries:
        moment = entry.created_at.replace(second=0, microsecond=0)
        minute = minutes.get(moment)
        if minute is None:
            minute = minutes[moment] = bucket_start(moment, 60)
        cell = Cell(minute, entry.model, entry.key_id or NO_KEY)
        delta = deltas.get(cell)
        if delta is None:
            delta = deltas[cell] = Delta()
        delta.add_entry(entry)
    return deltas


def by_model(deltas: Mapping[Cell, Delta], period: int) -> dict[tuple[datetime, str], Delta]:
    """Merge deltas into (bucket start, model) cells of `period` seconds."""
    out: dict[tuple[datetime, str], Delta] = {}
    starts = _starts(deltas, period)
    for cell, delta in deltas.items():
        out.setdefault((starts[cell.minute], cell.model), Delta()).merge(delta)
    return out


def by_key(deltas: Mapping[Cell, Delta], period: int) -> dict[tuple[datetime, str, int], Delta]:
    """Merge deltas into (bucket start, model, key) cells of `period` seconds, sums only."""
    out: dict[tuple[datetime, str, int], Delta] = {}
    starts = _starts(deltas, period)
    for cell, delta in deltas.items():
        target = out.setdefault((starts[cell.minute], cell.model, cell.key_id), Delta())
        target.requests += delta.requests
        target.errors += delta.errors
        target.prompt_tokens += delta.prompt_tokens
        target.completion_tokens += delta.completion_tokens
        target.key_name = delta.key_name or target.key_name
    return out


def _starts(deltas: Iterable[Cell], period: int) -> dict[datetime, datetime]:
    return {minute: bucket_start(minute, period) for minute in {c.minute for c in deltas}}


def apply_rollups(deltas: Mapping[Cell, Delta]) -> None:
    """Add deltas into RequestRollup and KeyRollup at every period, in one transaction.

    Sums are upserts computed by the database (INSERT ... ON CONFLICT DO UPDATE SET n = n +
    excluded.n), one executemany per table and period, so concurrent writers never lose a
    count. Histograms are merged after the upsert, which has locked their rows.
    """
    if not deltas:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for period in PERIODS:
            models = sorted(by_model(deltas, period).items())  # one lock order for all writers
            _upsert_models(cursor, period, models)
            _merge_histograms(cursor, period, models)
            _upsert_keys(cursor, period, sorted(by_key(deltas, period).items()))


_SUMS = ["requests", "errors", "prompt_tokens", "completion_tokens"]


def _upsert_sql(
    model: type[Model], cell: list[str], fixed: list[str], values: list[str], extra: str = ""
) -> str:
    """Insert a row per cell, or add `values` into the existing one (`fixed`: insert only)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = cell + fixed + values
    columns = ", ".join(quote(_field(model, name).column) for name in names)
    marks = ", ".join(["%s"] * len(names))
    adds = ", ".join(f"{quote(n)} = {table}.{quote(n)} + excluded.{quote(n)}" for n in values)
    conflict = ", ".join(quote(name) for name in cell)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {adds}{extra}"
    )


def _upsert_models(
    cursor: CursorWrapper, period: int, cells: list[tuple[tuple[datetime, str], Delta]]
) -> None:
    values = [*_SUMS, "latency_sum_ms"]
    # The histograms start empty here and are merged by _merge_histograms.
    sql = _upsert_sql(
        RequestRollup, ["period", "start", "model"], ["latency_hist", "ttft_hist"], values
    )
    empty = _json_field(RequestRollup, "latency_hist", [])
    when = connection.ops.adapt_datetimefield_value
    rows = [
        (period, when(start), model, empty, empty, *(getattr(d, n) for n in values))
        for (start, model), d in cells
    ]
    cursor.executemany(sql, rows)


def _merge_histograms(
    cursor: CursorWrapper, period: int, cells: list[tuple[tuple[datetime, str], Delta]]
) -> None:
    wanted = {cell: d for cell, d in cells if d.latency_hist or d.ttft_hist}
    if not wanted:
        return
    quote = connection.ops.quote_name
    when = connection.ops.adapt_datetimefield_value
    starts = [start for start, _ in wanted]
    models = sorted({model for _, model in wanted})
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(
        f"SELECT id, start, model, latency_hist, ttft_hist FROM "
        f"{quote(RequestRollup._meta.db_table)} WHERE period = %s AND start >= %s "
        f"AND start <= %s AND model IN ({', '.join(['%s'] * len(models))}) ORDER BY id{lock}",
        [period, when(min(starts)), when(max(starts)), *models],
    )
    updates = []
    for pk, start, model, latency, ttft in cursor.fetchall():
        delta = wanted.get((_as_datetime(start), model))
        if delta is None:
            continue
        updates.append(
            (
                _json_field(
                    RequestRollup, "latency_hist", _merged(_loads(latency), delta.latency_hist)
                ),
                _json_field(RequestRollup, "ttft_hist", _merged(_loads(ttft), delta.ttft_hist)),
                pk,
            )
        )
    cursor.executemany(
        f"UPDATE {quote(RequestRollup._meta.db_table)} SET latency_hist = %s, ttft_hist = %s "
        f"WHERE id = %s",
        updates,
    )


def _upsert_keys(
    cursor: CursorWrapper, period: int, cells: list[tuple[tuple[datetime, str, int], Delta]]
) -> None:
    table = connection.ops.quote_name(KeyRollup._meta.db_table)
    keep_name = (
        f", key_name = CASE WHEN excluded.key_name <> '' THEN excluded.key_name "
        f"ELSE {table}.key_name END"
    )
    sql = _upsert_sql(
        KeyRollup, ["period", "start", "model", "key_id"], ["key_name"], _SUMS, keep_name
    )
    when = connection.ops.adapt_datetimefield_value
    rows = [
        (period, when(start), model, key_id, d.key_name, *(getattr(d, n) for n in _SUMS))
        for (start, model, key_id), d in cells
    ]
    cursor.executemany(sql, rows)


def _json_field(model: type[Model], name: str, value: list[int]) -> Any:
    return _field(model, name).get_db_prep_save(value, connection)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # the rollups' own concrete fields, never a relation
    return field


def _loads(stored: Any) -> list[int]:
    return json.loads(stored) if isinstance(stored, str | bytes) else list(stored or [])


def _as_datetime(stored: Any) -> datetime:
    """A start column as read back: an aware datetime (PostgreSQL) or UTC text (SQLite)."""
    if isinstance(stored, str):
        stored = datetime.fromisoformat(stored)
    return stored if stored.tzinfo else stored.replace(tzinfo=UTC)


def _merged(stored: list[int], delta: list[int]) -> list[int]:
    counts = list(stored)
    histogram.merge(counts, delta)
    return histogram.trimmed(counts)
