"""/api/chart-data/: the dashboard's charts, from the request log's rollups."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from chungus.api.schemas import Text, errors
from chungus.lib.openai_errors import InvalidRequest
from chungus.telemetry import charts

router = Router(tags=["charts"])


class ChartQuery(Schema):
    window: str = Field("1h", description="1h, 24h or 7d")
    model: Text | None = Field(None, description="one model's series only")


@router.get("/", response={200: dict[str, Any], **errors(400)})
def chart_data(request: HttpRequest, query: Query[ChartQuery]) -> dict[str, Any]:
    """Series for one window (1h, 24h or 7d), for all models or one."""
    try:
        return charts.chart_data(query.window, model=query.model)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="window", code="unknown_window") from None
