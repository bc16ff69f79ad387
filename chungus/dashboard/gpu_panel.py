"""The operator dashboard's GPU panel: every GPU of the inventory and what holds it now.

What holds a GPU is read from the open GpuHold rows (ended is null) that the deployment
handlers and the job scheduler write; the timeline beside it comes from /api/fleet/gpu-holders/.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from chungus.fleet.inventory.hosts import HostInfo, inventory
from chungus.fleet.jobs.models import GpuHold

logger = logging.getLogger("chungus.dashboard")


@dataclass(frozen=True, slots=True)
class Holder:
    kind: str  # "deployment" | "job"
    name: str  # the deployment's name, or the job's id
    since: datetime

    @property
    def job_id(self) -> int | None:
        return int(self.name) if self.kind == "job" and self.name.isdigit() else None


@dataclass(frozen=True, slots=True)
class GpuSlot:
    node: str
    index: int
    model: str  # "NVIDIA H200"; "" for a GPU known only from what holds it
    memory_mb: int
    holders: list[Holder] = field(default_factory=list)
    in_inventory: bool = True


def gpu_slots() -> list[GpuSlot]:
    """Every GPU of the inventory with its holders now, then GPUs held but no longer listed."""
    held: dict[tuple[str, int], list[Holder]] = defaultdict(list)
    for hold in GpuHold.objects.filter(ended=None).order_by("started", "id"):
        since = datetime.fromtimestamp(hold.started, UTC)
        held[(hold.node, hold.gpu)].append(Holder(hold.holder, hold.name, since))
    slots = [
        GpuSlot(
            host.name,
            gpu.index,
            gpu.name,
            gpu.memory_total_mb,
            held.pop((host.name, gpu.index), []),
        )
        for host in hosts()
        for gpu in host.gpus
    ]
    gone = [GpuSlot(node, gpu, "", 0, holders, False) for (node, gpu), holders in held.items()]
    return slots + sorted(gone, key=lambda s: (s.node, s.index))


def hosts() -> list[HostInfo]:
    """This host and the declared ones; only this host if the declared file cannot be read."""
    declared = settings.CHUNGUS_INVENTORY
    try:
        return inventory(Path(declared) if declared else None)
    except (OSError, ValueError):
        logger.exception("the declared inventory %s cannot be read", declared)
        return inventory(None)
