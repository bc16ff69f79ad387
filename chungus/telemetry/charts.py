"""The dashboard's chart data, read from the rollups (never from the raw request log).

A window is a fixed number of buckets ending with the bucket that holds `now`; its
totals and top keys cover exactly those buckets. Rates in the last bucket are over the
whole bucket, so it reads low until the bucket is over. Latency percentiles count
successful requests only; a bucket without data is null in the latency and error-rate
series and 0 in the rate series.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Max, QuerySet, Sum
from django.utils import timezone

from chungus.telemetry import histogram
from chungus.telemetry.models import KeyRollup, RequestRollup
from chungus.telemetry.rollups import NO_KEY, PERIODS, Delta, bucket_start

WINDOWS: dict[str, tuple[int, int]] = {  # name: (buckets, bucket seconds)
    "1h": (60, 60),
    "24h": (96, 900),
    "7d": (168, 3600),
}
TOP_KEYS = 10
Series = dict[str, list[float | None]]


def chart_data(
    window: str, *, model: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Per-model series, totals and top keys for a window ("1h", "24h" or "7d").

    JSON-ready: {"window", "bucket_seconds", "labels" (ISO-8601 UTC bucket starts),
    "models", "series": {name: {model: [value per bucket]}}, "totals", "top_keys"}.
    Raises ValueError for an unknown window.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}: use one of {', '.join(WINDOWS)}")
    count, seconds = WINDOWS[window]
    last = bucket_start(now or timezone.now(), seconds)
    first = last - timedelta(seconds=seconds * (count - 1))
    period = max(p for p in PERIODS if seconds % p == 0)
    span: dict[str, Any] = {
        "period": period,
        "start__gte": first,
        "start__lt": last + timedelta(seconds=seconds),
    }
    rows, keys = RequestRollup.objects.filter(**span), KeyRollup.objects.filter(**span)
    if model is not None:
        rows, keys = rows.filter(model=model), keys.filter(model=model)
    cells: dict[tuple[str, int], Delta] = {}  # (model, bucket index): only buckets with data
    for start, name, *values in rows.values_list("start", "model", *_STORED):
        cell = (name, int((start - first).total_seconds()) // seconds)
        delta = Delta(**dict(zip(_STORED, values, strict=True)))
        if cell in cells:
            cells[cell].merge(delta)  # several stored rows in one chart bucket
        else:
            cells[cell] = delta
    models = sorted({name for name, _ in cells} | ({model} if model is not None else set()))
    return {
        "window": window,
        "bucket_seconds": seconds,
        "labels": [_iso(first + timedelta(seconds=seconds * i)) for i in range(count)],
        "models": models,
        "series": _series(cells, models, count, seconds),
        "totals": {name: sum(getattr(d, name) for d in cells.values()) for name in _SUMS},
        "top_keys": _top_keys(keys.exclude(key_id=NO_KEY)),
    }


_SUMS = ["requests", "errors", "prompt_tokens", "completion_tokens"]
_STORED = [*_SUMS, "latency_sum_ms", "latency_hist", "ttft_hist"]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _series(
    cells: dict[tuple[str, int], Delta], models: list[str], count: int, seconds: int
) -> dict[str, Series]:
    def each(value: Callable[[Delta], float | None], empty: float | None) -> Series:
        return {
            m: [value(d) if (d := cells.get((m, i))) else empty for i in range(count)]
            for m in models
        }

    return {
        "requests_per_minute": each(lambda d: round(d.requests * 60 / seconds, 3), 0),
        "tokens_per_second": each(lambda d: round(d.completion_tokens / seconds, 3), 0),
        "latency_p50_ms": each(lambda d: _ms(histogram.percentile(d.latency_hist, 0.5)), None),
        "latency_p95_ms": each(lambda d: _ms(histogram.percentile(d.latency_hist, 0.95)), None),
        "ttft_p50_ms": each(lambda d: _ms(histogram.percentile(d.ttft_hist, 0.5)), None),
        "error_rate": each(lambda d: round(d.errors / d.requests, 4) if d.requests else None, None),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _top_keys(keys: QuerySet[KeyRollup]) -> list[dict[str, Any]]:
    rows = (
        keys.values("key_id")
        .annotate(
            requests=Sum("requests"),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            key_name=Max("key_name"),  # a renamed key shows one of its names
        )
        .order_by("-requests", "-tokens", "key_id")[:TOP_KEYS]
    )
    return [
        {
            "key_id": r["key_id"],
            "key_name": r["key_name"],
            "requests": r["requests"],
            "tokens": r["tokens"],
        }
        for r in rows
    ]
