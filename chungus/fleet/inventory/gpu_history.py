"""The GPU chart's data: inventory samples downsampled into buckets by the database.

A window is a fixed number of buckets (at most 96) ending with the bucket that holds
`now`. Each series is one GPU of one node, or one node's host row (its CPU and memory).
A bucket holds the peak memory use of its samples, in percent of the total, and their
mean utilization; a bucket without samples, or whose utilization nobody measured (a
declared GPU, some MIG slices), is null. One grouped query per window: the rows it
returns are at most one per bucket and series, however many samples the window holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Avg, BigIntegerField, ExpressionWrapper, F, Max
from django.utils import timezone

from chungus.fleet.models import InventorySample

WINDOWS: dict[str, tuple[int, int]] = {  # name: (buckets, bucket seconds)
    "1h": (60, 60),
    "24h": (96, 900),
    "7d": (84, 7200),
}
Key = tuple[str, int, bool]  # node, gpu, declared


def gpu_history(window: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Per-GPU and per-host series for a window ("1h", "24h" or "7d").

    JSON-ready: {"window", "bucket_seconds", "labels" (ISO-8601 UTC bucket starts),
    "gpus": [{"node", "gpu", "declared", "memory_total_mb", "memory_used_pct",
    "utilization_pct"}], "hosts": [{"node", "declared", "memory_total_mb",
    "memory_used_pct", "cpu_pct"}]}, series sorted by node then GPU index.
    Raises ValueError for an unknown window.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}: use one of {', '.join(WINDOWS)}")
    count, seconds = WINDOWS[window]
    moment = int((now or timezone.now()).timestamp())
    first = moment - moment % seconds - seconds * (count - 1)
    # Integer division by an integer: the same bucket on SQLite and on PostgreSQL.
    bucket = ExpressionWrapper((F("time") - first) / seconds, output_field=BigIntegerField())
    rows = (
        InventorySample.objects.filter(time__gte=first, time__lt=first + seconds * count)
        .annotate(bucket=bucket)
        .values("node", "gpu", "declared", "bucket")
        .annotate(used=Max("memory_used_mb"), total=Max("memory_total_mb"))
        .annotate(busy=Avg("utilization_pct"))
        .order_by()
    )
    series: dict[Key, dict[str, Any]] = {}
    for row in rows:
        key = (row["node"], row["gpu"], row["declared"])
        one = series.setdefault(key, _empty(key, count))
        index = row["bucket"]
        one["memory_total_mb"] = max(one["memory_total_mb"], row["total"])
        one["memory_used_pct"][index] = _pct(row["used"], row["total"])
        one["utilization_pct"][index] = None if row["busy"] is None else round(row["busy"], 1)
    ordered = [series[key] for key in sorted(series)]
    return {
        "window": window,
        "bucket_seconds": seconds,
        "labels": [_iso(first + seconds * i) for i in range(count)],
        "gpus": [s for s in ordered if s["gpu"] != InventorySample.HOST],
        "hosts": [_host(s) for s in ordered if s["gpu"] == InventorySample.HOST],
    }


def _empty(key: Key, count: int) -> dict[str, Any]:
    node, gpu, declared = key
    return {
        "node": node,
        "gpu": gpu,
        "declared": declared,
        "memory_total_mb": 0,
        "memory_used_pct": [None] * count,
        "utilization_pct": [None] * count,
    }


def _host(series: dict[str, Any]) -> dict[str, Any]:
    """A host row's series, named for what they hold: its RAM and its CPU."""
    return {
        "node": series["node"],
        "declared": series["declared"],
        "memory_total_mb": series["memory_total_mb"],
        "memory_used_pct": series["memory_used_pct"],
        "cpu_pct": series["utilization_pct"],
    }


def _pct(used: int, total: int) -> float | None:
    return round(100 * used / total, 1) if total else None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
