"""Queued jobs: offer them the GPUs (and CPU cores) nothing holds, in one decision.

The decision is the same pure place() that places deployments, on the same inventory:
what runs (deployments and jobs) holds its GPUs, deployments waiting for room are placed
first (so a job never takes a GPU a deployment is about to get), then the queued jobs in
fair-share order (scheduling/fairshare.py). A batch job (or a waiting deployment) preempts
background jobs here; deployments preempt any job when they are placed
(handlers/pending.py). Slurm and Ray jobs go to their cluster's
own queue at once.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from asgiref.sync import sync_to_async

from chungus.fleet.lifecycle.handlers.context import Context
from chungus.fleet.lifecycle.jobs import ending, launching, rows
from chungus.fleet.lifecycle.jobs.run import job_of, work_id
from chungus.fleet.states import DeploymentState
from chungus.lib.env import envint
from chungus.scheduling.fairshare import (
    QueuedJob,
    fair_order,
    placement_priority,
)
from chungus.scheduling.placement import Assignment, Cluster, Decision, Node, Work, decide

Row = dict[str, Any]
RESERVED = 1_000_000_000  # a GPU kept for a deployment: above every job, never evicted


def occupied(ctx: Context, nodes: list[Node], waiting: Collection[str] = ()) -> Cluster:
    """The local node as it is: running deployments' and jobs' GPUs taken (only background
    jobs preemptible), and the GPUs kept for `waiting` deployments that preempted jobs for
    them (ctx.reserved: no job takes a GPU freed for a deployment)."""
    cluster = Cluster(nodes)
    if not nodes:
        return cluster
    node, cards = nodes[0].name, len(nodes[0].gpus)
    for name in list(ctx.reserved):
        if name not in waiting:  # placed, stopped or gone: nothing to keep any more
            del ctx.reserved[name]
            continue
        held = [g for g in sorted(ctx.reserved[name]) if g < cards and not _taken(ctx, g)]
        if held:
            work = Work(f"{name}#reserved", len(held), whole_gpu_mb(nodes), RESERVED)
            cluster.add(work, Assignment(work.id, node, tuple(held)))
    for name, running in [*ctx.running.items(), *ctx.draining.items()]:
        if running.launcher != "local":
            continue
        for replica, indices in running.gpus.items():
            if indices and max(indices) < cards:
                work = Work(f"{name}#{replica}", len(indices), running.memory_mb, running.priority)
                cluster.add(work, Assignment(work.id, node, indices))
    for run in ctx.jobs.values():
        if run.holds_gpus and max(run.gpus) < cards:
            work = run.work(by_deployment=False)
            cluster.add(work, Assignment(work.id, node, run.gpus))
    return cluster


async def _preempt_yielding(ctx: Context, decision: Decision) -> set[int]:
    """Preempt the background jobs the decision evicted; the GPUs they will free."""
    freeing: set[int] = set()
    for victim in (j for e in decision.evictions if (j := job_of(e)) is not None):
        run = ctx.jobs.get(victim)
        if run is None:
            continue
        freeing |= set(run.gpus)
        takers = [a.work_id for a in decision.assignments if set(a.gpu_indices) & set(run.gpus)]
        await ending.preempt(ctx, victim, _work_name(takers[0]) if takers else "other work")
    return freeing


def _work_name(work: str) -> str:
    """'job 7' for "job:7", 'deployment big' for "big#0" (placement's work ids)."""
    job_id = job_of(work)
    if job_id is not None:
        return f"job {job_id}"
    return f"deployment {work.split('#')[0]}"


def _taken(ctx: Context, gpu: int) -> bool:
    """Whether a job this process runs still holds `gpu` (it is counted as that job's)."""
    return any(run.holds_gpus and gpu in run.gpus for run in ctx.jobs.values())


def whole_gpu_mb(nodes: list[Node]) -> int:
    return max((g.memory_mb for n in nodes for g in n.gpus), default=0)


async def dispatch(ctx: Context, queued: list[Row], deployments: list[Row]) -> None:
    """Start the queued jobs that fit now; tell the others why they wait."""
    if not queued:
        return
    nodes = ctx.local_nodes()
    node = nodes[0].name if nodes else ""
    whole = whole_gpu_mb(nodes)
    pending = {
        d["name"] for d in deployments
        if d["state"] == DeploymentState.PENDING and d["desired"] == "running"
    }  # fmt: skip
    cluster = occupied(ctx, nodes, pending)
    holding: dict[int, int] = {}
    for run in ctx.jobs.values():
        holding[run.owner] = holding.get(run.owner, 0) + len(run.gpus)
    by_id = {r["id"]: r for r in queued}
    order = fair_order(
        [QueuedJob(r["id"], r["owner_id"], r["tier"], r["priority"], r["gpus"],
                   r["created_at"].timestamp()) for r in queued],
        holding,
    )  # fmt: skip
    user_limit = envint("CHUNGUS_JOBS_MAX_GPUS_PER_USER", 0, minimum=0)
    cores_total = os.cpu_count() or 1
    cores_used = sum(r.cpu_cores for r in ctx.jobs.values() if r.launcher == "local")
    waiting: dict[int, str] = {}
    asks: list[Work] = [
        Work(f"{d['name']}#{i}", d["gpus_per_replica"], d["memory_mb"], d["priority"])
        for d in deployments
        if d["state"] == DeploymentState.PENDING and d["desired"] == "running"
        and d["launcher"] == "local" and d["gpus_per_replica"] and d["name"] not in ctx.reserved
        for i in range(d["replicas"])
    ]  # fmt: skip
    for job in order:
        row = by_id[job.id]
        if row["launcher"] != "local":
            await launching.launch(ctx, row, row["launcher"], tuple(range(row["gpus"])), 0)
            continue
        if user_limit and row["gpus"] and holding.get(job.owner, 0) + row["gpus"] > user_limit:
            waiting[job.id] = (
                f"its owner holds {holding.get(job.owner, 0)} GPU(s); the limit "
                f"per user is {user_limit}"
            )
            continue
        if cores_used + row["cpu_cores"] > max(cores_total, row["cpu_cores"]):
            waiting[job.id] = (
                f"waiting for {row['cpu_cores']} CPU core(s): jobs use "
                f"{cores_used} of {cores_total}"
            )
            continue
        if not row["gpus"]:
            cores_used += row["cpu_cores"]
            await launching.launch(ctx, row, node, (), 0)
            continue
        memory = row["memory_mb"] or whole
        asks.append(Work(work_id(job.id), row["gpus"], memory,
                         placement_priority(row["tier"], row["priority"])))  # fmt: skip
        cores_used += row["cpu_cores"]
        holding[job.owner] = holding.get(job.owner, 0) + row["gpus"]
    # While preempted jobs checkpoint, wait for them rather than preempt more.
    stopping = any(run.stopping for run in ctx.jobs.values())
    decision = decide(cluster, asks, allow_eviction=not stopping)
    freeing = await _preempt_yielding(ctx, decision)
    for placed in decision.assignments:
        job_id = job_of(placed.work_id)
        if job_id is None:
            continue
        if freeing & set(placed.gpu_indices):  # started once the preempted job has ended
            waiting[job_id] = "waiting for a background job to checkpoint and free its GPU"
            continue
        row = by_id[job_id]
        await launching.launch(ctx, row, placed.node, placed.gpu_indices,
                               row["memory_mb"] or whole)  # fmt: skip
    for work, why in decision.pending.items():
        if (job_id := job_of(work)) is not None:
            waiting[job_id] = f"waiting for a GPU: {why}"
    for job_id, why in waiting.items():
        reason = f"queued: {why}"
        before = by_id[job_id]["reason"]
        if before.startswith("preempted by"):  # keep saying why it left its GPU
            reason = f"{before.split(' | ')[0]} | {reason}"
        if before != reason:
            await sync_to_async(rows.set_reason)(job_id, reason)
