"""How a job's attempt ends: preempted, cancelled, finished, failed, or resumed later.

preempt(ctx, job_id, by)   a deployment needs its GPU: SIGTERM now, SIGKILL after the
                           grace period; back to queued once its process has ended
cancel(ctx, run, who)      the same signals; cancelled once it has ended
finish(ctx, run, status)   its process ended: succeeded, failed, or queued to resume (a
                           failed attempt, too, while it has retries left: ensemble replicas)
"""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.db.models import F

from chungus.fleet.jobs.kinds import registry
from chungus.fleet.jobs.kinds.base import ERROR_FILE, PREPARATION_FAILED, RESUMABLE, read_json
from chungus.fleet.launchers.base import LaunchState, LaunchStatus
from chungus.fleet.lifecycle.handlers.context import Context
from chungus.fleet.lifecycle.jobs import rows
from chungus.fleet.lifecycle.jobs.run import JobRun
from chungus.fleet.states import JobState

logger = logging.getLogger("chungus.fleet")
KILLED = (-9, 137, -15, 143)  # ended by SIGKILL or an unhandled SIGTERM


async def preempt(ctx: Context, job_id: int, by: str) -> None:
    """Give the job's GPUs to `by`: ask it to checkpoint and exit (SIGKILL after its grace)."""
    run = ctx.jobs.get(job_id)
    if run is None or run.stopping is not None:
        return
    run.preempted_by, run.preempt_at = by, time.monotonic()
    reason = f"preempted by {by}: saving a checkpoint (SIGTERM; SIGKILL after {run.grace:g} s)"
    logger.info("job %s: %s", job_id, reason)
    await sync_to_async(rows.move)(job_id, JobState.PREEMPTING, reason)
    run.stopping = asyncio.create_task(_stop(ctx, run))


async def cancel(ctx: Context, run: JobRun, who: str) -> None:
    if run.stopping is not None:
        return
    run.cancelling = who or "its owner"
    reason = f"cancelling: SIGTERM sent, SIGKILL after {run.grace:g} s"
    await sync_to_async(rows.set_reason)(run.id, reason)
    await sync_to_async(rows.add_event)(run.id, "cancelling", by=run.cancelling)
    logger.info("job %s: %s", run.id, reason)
    run.stopping = asyncio.create_task(_stop(ctx, run))


async def let_go(ctx: Context, run: JobRun, reason: str) -> None:
    """This process stops scheduling: end a local job (it checkpoints), leave a cluster's
    job running for the next scheduler to adopt."""
    if run.launcher != "local":
        ctx.jobs.pop(run.id, None)
        return
    run.preempted_by, run.preempt_at = reason, time.monotonic()
    if run.stopping is None:
        run.stopping = asyncio.create_task(_stop(ctx, run))
    await asyncio.gather(run.stopping, return_exceptions=True)


async def _stop(ctx: Context, run: JobRun) -> None:
    launcher = ctx.launchers[run.launcher]
    try:
        await launcher.terminate(run.handle, run.grace)
        status = await launcher.poll(run.handle)
    except Exception as exc:  # the launcher could not reach it: treat as ended, resume later
        logger.exception("job %s: stopping failed", run.id)
        status = LaunchStatus(LaunchState.EXITED, detail=str(exc))
    run.freed_at = time.monotonic()
    await finish(ctx, run, status)
    ctx.kick()


async def finish(ctx: Context, run: JobRun, status: LaunchStatus) -> None:
    """Record how the attempt ended and move the job on (never raises for a vanished row).

    The run stays in ctx.jobs until its row is moved: a tick meanwhile must not take the
    row for one that no process here runs."""
    try:
        await _record_end(run, status)
    finally:
        ctx.jobs.pop(run.id, None)


async def _record_end(run: JobRun, status: LaunchStatus) -> None:
    run.freed_at = run.freed_at or time.monotonic()
    seconds = run.freed_at - run.started
    fraction, summary, detail = await asyncio.to_thread(progress, run)  # reads its files
    said = await asyncio.to_thread(read_json, run.workdir / ERROR_FILE)
    await sync_to_async(rows.save_progress)(run.id, fraction, summary, detail)
    await sync_to_async(rows.release)("job", str(run.id))
    await sync_to_async(rows.add_gpu_seconds)(
        run.id, seconds * len(run.gpus), exit_code=status.exit_code
    )
    state, reason, event = _outcome(run, status, detail, str(said.get("message") or ""))
    extra: dict[str, object] = {"exit_code": status.exit_code, "seconds": round(seconds, 1)}
    if run.preempted_by and state == JobState.QUEUED:
        extra["handover_seconds"] = round(run.freed_at - run.preempt_at, 3)
        extra["by"] = run.preempted_by
        extra["checkpoint_step"] = detail.get("checkpoint_step")
    await sync_to_async(rows.add_event)(run.id, event, **extra)
    logger.info("job %s: %s %s", run.id, state, reason)
    try:
        retried = {"retries": F("retries") + 1} if event == "retried" else {}
        await sync_to_async(rows.move)(run.id, state, reason, **retried)
        if event == "preempted":
            await sync_to_async(rows.count_preemption)(run.id)
    except Exception:
        logger.exception("job %s: recording its end failed", run.id)


def _outcome(
    run: JobRun, status: LaunchStatus, detail: dict[str, object], said: str
) -> tuple[JobState, str, str]:
    """The job's next state, the reason in words, and the event to record (pure); `said`
    is the job's own error message, if it wrote one."""
    code = status.exit_code
    done = code == 0 or (code is None and detail.get("phase") == "done")
    took = f"after {run.freed_at - run.started:.0f} s"
    if run.cancelling:
        return JobState.CANCELLED, f"cancelled by {run.cancelling} {took}", "cancelled"
    if done:
        return JobState.SUCCEEDED, f"finished {took}", "succeeded"
    step = detail.get("checkpoint_step")
    at = f" (step {step})" if step is not None else ""
    if run.preempted_by and (code is None or code == RESUMABLE or code in KILLED):
        handover = run.freed_at - run.preempt_at
        reason = (f"preempted by {run.preempted_by}: GPU freed in {handover:.1f} s; "
                  f"resumes from its checkpoint{at}")  # fmt: skip
        return JobState.QUEUED, reason, "preempted"
    if code == RESUMABLE:
        return JobState.QUEUED, f"stopped itself to be resumed{at}", "requeued"
    if code is None:
        reason = f"the process that ran it ended; resumes from its checkpoint{at}"
        return JobState.QUEUED, reason, "requeued"
    why = said or f"exit code {code}: {_last_lines(status.detail)}"
    if run.retries_left > 0 and code != PREPARATION_FAILED:
        reason = f"failed ({why[:300]}); runs again from its checkpoint{at}, " + (
            f"{run.retries_left - 1} more retries left"
        )
        return JobState.QUEUED, reason, "retried"
    return JobState.FAILED, why, "failed"


def _last_lines(detail: str) -> str:
    lines = [line for line in detail.splitlines()[1:] if line.strip()]
    return " | ".join(lines[-3:])[:600] or "no output"


def progress(run: JobRun) -> tuple[float, str, dict[str, object]]:
    """The job's progress now, as its kind reads it from its directory."""
    try:
        said = registry.get(run.kind).progress(run.workdir)
    except Exception:  # a kind's reader must never stop the scheduler
        logger.exception("job %s: reading progress failed", run.id)
        return 0.0, "", {}
    return said.fraction, said.summary, dict(said.detail)
