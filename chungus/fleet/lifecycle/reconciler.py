"""The lifecycle control loop: one process at a time (a lease) makes deployments real.

Each tick, for every deployment: place it on GPUs (swapping out idle ones when
it does not fit), start its replicas on its launcher, watch them (a replica
that keeps crashing fails the deployment with the engine's last log lines),
stop it when it has been idle for its timeout (the next request starts it
again), and send always-warm models a tiny request on schedule. A ready
deployment that is stopped (by the operator, idling out, or swapped out) drains
first: it leaves routing and finishes its requests in flight (see drain.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from asgiref.sync import sync_to_async

from chungus.engines.base import DeploymentPlan
from chungus.fleet.launchers.base import Launcher
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.drain import DrainPolicy, InFlight, Replica, drain
from chungus.fleet.lifecycle.lease import holder_id, try_acquire
from chungus.fleet.lifecycle.plans import launch_spec
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.fleet.models import DeploymentState as S
from chungus.scheduling.placement import Assignment, Cluster, Node, Work, decide

logger = logging.getLogger("chungus.fleet")
LEASE = "reconciler"
MB = 1024 * 1024
STOPPED_WITH_CHUNGUS = "CHUNGUS stopped; it starts again with CHUNGUS"
# What a running deployment was started with: a redeploy that changes one restarts it.
RESTART_ON = (
    "source", "engine", "launcher", "replicas", "gpus_per_replica", "tensor_parallel",
    "pipeline_parallel", "context_length", "memory_mb",
)  # fmt: skip
DEFAULT_READY_TIMEOUT = 120.0


@dataclass
class Running:
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


class Reconciler:
    def __init__(
        self,
        launchers: dict[str, Launcher],
        home: Path,
        nodes: Callable[[], list[Node]],
        after_change: Callable[[], Awaitable[None]],
        warm: Callable[[str], Awaitable[int]],
        *,
        interval: float = 2.0,
        lease_seconds: float = 15.0,
        warmup_seconds: float = 180.0,
        restart_limit: int = 3,
        swap_idle_seconds: float = 30.0,
        local_node: str = "",
        in_flight: InFlight | None = None,
        drain_policy: DrainPolicy | None = None,
        ready_timeouts: dict[str, float] | None = None,
        free_memory_mb: Callable[[], int] = lambda: psutil.virtual_memory().available // MB,
    ) -> None:
        self.launchers = launchers
        self.home = home
        self.nodes = nodes
        self.after_change = after_change
        self.warm = warm
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.warmup_seconds = warmup_seconds
        self.restart_limit = restart_limit
        self.swap_idle_seconds = swap_idle_seconds
        self.local_node = local_node
        self.holder = holder_id()
        self.leader = False
        self.running: dict[str, Running] = {}
        self.draining: dict[str, Running] = {}  # out of routing, finishing requests in flight
        self.warming: dict[str, asyncio.Task[None]] = {}  # warm-up requests being answered
        self.in_flight: InFlight = in_flight or (lambda backend_ids: 0)
        self.drain_policy = drain_policy or DrainPolicy()
        self.free_memory_mb = free_memory_mb
        self.ready_timeouts = ready_timeouts or {}  # engine -> seconds to pass its health check

    async def run(self) -> None:
        """Reconcile every `interval` seconds until cancelled; then stop what it started."""
        try:
            while True:
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("reconcile tick failed")
                await asyncio.sleep(self.interval)
        finally:
            for task in list(self.warming.values()):
                task.cancel()
            # Pending, not stopped: whichever CHUNGUS reconciles next starts them again.
            await self._abort_drains(S.PENDING, STOPPED_WITH_CHUNGUS)
            for name in list(self.running):
                await self.stop(name, S.PENDING, STOPPED_WITH_CHUNGUS)
            if self.leader:
                await sync_to_async(store.release_lease)(LEASE, self.holder)

    async def tick(self) -> None:
        leader = await sync_to_async(try_acquire)(LEASE, self.holder, self.lease_seconds)
        if leader and not self.leader:
            logger.info("this process (%s) now reconciles deployments", self.holder)
        if not leader and self.leader:
            await self._abort_drains(S.PENDING, "handed over to another CHUNGUS process")
            for name in list(self.running):  # another process reconciles now
                await self.stop(name, S.PENDING, "handed over to another CHUNGUS process")
        self.leader = leader
        # Drains that ended are forgotten before reading: their final state is written.
        for name in [n for n, r in self.draining.items() if r.drain and r.drain.done()]:
            del self.draining[name]
        if leader:
            for deployment in await sync_to_async(store.deployments)():
                try:
                    await self.reconcile(deployment)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one deployment's trouble must not stall the others
                    logger.exception("reconciling deployment %s failed", deployment["name"])

    async def reconcile(self, d: dict[str, Any]) -> None:
        name, running = d["name"], self.running.get(d["name"])
        if name in self.draining:
            return  # the drain task ends it
        if d["desired"] == "stopped":
            if running is not None or d["state"] != S.STOPPED:
                await self.stop(name, S.STOPPED, "stopped by the operator", drain=True)
            return
        if running is not None:
            await self.watch(d, running)
            return
        asleep = d["state"] in (S.STOPPED, S.FAILED) and d["state_reason"]
        if asleep and not d["wake_requested_at"]:
            return  # idle-stopped or failed: waits for a request (or a new deploy)
        await self.start(d)

    async def start(self, d: dict[str, Any]) -> None:
        name = d["name"]
        gpus: dict[int, tuple[int, ...]] = {i: () for i in range(d["replicas"])}
        if d["gpus_per_replica"] and d["launcher"] == "local":
            placed = await self.place(d)
            if placed is None:
                return
            gpus = placed
        elif d["gpus_per_replica"]:  # Slurm or Ray places it on its own cluster: ask for a count
            gpus = {i: tuple(range(d["gpus_per_replica"])) for i in range(d["replicas"])}
        elif d["launcher"] == "local" and d["memory_mb"]:  # on this host's CPUs and memory
            need, free = d["memory_mb"] * d["replicas"], self.free_memory_mb()
            if need > free:
                reason = f"needs {need} MB of memory on this host; {free} MB is available"
                await self.set(name, S.PENDING, reason, wake=False)
                return
        launcher = self.launchers.get(d["launcher"])
        if launcher is None:
            await self.set(name, S.FAILED, f"no launcher named {d['launcher']!r}", wake=False)
            return
        plan = DeploymentPlan(
            name, d["source"], d["engine"], d["gpus_per_replica"],
            d["tensor_parallel"], d["pipeline_parallel"], d["context_length"],
            launcher=d["launcher"],
        )  # fmt: skip
        try:
            specs = [launch_spec(plan, self.home, i, gpus[i]) for i in range(d["replicas"])]
        except (FileNotFoundError, ValueError) as exc:
            await self.set(name, S.FAILED, str(exc), wake=False)
            return
        running = Running(
            [],
            [],
            d["priority"],
            d["always_warm"],
            gpus=gpus,
            memory_mb=d["memory_mb"],
            engine=d["engine"],
            settings=tuple(d[f] for f in RESTART_ON),
            launcher=d["launcher"],
        )
        for replica, spec in enumerate(specs):
            supervisor = Supervisor(
                launcher,
                spec,
                self._on_ready(name, d["engine"], replica, d["launcher"]),
                ready_timeout=self.ready_timeouts.get(d["engine"], DEFAULT_READY_TIMEOUT),
            )
            running.supervisors.append(supervisor)
            running.tasks.append(asyncio.create_task(supervisor.run()))
        self.running[name] = running
        await self.set(
            name, S.STARTING, f"starting {d['replicas']} replica(s) on {d['launcher']}", wake=False
        )

    async def place(self, d: dict[str, Any]) -> dict[int, tuple[int, ...]] | None:
        """GPUs per replica, swapping out idle deployments if needed; None while it must wait."""
        nodes = [n for n in self.nodes() if n.name == self.local_node] or self.nodes()[:1]
        cluster = Cluster(nodes)
        local = nodes[0].name if nodes else ""
        cards = len(nodes[0].gpus) if nodes else 0
        for other, running in [*self.running.items(), *self.draining.items()]:
            if running.launcher != "local":
                continue  # Slurm and Ray place their work on their own clusters' GPUs
            idle = 0.0 if other in self.draining else await self._idle_seconds(other, running)
            for replica, indices in running.gpus.items():
                if indices and max(indices) < cards:  # a GPU gone from the inventory holds nothing
                    # Idle deployments may be swapped out, least recently used first.
                    swappable = (
                        not running.always_warm
                        and idle >= self.swap_idle_seconds
                        and other not in self.draining
                    )
                    priority = running.priority - 1 - int(idle) if swappable else running.priority
                    work = Work(
                        f"{other}#{replica}", len(indices), running.memory_mb, priority, swappable
                    )
                    cluster.add(work, Assignment(work.id, local, indices))
        asks = [
            Work(f"{d['name']}#{i}", d["gpus_per_replica"], d["memory_mb"], d["priority"])
            for i in range(d["replicas"])
        ]
        # While swapped-out deployments drain, wait for them rather than evict more.
        decision = decide(cluster, asks, allow_eviction=not self.draining)
        if decision.pending:
            reason = next(iter(decision.pending.values()))
            if self.draining:
                reason = f"waiting for {', '.join(sorted(self.draining))} to drain; {reason}"
            await self.set(d["name"], S.PENDING, reason, wake=False)
            for placed in decision.assignments:  # all replicas or none
                cluster.remove(placed.work_id)
            return None
        for victim in {v.split("#")[0] for v in decision.evictions}:
            await self.stop(
                victim, S.STOPPED, f"idle: swapped out to make room for {d['name']}", drain=True
            )
        if decision.evictions:
            return None  # placed once the swapped-out ones have drained
        return {int(a.work_id.split("#")[1]): a.gpu_indices for a in decision.assignments}

    def _on_ready(
        self, name: str, engine: str, replica: int, launcher: str
    ) -> Callable[[str], Awaitable[None]]:
        async def registered(address: str) -> None:
            await sync_to_async(store.register_replica)(name, engine, replica, launcher, address)
            await self.after_change()

        return registered

    async def watch(self, d: dict[str, Any], running: Running) -> None:
        name, now = d["name"], time.monotonic()
        # Priority and warmth apply at once; what the engine was started with needs a restart.
        running.priority, running.always_warm = d["priority"], d["always_warm"]
        changed = [f for f, v in zip(RESTART_ON, running.settings, strict=True) if d[f] != v]
        if changed:
            reason = f"redeployed with new {', '.join(changed)}: restarting"
            await self.stop(name, S.PENDING, reason, drain=True)
            return
        statuses = [s.status for s in running.supervisors]
        if all(s.ready.is_set() for s in running.supervisors):
            if running.ready_since is None or d["state"] != S.READY:
                running.ready_since = running.ready_since or now
                running.ready_wall = running.ready_wall or time.time()
                await self.set(name, S.READY, f"{len(statuses)} replica(s) ready", wake=False)
            await self._idle_or_warm(d, running, now)
            return
        failing = [
            s
            for s in running.supervisors
            if s.status.failures >= self.restart_limit and not s.ready.is_set()
        ]
        if failing:
            await self.stop(
                name,
                S.FAILED,
                f"crashed {failing[0].status.failures} times: {failing[0].last_exit}",
            )
            return
        detail = "; ".join(f"{s.state}: {s.detail}" if s.detail else s.state for s in statuses)
        waiting = [s.status.state for s in running.supervisors if not s.ready.is_set()]
        # Placing while every replica still waits for its cluster (Slurm queue, Ray GPUs).
        state = S.PLACING if waiting and set(waiting) == {"placing"} else S.STARTING
        if d["state"] != state or d["state_reason"] != detail[:1000]:
            await self.set(name, state, detail, wake=False)

    async def _idle_or_warm(self, d: dict[str, Any], running: Running, now: float) -> None:
        name = d["name"]
        if running.always_warm:
            warmed = d["warmed_at"]
            due = warmed is None or time.time() - warmed.timestamp() >= self.warmup_seconds
            if due and name not in self.warming:
                # Marked first and sent beside the tick: a slow answer delays no other work.
                await sync_to_async(store.mark_warmed)(name)
                self.warming[name] = asyncio.create_task(self._warm(name))
            return
        if not d["idle_timeout_s"]:
            return
        last = await sync_to_async(store.last_used)(name)
        idle_for = min(
            now - (running.ready_since or now), time.time() - last if last else float("inf")
        )
        if idle_for >= d["idle_timeout_s"]:
            reason = f"idle for {d['idle_timeout_s']} s: unloaded; the next request starts it again"
            await self.stop(name, S.STOPPED, reason, drain=True)

    async def _warm(self, name: str) -> None:
        try:
            status = await self.warm(name)
            logger.info("warm-up request to %s answered %s", name, status)
        except Exception:
            logger.exception("warm-up request to %s failed", name)
        finally:
            self.warming.pop(name, None)

    async def _idle_seconds(self, name: str, running: Running) -> float:
        """Seconds since the deployment last served a request (or became ready)."""
        last = await sync_to_async(store.last_used)(name)
        since = max(last or 0.0, running.ready_wall or time.time())
        return max(0.0, time.time() - since)

    async def stop(self, name: str, state: str, reason: str, *, drain: bool = False) -> None:
        """Stop a deployment; with `drain`, a ready one first finishes its requests in flight
        (in a task of its own, so other deployments are reconciled meanwhile)."""
        running = self.running.pop(name, None)
        if running is None:
            await self.set(name, state, reason, wake=False)
            return
        ready = any(s.ready.is_set() for s in running.supervisors)
        if drain and ready and self.drain_policy.timeout > 0:
            self.draining[name] = running
            running.drain = asyncio.create_task(self._drain(name, running, state, reason))
            return
        await self._end(name, running)
        await self.set(name, state, reason, wake=False)

    async def _drain(self, name: str, running: Running, state: str, reason: str) -> None:
        doing = f"{reason}; draining"

        async def progress(text: str) -> None:
            await self.set(name, S.DRAINING, f"{doing}: {text}")

        try:
            removed = await sync_to_async(store.remove_replicas)(name)
            await self.after_change()
            addresses = [s.status.address for s in running.supervisors if s.status.address]
            replicas = [
                Replica(a, running.engine, tuple(i for i, url in removed if url.startswith(a)))
                for a in addresses
            ]
            await self.set(name, S.DRAINING, doing)  # keeps requests to wake it meanwhile
            ended = await drain(replicas, self.in_flight, self.drain_policy, progress)
        except Exception as exc:  # the engines stop all the same, and the state says why
            logger.exception("draining %s failed", name)
            ended = f"stopped without draining: {exc}"
        finally:
            await self._end(name, running)
        await self.set(name, state, f"{reason} ({ended})")

    async def _abort_drains(self, state: str, reason: str) -> None:
        """Stop draining deployments at once (this process stops reconciling)."""
        draining = list(self.draining.items())
        unfinished = {n for n, r in draining if r.drain is None or not r.drain.done()}
        for _, running in draining:
            if running.drain is not None:
                running.drain.cancel()
        await asyncio.gather(*(r.drain for _, r in draining if r.drain), return_exceptions=True)
        self.draining.clear()
        for name, running in draining:
            await self._end(name, running)  # a drain cancelled before it ran ended nothing
            if name in unfinished:
                await self.set(name, state, reason, wake=False)

    async def _end(self, name: str, running: Running) -> None:
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        await sync_to_async(store.remove_replicas)(name)
        await self.after_change()

    async def set(self, name: str, state: str, reason: str, *, wake: bool = True) -> None:
        logger.info("deployment %s: %s %s", name, state, reason)
        await sync_to_async(store.set_state)(name, state, reason[:1000], keep_wake=wake)
