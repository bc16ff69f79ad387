"""Stopped and failed deployments, and the operator's stop of a deployment in any state.

A deployment the operator stopped is brought to stopped (a ready one drains first). One
stopped because it idled out, or failed, waits for a request (which wakes it) or a new
deploy or start (which makes it pending); one stopped or failed without a reason, or
woken, starts over as pending does.
"""

from __future__ import annotations

from chungus.fleet.lifecycle.handlers import draining, pending
from chungus.fleet.lifecycle.handlers.context import Context, Row
from chungus.fleet.states import DeploymentState as S

STOPPED_BY_OPERATOR = "stopped by the operator"


async def handle(ctx: Context, d: Row) -> None:
    """Stop it as the operator asked, end what another process stopped, or start it if woken."""
    name, running = d["name"], ctx.running.get(d["name"])
    if d["desired"] == "stopped":
        if running is not None or d["state"] != S.STOPPED:
            await draining.stop(ctx, name, S.STOPPED, STOPPED_BY_OPERATOR, drain=True)
        return
    if running is not None:
        # Another process stopped or failed it while this one ran it: its row wins.
        del ctx.running[name]
        await ctx.end(name, running)
        return
    if d["state_reason"] and not d["wake_requested_at"]:
        return  # idle-stopped or failed: waits for a request (or a new deploy)
    await pending.handle(ctx, d)
