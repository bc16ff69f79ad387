"""What the deployment state handlers share: the collaborators, what runs here, state writes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async

from chungus.fleet.launchers.base import Launcher
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.drain import DrainPolicy, InFlight
from chungus.fleet.lifecycle.jobs import rows as job_rows
from chungus.fleet.lifecycle.jobs.run import JobRun
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.fleet.states import DeploymentState as S
from chungus.fleet.states import ReplicaState
from chungus.scheduling.placement import Node

logger = logging.getLogger("chungus.fleet")

Row = dict[str, Any]  # a deployment as store.deployments() reads it
# What a running deployment was started with: a redeploy that changes one restarts it.
RESTART_ON = (
    "source", "engine", "launcher", "replicas", "gpus_per_replica", "tensor_parallel",
    "pipeline_parallel", "context_length", "memory_mb",
)  # fmt: skip


@dataclass
class Running:
    """A deployment whose replicas this process runs (or drains)."""

    supervisors: list[Supervisor]
    tasks: list[asyncio.Task[None]]
    priority: int
    always_warm: bool
    started: float = field(default_factory=time.monotonic)
    ready_since: float | None = None
    ready_wall: float | None = None
    gpus: dict[int, tuple[int, ...]] = field(default_factory=dict)  # replica -> GPU indices
    memory_mb: int = 0
    engine: str = ""
    drain: asyncio.Task[None] | None = None
    settings: tuple[Any, ...] = ()  # the RESTART_ON values it was started with
    launcher: str = "local"

    def observed(self) -> S:
        """Its state as its replicas show it: ready when all are, placing while every one
        not ready waits for its cluster (Slurm queue, Ray GPUs), else starting."""
        waiting = {s.status.state for s in self.supervisors if not s.ready.is_set()}
        if not waiting:
            return S.READY
        return S.PLACING if waiting == {ReplicaState.PLACING} else S.STARTING

    def follow(self, d: Row) -> list[str]:
        """Take the row's priority and warmth at once; return the settings that need a restart."""
        self.priority, self.always_warm = d["priority"], d["always_warm"]
        return [f for f, v in zip(RESTART_ON, self.settings, strict=True) if d[f] != v]


@dataclass
class Context:
    """Passed to every handler: built once by the Reconciler, living as long as it does."""

    launchers: dict[str, Launcher]
    home: Path
    nodes: Callable[[], list[Node]]
    after_change: Callable[[], Awaitable[None]]  # the routing table changed
    warm: Callable[[str], Awaitable[int]]  # send a deployment a warm-up request
    in_flight: InFlight
    drain_policy: DrainPolicy
    free_memory_mb: Callable[[], int]
    ready_timeouts: dict[str, float]  # engine -> seconds to pass its health check
    warmup_seconds: float = 180.0
    restart_limit: int = 3
    swap_idle_seconds: float = 30.0
    local_node: str = ""
    running: dict[str, Running] = field(default_factory=dict)
    draining: dict[str, Running] = field(default_factory=dict)  # leaving routing, finishing
    warming: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # warm-ups answering
    # A warm-up that failed is tried again sooner than warmup_seconds: (failures, when).
    warm_retry: dict[str, tuple[int, float]] = field(default_factory=dict)
    jobs: dict[int, JobRun] = field(default_factory=dict)  # jobs this process runs
    # GPUs a waiting deployment preempted jobs for, kept for it until it is placed: else a
    # GPU freed by the first of two preempted jobs goes to a queued job while the second
    # still checkpoints, and the deployment preempts again, for ever (bench/sharing.py).
    reserved: dict[str, set[int]] = field(default_factory=dict)
    # What each waiting deployment preempted ("job 7") or swapped out (a deployment's name):
    # it waits for those to leave before evicting more, not for what others wait for.
    awaiting: dict[str, set[str]] = field(default_factory=dict)
    # When this process last answered a request for a model (Unix time; None: not since it
    # started): idle detection asks it before the database.
    last_request: Callable[[str], float | None] = lambda name: None
    kicked: asyncio.Event = field(default_factory=asyncio.Event)  # reconcile again now

    def local_nodes(self) -> list[Node]:
        """The node local work (deployments and jobs) is placed on: this host, or the first."""
        nodes = self.nodes()
        return [n for n in nodes if n.name == self.local_node] or nodes[:1]

    async def last_used(self, name: str, within: float) -> float | None:
        """When the deployment last served a request: this process's own record when it is
        within `within` seconds (no database read), else the later of it and the rollups'
        (any process's traffic, to the minute)."""
        here = self.last_request(name)
        if here is not None and time.time() - here < within:
            return here
        there = await sync_to_async(store.last_used)(name)
        return max((t for t in (here, there) if t is not None), default=None)

    def kick(self) -> None:
        """Ask for the next tick now (a GPU was freed: what waits for it should not wait)."""
        self.kicked.set()

    async def set(self, name: str, state: S, reason: str, *, wake: bool = True) -> None:
        """Write a deployment's state, as its table allows (IllegalTransition if not)."""
        logger.info("deployment %s: %s %s", name, state, reason)
        await sync_to_async(store.set_state)(name, state, reason[:1000], keep_wake=wake)

    async def end(self, name: str, running: Running) -> None:
        """Stop its replicas' engines and take them out of routing."""
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        await sync_to_async(store.remove_replicas)(name)
        await sync_to_async(job_rows.release)("deployment", name)
        await self.after_change()
