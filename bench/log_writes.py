"""Time and CPU of one request-log batch write: the ORM path (before) against the DB-API path.

For each batch size (--sizes, default 500 and 5000) it writes --runs batches of synthetic
LogEntry rows through `before` (RequestLog model instances + bulk_create, rollups read with
select_for_update and written with bulk_update: the code before issue 14, kept here as the
baseline) and `after` (chungus.telemetry.requestlog.write_entries), alternating, on a fresh
database, and prints the median wall and CPU milliseconds per batch and after/before ratios.

SQLite under a temporary CHUNGUS_HOME always; with --database-url also a new PostgreSQL
database on that server (dropped at the end). Each database runs in its own child process
(Django's settings are per process); before and after always share one.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chart_data import fresh_database, setup_django

BENCH = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="500,5000", help="batch sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=7, help="timed batches per size and path")
    parser.add_argument("--database-url", default="", help="PostgreSQL server to test too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def entries(count: int, offset: int) -> list:  # type: ignore[type-arg]
    from chungus.telemetry.entries import LogEntry

    start = datetime.now(UTC) - timedelta(minutes=5)
    return [
        LogEntry(
            "chat/completions",
            (200, 200, 200, 500, 429)[n % 5],
            created_at=start + timedelta(milliseconds=(offset + n) * 7),
            key_id=n % 50 + 1,
            key_name=f"key-{n % 50 + 1}",
            model=f"model-{n % 4}",
            backend="http://127.0.0.1:8080",
            prompt_tokens=n % 300,
            completion_tokens=n % 200,
            latency_ms=float(n % 900 + 20),
            ttft_ms=float(n % 90 + 5) if n % 2 else None,
        )
        for n in range(count)
    ]


def write_before(batch: list) -> None:  # type: ignore[type-arg]
    """The ORM write path as it was before issue 14 (the baseline)."""
    from django.db import transaction

    from chungus.telemetry.models import RequestLog
    from chungus.telemetry.requestlog import storable
    from chungus.telemetry.rollups import PERIODS, aggregate, by_key, by_model

    batch = [storable(e) for e in batch]
    with transaction.atomic():
        RequestLog.objects.bulk_create([RequestLog(**asdict(e)) for e in batch], batch_size=500)
        deltas = aggregate(batch)
        for period in PERIODS:
            _models_before(period, by_model(deltas, period))
            _keys_before(period, by_key(deltas, period))


_SUMS = ["requests", "errors", "prompt_tokens", "completion_tokens"]


def _models_before(period: int, cells: dict) -> None:  # type: ignore[type-arg]
    from chungus.telemetry import histogram
    from chungus.telemetry.models import RequestRollup

    starts = [start for start, _ in cells]
    rows = (
        RequestRollup.objects.select_for_update()
        .filter(period=period, start__gte=min(starts), start__lte=max(starts))
        .filter(model__in={model for _, model in cells})
        .order_by("pk")
    )
    existing = {(row.start, row.model): row for row in rows}
    changed, created = [], []
    for (start, model), delta in sorted(cells.items()):
        row = existing.get((start, model))
        if row is None:
            row = RequestRollup(period=period, start=start, model=model)
            created.append(row)
        else:
            changed.append(row)
        for name in _SUMS:
            setattr(row, name, getattr(row, name) + getattr(delta, name))
        row.latency_sum_ms += delta.latency_sum_ms
        for name in ("latency_hist", "ttft_hist"):
            counts = list(getattr(row, name))
            histogram.merge(counts, getattr(delta, name))
            setattr(row, name, histogram.trimmed(counts))
    fields = [*_SUMS, "latency_sum_ms", "latency_hist", "ttft_hist"]
    RequestRollup.objects.bulk_update(changed, fields, batch_size=200)
    RequestRollup.objects.bulk_create(created, batch_size=500)


def _keys_before(period: int, cells: dict) -> None:  # type: ignore[type-arg]
    from chungus.telemetry.models import KeyRollup

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


def measure(write: Callable[[list], None], batch: list) -> tuple[float, float]:  # type: ignore[type-arg]
    wall, cpu = time.perf_counter(), time.process_time()
    write(batch)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def run_child(args: argparse.Namespace) -> None:
    from chungus.telemetry.requestlog import write_entries

    label = "postgresql" if args.database_url else "sqlite"
    paths = {"before": write_before, "after": write_entries}
    for size in [int(s) for s in args.sizes.split(",")]:
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for run in range(args.runs + 1):  # the first round warms up and is not counted
            for name, write in paths.items():
                sample = measure(write, entries(size, run * size))
                if run:
                    times[name].append(sample)
        med = {
            name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for name, s in times.items()
        }
        (bw, bc), (aw, ac) = med["before"], med["after"]
        print(
            f"{label:10} {size:6} rows  before {bw:8.1f} ms wall {bc:8.1f} ms cpu  "
            f"after {aw:8.1f} ms wall {ac:8.1f} ms cpu  after/before wall {aw / bw:.2f} "
            f"cpu {ac / bc:.2f}",
            flush=True,
        )


def main() -> None:
    args = parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as home, fresh_database(args, Path(home)):
            setup_django()
            run_child(args)
        return
    base = [sys.executable, __file__, "--child", "--sizes", args.sizes, "--runs", str(args.runs)]
    subprocess.run(base, check=True)
    if args.database_url:
        subprocess.run([*base, "--database-url", args.database_url], check=True)


if __name__ == "__main__":
    main()
