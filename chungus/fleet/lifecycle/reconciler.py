"""The lifecycle control loop: one process at a time (a lease) makes deployments real.

Each tick hands every deployment to the handler of the state it is in (handlers/):
pending ones are placed on GPUs (swapping out idle ones when they do not fit) and
launched, placing and starting ones are followed until their replicas are ready (a
replica that keeps crashing fails the deployment with the engine's last log lines),
ready ones are kept warm or stopped when idle for their timeout (the next request starts
them again), and stopped ones wait to be woken. A ready deployment that is stopped (by
the operator, idling out, or swapped out) drains first: it leaves routing and finishes
its requests in flight. Then jobs (jobs/scheduler.py): running ones are followed to their
end, queued ones get the GPUs nothing holds; a deployment that needs a job's GPU preempts
it (the job checkpoints and is queued again). The states and their allowed moves are
drawn in states.py.

Leadership: the lease is renewed by a task of its own (hold_lease), so a slow tick cannot
lose it. A process that loses it leaves its engines running; each replica's launcher
reference is kept in its deployment's row, and the next leader adopts an engine that
still runs instead of starting another (pending.adoptable). A clean shutdown still stops
what this process runs and releases the lease at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import psutil
from asgiref.sync import sync_to_async

from chungus.fleet.launchers.base import Launcher
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.drain import DrainPolicy, InFlight
from chungus.fleet.lifecycle.handlers import draining, pending, ready, starting, stopped
from chungus.fleet.lifecycle.handlers.context import Context, Row, Running
from chungus.fleet.lifecycle.jobs import rows as job_rows
from chungus.fleet.lifecycle.jobs import scheduler as jobs
from chungus.fleet.lifecycle.lease import holder_id, try_acquire
from chungus.fleet.states import DeploymentState as S
from chungus.fleet.states import IllegalTransition
from chungus.lib.supervise import beat
from chungus.scheduling.placement import Node

logger = logging.getLogger("chungus.fleet")
LEASE = "reconciler"
MB = 1024 * 1024
STOPPED_WITH_CHUNGUS = "CHUNGUS stopped; it starts again with CHUNGUS"
HANDED_OVER = "handed over to another CHUNGUS process"


class Handler(Protocol):
    """A state's handler module: decides what comes next for a deployment in that state."""

    async def handle(self, ctx: Context, d: Row) -> None: ...


HANDLERS: dict[S, Handler] = {
    S.PENDING: pending,
    S.PLACING: starting,
    S.STARTING: starting,
    S.READY: ready,
    S.DRAINING: draining,
    S.STOPPED: stopped,
    S.FAILED: stopped,
}


def phase(d: Row, running: Running | None, draining_here: bool) -> S:
    """The state whose handler acts on a deployment now, as this process sees it."""
    if draining_here:
        return S.DRAINING  # its drain task writes how it ends
    if d["desired"] == "stopped":
        return S.STOPPED  # the operator's stop, whatever it was doing
    row = S(d["state"])
    if running is not None and row not in (S.STOPPED, S.FAILED):
        return running.observed()  # its replicas, here, say where it is
    if running is None and row not in (S.PENDING, S.STOPPED, S.FAILED):
        return S.PENDING  # what ran it has ended: it starts over
    return row


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
        last_request: Callable[[str], float | None] = lambda name: None,
    ) -> None:
        self.read_nodes = nodes  # reads NVML and the declared inventory: blocking
        self.nodes: list[Node] | None = None  # as the last tick read them, off the event loop
        self.ctx = Context(
            launchers,
            home,
            self._known_nodes,
            after_change,
            warm,
            in_flight=in_flight or (lambda backend_ids: 0),
            drain_policy=drain_policy or DrainPolicy(),
            free_memory_mb=free_memory_mb,
            ready_timeouts=ready_timeouts or {},
            warmup_seconds=warmup_seconds,
            restart_limit=restart_limit,
            swap_idle_seconds=swap_idle_seconds,
            local_node=local_node,
            last_request=last_request,
        )
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.holder = holder_id()
        self.leader = False  # acting as the leader (tick's view)
        self.lease_until = 0.0  # the lease is ours until then (monotonic), unless renewed

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
                beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ctx.kicked.wait(), self.interval)
                self.ctx.kicked.clear()
        finally:
            for task in list(self.ctx.warming.values()):
                task.cancel()
            # Pending, not stopped: whichever CHUNGUS reconciles next starts them again.
            await self._let_go(STOPPED_WITH_CHUNGUS)
            if self.leader:
                await sync_to_async(store.release_lease)(LEASE, self.holder)

    def _known_nodes(self) -> list[Node]:
        """The nodes as the tick read them (read here only before any tick has)."""
        if self.nodes is None:
            self.nodes = self.read_nodes()
        return self.nodes

    async def hold_lease(self) -> None:
        """Renew the lease on its own schedule (a third of its length), so a slow tick
        cannot lose it; runs until cancelled."""
        while True:
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: the lease lapses unless renewed in time
                logger.exception("renewing the reconciler lease failed")
            beat()
            await asyncio.sleep(self.lease_seconds / 3)

    async def renew(self) -> None:
        """Take or renew the lease; remember whether this process holds it."""
        asked = time.monotonic()
        acquire = sync_to_async(try_acquire, thread_sensitive=False)
        held = await acquire(LEASE, self.holder, self.lease_seconds)
        self.lease_until = asked + self.lease_seconds if held else 0.0

    async def tick(self) -> None:
        if time.monotonic() > self.lease_until - self.lease_seconds / 2:
            await self.renew()  # not held, or hold_lease is not renewing it (tests call tick)
        leader = time.monotonic() < self.lease_until
        if leader and not self.leader:
            logger.info("this process (%s) now reconciles deployments", self.holder)
        if not leader and self.leader:
            # Another process reconciles now: it adopts the engines, so they are left running.
            logger.warning("this process lost the reconciler lease; leaving its engines running")
            await self._hand_over()
        if leader and not self.leader:
            # What the last leader recorded as holding GPUs is recorded again as found. Only
            # then is this process the leader: if this fails, the next tick tries again.
            await sync_to_async(job_rows.release_all)()
        self.leader = leader
        # Drains that ended are forgotten before reading: their final state is written.
        ended = [n for n, r in self.ctx.draining.items() if r.drain and r.drain.done()]
        for name in ended:
            del self.ctx.draining[name]
        if leader:
            self.nodes = await asyncio.to_thread(self.read_nodes)
            deployments = await sync_to_async(store.deployments)()
            for deployment in deployments:
                try:
                    await self.reconcile(deployment)
                except asyncio.CancelledError:
                    raise
                except IllegalTransition as exc:  # another process changed it meanwhile
                    logger.warning("reconciling deployment %s: %s", deployment["name"], exc)
                except Exception:  # one deployment's trouble must not stall the others
                    logger.exception("reconciling deployment %s failed", deployment["name"])
            await jobs.tick(self.ctx, deployments)

    async def reconcile(self, d: Row) -> None:
        """Hand one deployment to the handler of its state."""
        name = d["name"]
        state = phase(d, self.ctx.running.get(name), name in self.ctx.draining)
        await HANDLERS[state].handle(self.ctx, d)

    async def _hand_over(self) -> None:
        """Stop following what runs here without ending it: the next leader adopts the
        engines (recorded in their rows) and the jobs on clusters. Deployments that were
        draining were on their way out: they end as before."""
        for name, running in self.ctx.running.items():
            for supervisor in running.supervisors:
                supervisor.detach()
            for task in running.tasks:
                task.cancel()
            await asyncio.gather(*running.tasks, return_exceptions=True)
            logger.info("deployment %s: left running for the next leader", name)
        self.ctx.running.clear()
        await jobs.let_go(self.ctx, HANDED_OVER)
        await draining.abort(self.ctx, S.PENDING, HANDED_OVER)

    async def _let_go(self, reason: str) -> None:
        """Stop everything this process runs, leaving it pending (jobs queued) for the next
        leader; jobs on Slurm or Ray keep running for it to adopt."""
        await jobs.let_go(self.ctx, "CHUNGUS stopping")
        await draining.abort(self.ctx, S.PENDING, reason)
        for name in list(self.ctx.running):
            await draining.stop(self.ctx, name, S.PENDING, reason)
