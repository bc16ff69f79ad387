"""Placing, running and preempting jobs: follow their processes to their end.

A job whose row says it runs but that no process here runs was left by a CHUNGUS process
that ended: it is adopted if its process still runs (never a second copy), else queued to
resume from its checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async

from chungus.fleet.launchers.base import LaunchState
from chungus.fleet.lifecycle.handlers.context import Context
from chungus.fleet.lifecycle.jobs import ending, launching, rows
from chungus.fleet.lifecycle.jobs.run import JobRun
from chungus.fleet.states import JobState

logger = logging.getLogger("chungus.fleet")
Row = dict[str, Any]
ORPHANED = "the CHUNGUS process that ran it ended; resumes from its checkpoint"


async def handle(ctx: Context, row: Row) -> None:
    """One placing, running or preempting job."""
    run = ctx.jobs.get(row["id"])
    if run is None:
        if not await launching.adopt(ctx, row):
            await sync_to_async(rows.move)(row["id"], JobState.QUEUED, ORPHANED)
        return
    if run.stopping is not None:
        return  # its stop task records how it ends
    if row["cancel_requested"]:
        await ending.cancel(ctx, run, _who(row))
        return
    await follow(ctx, run, row)


async def follow(ctx: Context, run: JobRun, row: Row) -> None:
    try:
        status = await ctx.launchers[run.launcher].poll(run.handle)
    except Exception as exc:  # a launcher hiccup (Slurm busy): ask again next tick
        logger.warning("job %s: poll failed: %s", run.id, exc)
        return
    if status.state in (LaunchState.EXITED, LaunchState.STOPPED):
        run.freed_at = 0.0
        await ending.finish(ctx, run, status)
        ctx.kick()
        return
    run.placed = status.state is LaunchState.RUNNING
    if run.placed and row["state"] == JobState.PLACING:
        where = status.host or run.launcher
        await sync_to_async(rows.move)(
            run.id, JobState.RUNNING, f"running on {where} (attempt {row['attempts']})",
            node=status.host or row["node"],
        )  # fmt: skip
    elif status.state is LaunchState.PLACING and status.detail != row["reason"]:
        await sync_to_async(rows.set_reason)(run.id, status.detail)
    shown = await asyncio.to_thread(ending.progress, run)  # reads files in its directory
    if shown != run.shown:
        run.shown = shown
        await sync_to_async(rows.save_progress)(run.id, *shown)


def _who(row: Row) -> str:
    reason = str(row.get("reason", ""))
    if "(asked by " in reason:
        return reason.split("(asked by ", 1)[1].rstrip(")")
    return "its owner"
