"""Room on a Slurm or Ray cluster: a deployment its cluster queues for want of GPUs
preempts CHUNGUS's own jobs there (the cluster, not place(), chose their GPUs).

Only when the cluster says it lacks resources (Slurm's "(Resources)", Ray's "waiting for
N GPUs"), lowest-priority jobs first, until they free the GPUs the waiting replicas ask.
"""

from __future__ import annotations

from chungus.fleet.lifecycle.handlers.context import Context, Row
from chungus.fleet.lifecycle.jobs import ending
from chungus.fleet.states import ReplicaState

WANTS_GPUS = ("(Resources)", "GPUs in the Ray cluster")


async def make_room(ctx: Context, d: Row) -> list[int]:
    """Preempt jobs on the deployment's cluster if its replicas wait for GPUs; their ids."""
    running = ctx.running.get(d["name"])
    if running is None or not d["gpus_per_replica"] or running.launcher == "local":
        return []
    waiting = [
        s for s in running.supervisors
        if s.status.state == ReplicaState.PLACING and any(w in s.status.detail for w in WANTS_GPUS)
    ]  # fmt: skip
    # Only jobs that hold GPUs there: one its cluster still queues frees nothing.
    jobs = [j for j in ctx.jobs.values() if j.launcher == running.launcher and j.gpus]
    if any(j.stopping for j in jobs):
        return []  # the jobs already asked are still checkpointing
    jobs = [j for j in jobs if j.placed]
    if not waiting or not jobs:
        return []
    need = len(waiting) * d["gpus_per_replica"]
    chosen: list[int] = []
    for job in sorted(jobs, key=lambda j: (j.placement_priority, -j.started)):
        if need <= 0:
            break
        chosen.append(job.id)
        need -= len(job.gpus)
    for job_id in chosen:
        await ending.preempt(ctx, job_id, f"deployment {d['name']}")
    return chosen
