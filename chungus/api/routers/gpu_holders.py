"""/api/fleet/gpu-holders/: the dashboard's GPU timeline, from the GpuHold rows.

One row per GPU (every GPU of the inventory, then any other GPU held in the window), and
the intervals during which a deployment or a job held it, clipped to the window.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from chungus.api.schemas import errors
from chungus.fleet.inventory.hosts import inventory
from chungus.fleet.jobs.models import GpuHold

router = Router(tags=["fleet"])
MAX_INTERVALS = 5000  # the newest; a window with more is summarised by them


class HoldersQuery(Schema):
    hours: int = Field(6, ge=1, le=168, description="how far back, in hours (1 to 168)")


@router.get("/gpu-holders/", response={200: dict[str, Any], **errors(422)})
def gpu_holders(request: HttpRequest, query: Query[HoldersQuery]) -> dict[str, Any]:
    """Who held each GPU over the last `hours`.

    `gpus`: [{"node", "gpu", "model"}]; `intervals`: [{"node", "gpu", "holder" ("deployment"
    or "job"), "name" (deployment name or job id), "started", "ended" (null while held)}],
    times in Unix seconds, `start` and `end` the window's bounds.
    """
    end = int(time.time())
    start = end - query.hours * 3600
    rows = (
        GpuHold.objects.filter(started__lt=end)
        .filter(Q(ended=None) | Q(ended__gt=start))
        .order_by("-started", "-id")[:MAX_INTERVALS]
    )
    intervals = [
        {
            "node": hold.node,
            "gpu": hold.gpu,
            "holder": hold.holder,
            "name": hold.name,
            "started": max(hold.started, start),
            "ended": None if hold.ended is None else min(hold.ended, end),
        }
        for hold in reversed(rows)
    ]
    return {"start": start, "end": end, "gpus": _gpus(intervals), "intervals": intervals}


def _gpus(intervals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declared = settings.CHUNGUS_INVENTORY
    hosts = inventory(Path(declared) if declared else None)
    listed = [{"node": h.name, "gpu": g.index, "model": g.name} for h in hosts for g in h.gpus]
    known = {(g["node"], g["gpu"]) for g in listed}
    others = sorted({(i["node"], i["gpu"]) for i in intervals} - known)
    return listed + [{"node": node, "gpu": gpu, "model": ""} for node, gpu in others]
