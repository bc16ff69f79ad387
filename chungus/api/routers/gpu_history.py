"""/api/fleet/gpu-history/: the dashboard's GPU chart, from the inventory samples."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from chungus.api.schemas import errors
from chungus.fleet.inventory.gpu_history import gpu_history
from chungus.lib.openai_errors import InvalidRequest

router = Router(tags=["fleet"])


class HistoryQuery(Schema):
    window: str = Field("1h", description="1h, 24h or 7d")


@router.get("/gpu-history/", response={200: dict[str, Any], **errors(400)})
def gpu_history_data(request: HttpRequest, query: Query[HistoryQuery]) -> dict[str, Any]:
    """Memory used and utilization per GPU, and CPU and memory per host, over one window.

    `sample_seconds` is CHUNGUS_INVENTORY_SAMPLE_SECONDS: 0 means nothing is sampled.
    """
    try:
        data = gpu_history(query.window)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="window", code="unknown_window") from None
    return {**data, "sample_seconds": settings.CHUNGUS_INVENTORY_SAMPLE_SECONDS}
