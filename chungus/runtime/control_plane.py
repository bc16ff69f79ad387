"""Building the reconciler and its launchers from settings."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from django.conf import settings

from chungus.engines import registry
from chungus.fleet.inventory.hosts import inventory
from chungus.fleet.launchers.base import Launcher
from chungus.fleet.launchers.local import LocalLauncher
from chungus.fleet.launchers.ray_launcher import RayLauncher, RayOptions
from chungus.fleet.launchers.slurm import SlurmLauncher, SlurmOptions
from chungus.fleet.lifecycle.drain import DrainPolicy, InFlight
from chungus.fleet.lifecycle.reconciler import Reconciler
from chungus.scheduling.placement import Gpu, Node


def launchers(home: Path) -> dict[str, Launcher]:
    logs = home / "logs"
    slurm = SlurmOptions(
        partition=settings.CHUNGUS_SLURM_PARTITION,
        account=settings.CHUNGUS_SLURM_ACCOUNT,
        time_limit=settings.CHUNGUS_SLURM_TIME,
    )
    return {
        "local": LocalLauncher(logs),
        "slurm": SlurmLauncher(logs, slurm),
        "ray": RayLauncher(logs, RayOptions(address=settings.CHUNGUS_RAY_ADDRESS or None)),
    }


def placement_nodes() -> list[Node]:
    """This host first, then declared ones; a declared node named like this host gives it
    simulated GPUs (for tests and planning on machines without any)."""
    declared = Path(settings.CHUNGUS_INVENTORY) if settings.CHUNGUS_INVENTORY else None
    hosts = inventory(declared)
    by_name = {host.name: host for host in hosts}  # declared ones come later and win
    return [
        Node(host.name, tuple(Gpu(g.index, g.memory_total_mb) for g in host.gpus))
        for host in by_name.values()
    ]


def reconciler(
    after_change: Callable[[], Awaitable[None]],
    warm: Callable[[str], Awaitable[int]],
    in_flight: InFlight,
    last_request: Callable[[str], float | None] = lambda name: None,
) -> Reconciler:
    home = settings.CHUNGUS_HOME
    return Reconciler(
        launchers(home),
        home,
        placement_nodes,
        after_change,
        warm,
        interval=settings.CHUNGUS_RECONCILE_SECONDS,
        lease_seconds=settings.CHUNGUS_LEASE_SECONDS,
        warmup_seconds=settings.CHUNGUS_WARMUP_SECONDS,
        swap_idle_seconds=settings.CHUNGUS_SWAP_IDLE_SECONDS,
        local_node=socket.gethostname(),
        in_flight=in_flight,
        last_request=last_request,
        # Engines that may download their model first (vLLM, Ollama) get longer.
        ready_timeouts={
            engine.name: settings.CHUNGUS_ENGINE_READY_TIMEOUT
            if engine.fetches_model
            else settings.CHUNGUS_MODEL_READY_TIMEOUT
            for engine in registry.launchable()
        },
        # At least two snapshot reloads, so every process has stopped routing to it.
        drain_policy=DrainPolicy(
            grace=2 * settings.CHUNGUS_REFRESH_SECONDS, timeout=settings.CHUNGUS_DRAIN_SECONDS
        ),
    )
