"""The job half of the reconciler's tick (same lease, same context as deployments).

Folding@Home's clients                      fah/keeper.py: created and cancelled
active jobs (placing, running, preempting)  follow.py: poll, progress, end, adopt
queued jobs                                  dispatch.py: one placement decision
queued ensembles (parents)                   fleet/jobs/ensembles.py: their replicas' sum;
                                             dispatched to run their analysis once all end
cancelled while queued                       written by the canceller (jobs/submit.py)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async

from chungus.fleet.fah import keeper as fah
from chungus.fleet.jobs import ensembles
from chungus.fleet.jobs.kinds.ensemble.kind import KIND as ENSEMBLE_KIND
from chungus.fleet.lifecycle.handlers.context import Context
from chungus.fleet.lifecycle.jobs import dispatch, ending, follow, rows
from chungus.fleet.states import IllegalTransition

logger = logging.getLogger("chungus.fleet")
ENSEMBLE = ENSEMBLE_KIND.name


async def tick(ctx: Context, deployments: list[dict[str, Any]]) -> None:
    """Move every job on by one step."""
    try:  # Folding@Home's client jobs, created or cancelled as its setting says
        nodes = ctx.local_nodes()
        await sync_to_async(fah.keep)(len(nodes[0].gpus) if nodes else 0)
    except Exception:
        logger.exception("keeping the Folding@Home clients failed")
    active = await sync_to_async(rows.active)()
    seen = {row["id"] for row in active}
    for row in active:
        try:
            await follow.handle(ctx, row)
        except asyncio.CancelledError:
            raise
        except IllegalTransition as exc:  # a user cancelled it meanwhile, or another process
            logger.warning("job %s: %s", row["id"], exc)
        except Exception:
            logger.exception("following job %s failed", row["id"])
    for job_id, run in list(ctx.jobs.items()):
        if job_id not in seen and run.stopping is None:  # its row was ended elsewhere
            await ending.cancel(ctx, run, "the database (its row ended)")
    try:
        queued = await sync_to_async(rows.queued)()
        parents = [row for row in queued if row["kind"] == ENSEMBLE]
        if parents:
            ready = await sync_to_async(ensembles.follow)(parents)
            queued = [row for row in queued if row["kind"] != ENSEMBLE or row["id"] in ready]
        await dispatch.dispatch(ctx, queued, deployments)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("dispatching queued jobs failed")


async def let_go(ctx: Context, reason: str) -> None:
    """Stop scheduling here: local jobs checkpoint and go back to the queue."""
    await asyncio.gather(*(ending.let_go(ctx, run, reason) for run in list(ctx.jobs.values())))
