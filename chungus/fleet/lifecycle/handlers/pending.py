"""Pending deployments: find them room (GPUs, or this host's memory), then launch their replicas.

Also what becomes of a deployment the reconciler finds placing, starting, ready or
draining with nothing of it running here: the process that ran it has ended, so it
starts over. It moves to starting, stays pending with the reason it waits (swapping out
idle deployments to make room, if that helps), or fails when it cannot be launched.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from asgiref.sync import sync_to_async

from chungus.engines.base import DeploymentPlan, LaunchSpec
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.handlers import draining
from chungus.fleet.lifecycle.handlers.context import RESTART_ON, Context, Row, Running
from chungus.fleet.lifecycle.jobs import ending
from chungus.fleet.lifecycle.jobs import rows as job_rows
from chungus.fleet.lifecycle.jobs.run import job_of
from chungus.fleet.lifecycle.plans import launch_spec
from chungus.fleet.lifecycle.supervisor import OnLaunch, OnReady, Supervisor
from chungus.fleet.states import DeploymentState as S
from chungus.scheduling.placement import Assignment, Cluster, Work, decide

DEFAULT_READY_TIMEOUT = 120.0
# States in which a deployment's engines may still run, left by a process that ended.
LIVE = (S.PLACING, S.STARTING, S.READY, S.DRAINING)


async def handle(ctx: Context, d: Row) -> None:
    """Start the deployment's replicas where they fit, or say why it waits or cannot start."""
    name = d["name"]
    gpus: dict[int, tuple[int, ...]] = {i: () for i in range(d["replicas"])}
    if d["gpus_per_replica"] and d["launcher"] == "local":
        placed = await place(ctx, d)
        if placed is None:
            return
        gpus = placed
    elif d["gpus_per_replica"]:  # Slurm or Ray places it on its own cluster: ask for a count
        gpus = {i: tuple(range(d["gpus_per_replica"])) for i in range(d["replicas"])}
    elif d["launcher"] == "local" and d["memory_mb"]:  # on this host's CPUs and memory
        need, free = d["memory_mb"] * d["replicas"], ctx.free_memory_mb()
        if need > free:
            reason = f"needs {need} MB of memory on this host; {free} MB is available"
            await ctx.set(name, S.PENDING, reason, wake=False)
            return
    launcher = ctx.launchers.get(d["launcher"])
    if launcher is None:
        await ctx.set(name, S.FAILED, f"no launcher named {d['launcher']!r}", wake=False)
        return
    plan = DeploymentPlan(
        name, d["source"], d["engine"], d["gpus_per_replica"],
        d["tensor_parallel"], d["pipeline_parallel"], d["context_length"],
        launcher=d["launcher"],
    )  # fmt: skip
    try:
        # Off the event loop: it may assemble the packaged model or read a GGUF's header.
        specs = await asyncio.to_thread(
            lambda: [launch_spec(plan, ctx.home, i, gpus[i], d["id"]) for i in range(d["replicas"])]
        )
    except (FileNotFoundError, ValueError) as exc:
        await ctx.set(name, S.FAILED, str(exc), wake=False)
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
    found = adoptable(d)
    for replica, spec in enumerate(specs):
        reference = found.get(replica)
        if reference is not None:  # the earlier process's engine: its port and key, not new ones
            port, key = int(reference.get("port", spec.port)), reference.get("api_key", "")
            spec = replace(spec, port=port).with_api_key(str(key or ""))  # env's copy too
        supervisor = Supervisor(
            launcher,
            spec,
            _on_ready(ctx, name, d["engine"], replica, d["launcher"], spec.api_key),
            ready_timeout=ctx.ready_timeouts.get(d["engine"], DEFAULT_READY_TIMEOUT),
            adopt=reference,
            on_launch=_on_launch(name, replica, d["launcher"], spec),
        )
        running.supervisors.append(supervisor)
        running.tasks.append(asyncio.create_task(supervisor.run()))
    ctx.running[name] = running
    if d["launcher"] == "local" and d["gpus_per_replica"]:
        held = sorted({g for indices in gpus.values() for g in indices})
        nodes = ctx.local_nodes()
        await sync_to_async(job_rows.hold)("deployment", name, nodes[0].name if nodes else "", held)
    reason = f"starting {d['replicas']} replica(s) on {d['launcher']}"
    await ctx.set(name, S.STARTING, reason, wake=False)


async def place(ctx: Context, d: Row) -> dict[int, tuple[int, ...]] | None:
    """GPUs per replica, swapping out idle deployments if needed; None while it must wait."""
    nodes = ctx.local_nodes()
    cluster = Cluster(nodes)
    local = nodes[0].name if nodes else ""
    cards = len(nodes[0].gpus) if nodes else 0
    for other, running in [*ctx.running.items(), *ctx.draining.items()]:
        if running.launcher != "local":
            continue  # Slurm and Ray place their work on their own clusters' GPUs
        idle = 0.0 if other in ctx.draining else await _idle_seconds(ctx, other, running)
        for replica, indices in running.gpus.items():
            if indices and max(indices) < cards:  # a GPU gone from the inventory holds nothing
                # Idle deployments may be swapped out, least recently used first.
                swappable = (
                    not running.always_warm
                    and idle >= ctx.swap_idle_seconds
                    and other not in ctx.draining
                )
                priority = running.priority - 1 - int(idle) if swappable else running.priority
                work = Work(
                    f"{other}#{replica}", len(indices), running.memory_mb, priority, swappable
                )
                cluster.add(work, Assignment(work.id, local, indices))
    for job in ctx.jobs.values():  # jobs rank below every deployment: they are preempted
        if job.holds_gpus and max(job.gpus) < cards:
            work = job.work(by_deployment=True)
            cluster.add(work, Assignment(work.id, local, job.gpus))
    asks = [
        Work(f"{d['name']}#{i}", d["gpus_per_replica"], d["memory_mb"], d["priority"])
        for i in range(d["replicas"])
    ]
    # While what this deployment swapped out drains (or the jobs it preempted checkpoint),
    # wait for them rather than evict more; what leaves for others does not hold it back.
    mine = ctx.awaiting.get(d["name"], set())
    stopping = {f"job {j.id}" for j in ctx.jobs.values() if j.stopping}
    leaving = sorted(n for n in mine if n in ctx.draining or n in stopping)
    decision = decide(cluster, asks, allow_eviction=not leaving)
    if decision.pending:
        reason = next(iter(decision.pending.values()))
        if leaving:
            reason = f"waiting for {', '.join(leaving)} to free GPUs; {reason}"
        await ctx.set(d["name"], S.PENDING, reason, wake=False)
        for placed in decision.assignments:  # all replicas or none
            cluster.remove(placed.work_id)
        return None
    jobs = sorted(j for v in decision.evictions if (j := job_of(v)) is not None)
    for job_id in jobs:
        ctx.reserved.setdefault(d["name"], set()).update(ctx.jobs[job_id].gpus)
        await ending.preempt(ctx, job_id, f"deployment {d['name']}")
    swapped = {v.split("#")[0] for v in decision.evictions if job_of(v) is None}
    for victim in swapped:
        reason = f"idle: swapped out to make room for {d['name']}"
        await draining.stop(ctx, victim, S.STOPPED, reason, drain=True)
    if decision.evictions:
        ctx.awaiting[d["name"]] = {f"job {j}" for j in jobs} | swapped
    if jobs:
        held = ", ".join(f"job {j}" for j in jobs)
        await ctx.set(d["name"], S.PENDING, f"preempting {held}: waiting for its GPU", wake=False)
    if decision.evictions:
        return None  # placed once the swapped-out ones have drained, the jobs checkpointed
    ctx.reserved.pop(d["name"], None)
    ctx.awaiting.pop(d["name"], None)
    return {int(a.work_id.split("#")[1]): a.gpu_indices for a in decision.assignments}


def adoptable(d: Row) -> dict[int, dict[str, Any]]:
    """Per replica, the engine an earlier reconciling process left running for this one to
    adopt: recorded while the deployment was live, on the launcher it still names."""
    if S(d["state"]) not in LIVE:
        return {}
    handles = d.get("replica_handles") or {}
    return {
        int(replica): reference
        for replica, reference in handles.items()
        if isinstance(reference, dict) and reference.get("launcher") == d["launcher"]
    }


def _on_launch(name: str, replica: int, launcher: str, spec: LaunchSpec) -> OnLaunch:
    async def record(reference: dict[str, Any]) -> None:
        # The engine's key (if it has one) is kept as its backend row keeps it: CHUNGUS's own.
        saved = {**reference, "launcher": launcher, "port": spec.port}
        if spec.api_key:
            saved["api_key"] = spec.api_key
        await sync_to_async(store.save_handle)(name, replica, saved)

    return record


def _on_ready(
    ctx: Context, name: str, engine: str, replica: int, launcher: str, api_key: str = ""
) -> OnReady:
    async def registered(address: str) -> None:
        await sync_to_async(store.register_replica)(
            name, engine, replica, launcher, address, api_key
        )
        await ctx.after_change()

    return registered


async def _idle_seconds(ctx: Context, name: str, running: Running) -> float:
    """Seconds since the deployment last served a request (or became ready)."""
    last = await ctx.last_used(name, ctx.swap_idle_seconds)
    since = max(last or 0.0, running.ready_wall or time.time())
    return max(0.0, time.time() - since)
