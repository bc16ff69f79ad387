"""The chart benchmark's traffic: a week of request-log rows, bulk-inserted with their rollups."""

from __future__ import annotations

import argparse
import gc
import math
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

MODELS = {  # name: (share of traffic, median latency ms)
    "llama-3.1-8b": (0.35, 900.0),
    "qwen2.5-7b": (0.25, 700.0),
    "gemma3-270m": (0.20, 120.0),
    "mistral-7b": (0.12, 1100.0),
    "phi-4": (0.08, 1600.0),
}


STATUSES = ((200, 0.93), (429, 0.02), (401, 0.01), (500, 0.01), (502, 0.01), (499, 0.02))


RAW_COLUMNS = (
    "created_at", "key_id", "key_name", "model", "backend", "endpoint", "status",
    "prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms", "stream", "error_type",
    "attempts", "prompt",
)  # fmt: skip


def traffic(args: argparse.Namespace, end: datetime) -> Iterator[list[Any]]:
    """Batches of LogEntry in time order: weighted models and statuses, ~3% keyless."""
    from chungus.telemetry.entries import LogEntry

    rng = random.Random(args.seed)
    span = args.days * 86400
    start = end.timestamp() - span
    moments = sorted(start + rng.random() * span for _ in range(args.rows))
    names, shares = list(MODELS), [share for share, _ in MODELS.values()]
    codes, weights = [code for code, _ in STATUSES], [w for _, w in STATUSES]
    for offset in range(0, args.rows, args.batch):
        chunk = moments[offset : offset + args.batch]
        models = rng.choices(names, shares, k=len(chunk))
        statuses = rng.choices(codes, weights, k=len(chunk))
        batch = []
        for moment, model, status in zip(chunk, models, statuses, strict=True):
            key = rng.randint(1, args.keys) if rng.random() > 0.03 else None
            stream = rng.random() < 0.6
            ok = status < 400
            latency = rng.lognormvariate(math.log(MODELS[model][1]), 0.5) if ok else 3.0
            batch.append(
                LogEntry(
                    endpoint="chat/completions",
                    status=status,
                    created_at=datetime.fromtimestamp(moment, UTC),
                    key_id=key,
                    key_name=f"key-{key:02d}" if key else "",
                    model=model,
                    backend="http://127.0.0.1:9/v1",
                    prompt_tokens=rng.randint(20, 2000) if ok else 0,
                    completion_tokens=rng.randint(1, 800) if ok else 0,
                    latency_ms=latency,
                    ttft_ms=latency * rng.uniform(0.05, 0.3) if ok and stream else None,
                    stream=stream,
                )
            )
        yield batch


def insert_raw(batch: list[Any]) -> None:
    """Bulk-insert raw rows without the ORM: COPY on PostgreSQL, executemany on SQLite."""
    from django.db import connection, transaction

    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            adapt(e.created_at), e.key_id, e.key_name, e.model, e.backend, e.endpoint, e.status,
            e.prompt_tokens, e.completion_tokens, e.latency_ms, e.ttft_ms, e.stream,
            e.error_type, e.attempts, e.prompt,
        )
        for e in batch
    ]  # fmt: skip
    columns = ", ".join(RAW_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY gateway_requestlog ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(RAW_COLUMNS))
            sql = f"INSERT INTO gateway_requestlog ({columns}) VALUES ({marks})"
            cursor.executemany(sql, rows)


def generate(args: argparse.Namespace, end: datetime) -> None:
    from chungus.telemetry.rollups import aggregate, apply_rollups

    began, done = time.perf_counter(), 0
    for batch in traffic(args, end):
        insert_raw(batch)
        apply_rollups(aggregate(batch))
        done += len(batch)
        elapsed = time.perf_counter() - began
        print(f"  {done:>9,} rows, rollups built  ({elapsed:5.1f} s)", file=sys.stderr, flush=True)
    from django.db import connection

    with connection.cursor() as cursor:  # settle as a long-running server would be
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    gc.collect()


def table_sizes() -> dict[str, int]:
    from django.db.models import Count

    from chungus.telemetry.models import KeyRollup, RequestLog, RequestRollup

    sizes = {"RequestLog": RequestLog.objects.count()}
    for table in (RequestRollup, KeyRollup):
        counts = table.objects.values("period").annotate(n=Count("id")).order_by("period")
        for row in counts:
            sizes[f"{table.__name__} {row['period']} s"] = row["n"]
    return sizes
