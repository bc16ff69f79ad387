"""Placing and starting deployments: follow their replicas until every one is ready.

A deployment here is placing while each replica not yet ready waits for its cluster
(Slurm queue, Ray GPUs), else starting; the state's reason shows each replica's
progress (loading, pulling 42%). One whose replica keeps crashing fails with the
engine's last log lines; one redeployed with new engine settings restarts. Once every
replica is ready, the ready handler takes over. One that its Slurm or Ray cluster queues
for want of GPUs preempts CHUNGUS's jobs there (jobs/cluster_room.py).
"""

from __future__ import annotations

from chungus.fleet.lifecycle.handlers import draining
from chungus.fleet.lifecycle.handlers.context import Context, Row
from chungus.fleet.lifecycle.jobs import cluster_room
from chungus.fleet.states import DeploymentState as S


async def handle(ctx: Context, d: Row) -> None:
    """Write the replicas' progress, fail a deployment that keeps crashing, or restart it."""
    name, running = d["name"], ctx.running[d["name"]]
    if changed := running.follow(d):
        await draining.restart(ctx, name, changed)
        return
    failing = [
        s
        for s in running.supervisors
        if s.status.failures >= ctx.restart_limit and not s.ready.is_set()
    ]
    if failing:
        reason = f"crashed {failing[0].status.failures} times: {failing[0].last_exit}"
        await draining.stop(ctx, name, S.FAILED, reason)
        return
    statuses = [s.status for s in running.supervisors]
    detail = "; ".join(f"{s.state}: {s.detail}" if s.detail else s.state for s in statuses)
    state = running.observed()
    if state == S.PLACING and (preempted := await cluster_room.make_room(ctx, d)):
        detail = f"preempting job {', '.join(map(str, preempted))} on {running.launcher}; {detail}"
    if d["state"] != state or d["state_reason"] != detail[:1000]:
        await ctx.set(name, state, detail, wake=False)
