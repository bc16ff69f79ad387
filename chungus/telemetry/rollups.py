"""Rollups of the request log, kept up to date in the transaction that writes each batch.

`aggregate` (pure) folds a batch of LogEntry into per-(minute, model, key) deltas;
`apply_rollups` adds them into RequestRollup (per model, with latency histograms) and
KeyRollup (per key, sums only) at every period in PERIODS. Charts then read one row per
bucket and model: at low traffic per key, per-minute-per-key rows would be almost as many
as the raw rows they summarise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import IntegrityError, transaction

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
    """Add deltas into RequestRollup and KeyRollup at every period, in one transaction."""
    if not deltas:
        return
    try:
        with transaction.atomic():
            _apply(deltas)
    except IntegrityError:
        # Another writer inserted one of our missing rows after we looked; it is committed
        # now (the unique index made us wait for it), so a second pass updates it instead.
        with transaction.atomic():
            _apply(deltas)


def _apply(deltas: Mapping[Cell, Delta]) -> None:
    for period in PERIODS:
        _apply_models(period, by_model(deltas, period))
        _apply_keys(period, by_key(deltas, period))


_SUMS = ["requests", "errors", "prompt_tokens", "completion_tokens"]


def _apply_models(period: int, cells: dict[tuple[datetime, str], Delta]) -> None:
    starts = [start for start, _ in cells]
    rows = (
        RequestRollup.objects.select_for_update()  # a no-op on SQLite, which locks the database
        .filter(period=period, start__gte=min(starts), start__lte=max(starts))
        .filter(model__in={model for _, model in cells})
        .order_by("pk")  # lock in one order so concurrent writers cannot deadlock
    )
    existing = {(row.start, row.model): row for row in rows}
    changed, created = [], []
    for (start, model), delta in sorted(cells.items()):  # one insert order for all writers
        row = existing.get((start, model))
        if row is None:
            row = RequestRollup(period=period, start=start, model=model)
            created.append(row)
        else:
            changed.append(row)
        for name in _SUMS:
            setattr(row, name, getattr(row, name) + getattr(delta, name))
        row.latency_sum_ms += delta.latency_sum_ms
        row.latency_hist = _merged(row.latency_hist, delta.latency_hist)
        row.ttft_hist = _merged(row.ttft_hist, delta.ttft_hist)
    fields = [*_SUMS, "latency_sum_ms", "latency_hist", "ttft_hist"]
    RequestRollup.objects.bulk_update(changed, fields, batch_size=200)
    RequestRollup.objects.bulk_create(created, batch_size=500)


def _apply_keys(period: int, cells: dict[tuple[datetime, str, int], Delta]) -> None:
    starts = [start for start, _, _ in cells]
    rows = (
        KeyRollup.objects.select_for_update()
        .filter(period=period, start__gte=min(starts), start__lte=max(starts))
        .filter(model__in={model for _, model, _ in cells})
        .filter(key_id__in={key_id for _, _, key_id in cells})
        .order_by("pk")
    )
    existing = {(row.start, row.model, row.key_id): row for row in rows}
    changed, created = [], []
    for (start, model, key_id), delta in sorted(cells.items()):
        row = existing.get((start, model, key_id))
        if row is None:
            row = KeyRollup(period=period, start=start, model=model, key_id=key_id)
            created.append(row)
        else:
            changed.append(row)
        for name in _SUMS:
            setattr(row, name, getattr(row, name) + getattr(delta, name))
        row.key_name = delta.key_name or row.key_name
    KeyRollup.objects.bulk_update(changed, [*_SUMS, "key_name"], batch_size=200)
    KeyRollup.objects.bulk_create(created, batch_size=500)


def _merged(stored: list[int], delta: list[int]) -> list[int]:
    counts = list(stored)
    histogram.merge(counts, delta)
    return histogram.trimmed(counts)
