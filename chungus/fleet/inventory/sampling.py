"""The inventory sampled over time: a row per GPU and a row per host, every few seconds.

`sample_rows` (pure) turns the hosts read at one moment into rows; `run_sampler` reads
the inventory off the event loop (NVML calls block), writes each pass with one
bulk_create and prunes rows older than RETENTION_DAYS, the longest chart window.

Declared hosts are sampled like the others, but nothing measures them: their used
memory is 0 and their utilization unknown (null). Every replica samples its own host
and the declared ones; duplicate declared rows are harmless, since the charts take each
bucket's peak and mean (chungus.fleet.inventory.gpu_history).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import psutil
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from chungus.fleet.inventory.hosts import HostInfo, Nvml, inventory
from chungus.fleet.models import InventorySample
from chungus.fleet.states import NodeSource
from chungus.lib.supervise import beat
from chungus.telemetry.retention import prune_chunk

logger = logging.getLogger("chungus.fleet")

RETENTION_DAYS = 7
PRUNE_SECONDS = 3600.0
P = ParamSpec("P")
R = TypeVar("R")


def sample_rows(
    hosts: Iterable[HostInfo], at: datetime, cpu_pct: float | None = None
) -> list[InventorySample]:
    """Unsaved rows for `hosts` as read at `at`; `cpu_pct` is this host's CPU use, if known."""
    time = int(at.timestamp())
    rows = []
    for host in hosts:
        declared = host.source == NodeSource.DECLARED
        rows.append(
            InventorySample(
                time=time,
                node=host.name,
                gpu=InventorySample.HOST,
                declared=declared,
                memory_used_mb=max(host.memory_used_mb, 0),
                memory_total_mb=max(host.memory_total_mb, 0),
                utilization_pct=None if declared or cpu_pct is None else round(cpu_pct),
            )
        )
        rows += [
            InventorySample(
                time=time,
                node=host.name,
                gpu=gpu.index,
                declared=declared,
                memory_used_mb=max(gpu.memory_used_mb, 0),
                memory_total_mb=max(gpu.memory_total_mb, 0),
                utilization_pct=gpu.utilization_pct,
                temperature_c=gpu.temperature_c,
            )
            for gpu in host.gpus
        ]
    return rows


def sample_once(
    declared: Path | None, now: datetime | None = None, nvml: Nvml | None = None
) -> int:
    """Read the inventory, write one sample of it; return how many rows were written."""
    hosts = inventory(declared, nvml)
    # CPU use since the previous call (the previous pass), not an instant's.
    rows = sample_rows(hosts, now or timezone.now(), psutil.cpu_percent(interval=None))
    InventorySample.objects.bulk_create(rows)
    return len(rows)


def expired_samples(older_than_days: int, now: datetime | None = None) -> QuerySet[Any]:
    """Samples taken more than `older_than_days` before `now`, oldest first."""
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    return InventorySample.objects.filter(time__lt=int(cutoff.timestamp())).order_by("time")


async def run_sampler(
    interval: float, declared: str = "", *, retention_days: int = RETENTION_DAYS
) -> None:
    """Sample every `interval` seconds and prune hourly, until cancelled; 0 turns it off."""
    if interval <= 0:
        return
    path = Path(declared) if declared else None
    sample = sync_to_async(_disconnecting(sample_once), thread_sensitive=False)
    prune = sync_to_async(_disconnecting(prune_chunk), thread_sensitive=False)
    psutil.cpu_percent(interval=None)  # start the CPU meter: the first sample covers a pass
    loop = asyncio.get_running_loop()
    next_prune = loop.time()
    while True:
        await asyncio.sleep(interval)
        try:
            await sample(path)
            if loop.time() >= next_prune:
                next_prune = loop.time() + PRUNE_SECONDS
                rows = expired_samples(retention_days)
                while await prune(rows):  # cancellable between chunks
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("sampling the inventory failed; will retry")
        beat()


def _disconnecting(function: Callable[P, R]) -> Callable[P, R]:
    # A pool thread would otherwise keep an idle connection open between passes.
    @wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    return call
