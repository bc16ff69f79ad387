"""What keys used lately: requests and tokens per key, read from the rollups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from chungus.telemetry.models import KeyRollup

USAGE_WINDOW = timedelta(hours=24)
USAGE_PERIOD = 900  # read the 15-minute rollups: 96 rows per key and model at most


@dataclass(frozen=True, slots=True)
class Usage:
    requests: int = 0
    tokens: int = 0


def key_usage(key_ids: Iterable[int]) -> dict[int, Usage]:
    """Requests and tokens of about the last 24 h, for the keys that made any."""
    rows = (
        KeyRollup.objects.filter(
            key_id__in=list(key_ids),
            period=USAGE_PERIOD,
            start__gte=timezone.now() - USAGE_WINDOW,
        )
        .values("key_id")
        .annotate(
            requests=Sum("requests"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
    )
    return {
        row["key_id"]: Usage(row["requests"] or 0, (row["prompt"] or 0) + (row["completion"] or 0))
        for row in rows
    }
