"""Starting a job's process (its first attempt or a resume), or adopting one still running."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async

from chungus.engines.base import LaunchSpec
from chungus.fleet.jobs.files import LOG_FILE, job_dir
from chungus.fleet.jobs.kinds import registry
from chungus.fleet.lifecycle.handlers.context import Context
from chungus.fleet.lifecycle.jobs import rows
from chungus.fleet.lifecycle.jobs.run import JobRun
from chungus.fleet.states import JobState

logger = logging.getLogger("chungus.fleet")
Row = dict[str, Any]


def launch_spec(row: Row, gpus: tuple[int, ...]) -> LaunchSpec:
    """What the launcher runs for the job: its kind's command, in its directory."""
    workdir = job_dir(row["id"])
    command = registry.get(row["kind"]).command(row["spec"], workdir)
    env = {
        **command.env,
        "CHUNGUS_JOB_ID": str(row["id"]),
        "CHUNGUS_CPU_CORES": str(row["cpu_cores"]),
        "OMP_NUM_THREADS": str(row["cpu_cores"]),
    }
    return LaunchSpec(
        name=f"job-{row['id']}",
        command=command.argv,
        env=env,
        gpus=gpus,
        cwd=command.cwd or str(workdir),
        log_path=str(workdir / LOG_FILE),
    )


def new_run(row: Row, spec: LaunchSpec, handle: Any, node: str, memory_mb: int) -> JobRun:
    return JobRun(
        id=row["id"], owner=row["owner_id"], kind=row["kind"], tier=row["tier"],
        priority=row["priority"], launcher=row["launcher"], spec=spec, handle=handle,
        workdir=job_dir(row["id"]), node=node, gpus=spec.gpus, memory_mb=memory_mb,
        cpu_cores=row["cpu_cores"], grace=float(row["grace_seconds"]),
        retries_left=max(0, row["max_retries"] - row["retries"]),
    )  # fmt: skip


async def launch(ctx: Context, row: Row, node: str, gpus: tuple[int, ...], memory_mb: int) -> None:
    """Start the job on `gpus` of `node` (for Slurm and Ray: that many, on their cluster)."""
    job_id, launcher = row["id"], ctx.launchers.get(row["launcher"])
    if launcher is None:
        reason = f"no launcher named {row['launcher']!r} in this CHUNGUS"
        await sync_to_async(rows.move)(job_id, JobState.FAILED, reason)
        return
    try:
        spec = await asyncio.to_thread(launch_spec, row, gpus)  # makes its directory
        handle = await launcher.launch(spec)
    except Exception as exc:
        logger.exception("job %s: launch failed", job_id)
        await sync_to_async(rows.move)(job_id, JobState.FAILED, f"could not start: {exc}")
        return
    run = new_run(row, spec, handle, node, memory_mb)
    local = run.placed = row["launcher"] == "local"
    ctx.jobs[job_id] = run
    where = f"GPU {', '.join(map(str, gpus))} of {node}" if gpus else f"{node}, CPU only"
    if not local:
        where = f"{row['launcher']}" + (f" ({len(gpus)} GPU(s))" if gpus else "")
    attempt = row["attempts"] + 1
    verb = "resumed" if attempt > 1 else "started"
    state = JobState.RUNNING if local else JobState.PLACING
    reason = f"{verb} on {where} (attempt {attempt})"
    await sync_to_async(rows.started)(
        job_id, state, reason, node, list(gpus), launcher.reference(handle)
    )
    if local and gpus:
        await sync_to_async(rows.hold)("job", str(job_id), node, gpus)
    await sync_to_async(rows.add_event)(job_id, verb, attempt=attempt, node=node, gpus=list(gpus))


async def adopt(ctx: Context, row: Row) -> bool:
    """Follow a job that an earlier CHUNGUS process started, if it still runs."""
    launcher = ctx.launchers.get(row["launcher"])
    if launcher is None or not row["handle"]:
        return False
    gpus = tuple(row["gpu_indices"] or ())
    try:
        spec = await asyncio.to_thread(launch_spec, row, gpus)  # makes its directory
        handle = await launcher.adopt(spec, row["handle"])
    except Exception:
        logger.exception("job %s: adopting failed", row["id"])
        return False
    if handle is None:
        return False
    memory = row["memory_mb"] or max((g.memory_mb for n in ctx.nodes() for g in n.gpus), default=0)
    ctx.jobs[row["id"]] = new_run(row, spec, handle, row["node"], memory)
    if row["launcher"] == "local" and gpus:
        await sync_to_async(rows.hold)("job", str(row["id"]), row["node"], gpus)
    await sync_to_async(rows.add_event)(row["id"], "adopted", node=row["node"])
    logger.info("job %s: adopted from an earlier CHUNGUS process", row["id"])
    return True
