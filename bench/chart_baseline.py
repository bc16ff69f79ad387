"""The chart benchmark's baseline: the 7d chart straight from RequestLog; how well rollups agree."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any


def naive_chart_7d(now: datetime) -> dict[str, Any]:
    """chart_data("7d")'s numbers computed from raw rows: GROUP BY hour, percentiles exact."""
    from django.db.models import Count, F, Q, Sum
    from django.db.models.functions import Trunc

    from chungus.telemetry.models import RequestLog
    from chungus.telemetry.rollups import bucket_start

    last = bucket_start(now, 3600)
    first = last - timedelta(hours=167)
    rows = RequestLog.objects.filter(
        created_at__gte=first, created_at__lt=last + timedelta(hours=1)
    )
    sums = list(
        rows.order_by()
        .annotate(bucket=Trunc("created_at", "hour"))
        .values("bucket", "model")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status__gte=400) & ~Q(status=499)),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
    )
    latencies: dict[tuple[datetime, str], list[float]] = defaultdict(list)
    ttfts: dict[tuple[datetime, str], list[float]] = defaultdict(list)
    ok = rows.filter(status__lt=400).order_by()
    for created, model, latency, ttft in ok.values_list(
        "created_at", "model", "latency_ms", "ttft_ms"
    ):
        cell = (bucket_start(created, 3600), model)
        latencies[cell].append(latency)
        if ttft is not None:
            ttfts[cell].append(ttft)
    quantiles = {
        cell: (exact(values, 0.5), exact(values, 0.95), exact(ttfts.get(cell, []), 0.5))
        for cell, values in latencies.items()
    }
    top = list(
        rows.exclude(key_id=None)
        .order_by()
        .values("key_id")
        .annotate(requests=Count("id"), tokens=Sum(F("prompt_tokens") + F("completion_tokens")))
        .order_by("-requests", "-tokens", "key_id")[:10]
    )
    return {"sums": sums, "quantiles": quantiles, "top_keys": top}


def exact(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def compare(now: datetime) -> list[str]:
    """How the rollup chart agrees with the raw-log baseline at the same moment."""
    from chungus.telemetry.charts import chart_data

    chart, naive = chart_data("7d", now=now), naive_chart_7d(now)
    same_totals = chart["totals"] == {
        "requests": sum(r["requests"] for r in naive["sums"]),
        "errors": sum(r["errors"] for r in naive["sums"]),
        "prompt_tokens": sum(r["prompt"] for r in naive["sums"]),
        "completion_tokens": sum(r["completion"] for r in naive["sums"]),
    }
    same_top = [(k["key_id"], k["requests"], k["tokens"]) for k in chart["top_keys"]] == [
        (k["key_id"], k["requests"], k["tokens"]) for k in naive["top_keys"]
    ]
    errors: dict[str, list[float]] = {"latency p50": [], "latency p95": [], "ttft p50": []}
    index = {label: i for i, label in enumerate(chart["labels"])}
    series = chart["series"]
    for (bucket, model), exact_values in naive["quantiles"].items():
        i = index[bucket.strftime("%Y-%m-%dT%H:%M:%SZ")]
        estimates = (
            series["latency_p50_ms"][model][i],
            series["latency_p95_ms"][model][i],
            series["ttft_p50_ms"][model][i],
        )
        for name, estimate, value in zip(errors, estimates, exact_values, strict=True):
            if value and estimate is not None:
                errors[name].append(abs(estimate - value) / value * 100)
    spread = ", ".join(
        f"{name} median {statistics.median(e):.1f}% max {max(e):.1f}%"
        for name, e in errors.items()
        if e
    )
    return [
        f"rollups vs raw log at the same moment: totals {'equal' if same_totals else 'DIFFER'}, "
        f"top keys {'equal' if same_top else 'DIFFER'}",
        f"percentile error of the rollup histograms vs exact, per hourly bucket: {spread}",
    ]
