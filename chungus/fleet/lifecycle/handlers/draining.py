"""Draining deployments, and stopping: a ready one leaves routing and finishes its requests first.

`stop` ends a deployment's replicas now, or, for a ready one asked to drain, starts a
drain task that runs beside the tick (so other deployments are reconciled meanwhile)
and writes how the deployment ends: stopped, or pending when it restarts. The tick
leaves a deployment alone while its drain task runs (`handle`). How long a drain waits
is drain.py's decision.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async

from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.drain import Replica, drain
from chungus.fleet.lifecycle.handlers.context import Context, Row, Running
from chungus.fleet.states import DeploymentState as S

logger = logging.getLogger("chungus.fleet")


async def handle(ctx: Context, d: Row) -> None:
    """A deployment draining in this process: its drain task writes how it ends."""


async def stop(ctx: Context, name: str, state: S, reason: str, *, drain: bool = False) -> None:
    """Stop a deployment, ending in `state`; with `drain`, a ready one first finishes its
    requests in flight (in a task of its own)."""
    running = ctx.running.pop(name, None)
    if running is None:
        await ctx.set(name, state, reason, wake=False)
        return
    ready = any(s.ready.is_set() for s in running.supervisors)
    if drain and ready and ctx.drain_policy.timeout > 0:
        ctx.draining[name] = running
        running.drain = asyncio.create_task(_drain(ctx, name, running, state, reason))
        return
    await ctx.end(name, running)
    await ctx.set(name, state, reason, wake=False)


async def restart(ctx: Context, name: str, changed: list[str]) -> None:
    """Restart a deployment redeployed with new engine settings (draining it first)."""
    reason = f"redeployed with new {', '.join(changed)}: restarting"
    await stop(ctx, name, S.PENDING, reason, drain=True)


async def abort(ctx: Context, state: S, reason: str) -> None:
    """Stop draining deployments at once (this process stops reconciling)."""
    draining = list(ctx.draining.items())
    unfinished = {n for n, r in draining if r.drain is None or not r.drain.done()}
    for _, running in draining:
        if running.drain is not None:
            running.drain.cancel()
    await asyncio.gather(*(r.drain for _, r in draining if r.drain), return_exceptions=True)
    ctx.draining.clear()
    for name, running in draining:
        await ctx.end(name, running)  # a drain cancelled before it ran ended nothing
        if name in unfinished:
            await ctx.set(name, state, reason, wake=False)


async def _drain(ctx: Context, name: str, running: Running, state: S, reason: str) -> None:
    doing = f"{reason}; draining"

    async def progress(text: str) -> None:
        await ctx.set(name, S.DRAINING, f"{doing}: {text}")

    try:
        removed = await sync_to_async(store.remove_replicas)(name)
        await ctx.after_change()
        addresses = [
            (s.status.address, s.spec.api_key) for s in running.supervisors if s.status.address
        ]
        replicas = [
            Replica(a, running.engine, tuple(i for i, url in removed if url.startswith(a)), key)
            for a, key in addresses
        ]
        await ctx.set(name, S.DRAINING, doing)  # keeps requests to wake it meanwhile
        ended = await drain(replicas, ctx.in_flight, ctx.drain_policy, progress)
    except Exception as exc:  # the engines stop all the same, and the state says why
        logger.exception("draining %s failed", name)
        ended = f"stopped without draining: {exc}"
    finally:
        await ctx.end(name, running)
    await ctx.set(name, state, f"{reason} ({ended})")
