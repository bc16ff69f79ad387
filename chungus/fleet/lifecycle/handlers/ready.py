"""Ready deployments: keep always-warm ones warm, unload idle ones (the next request starts them).

An idle one is stopped after its idle timeout, draining first; an always-warm one gets
a tiny request every `warmup_seconds`, sent beside the tick so a slow answer delays no
other work. A replica that ends sends the deployment back to starting; a redeploy with
new engine settings restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async

from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.handlers import draining
from chungus.fleet.lifecycle.handlers.context import Context, Row, Running
from chungus.fleet.states import DeploymentState as S

logger = logging.getLogger("chungus.fleet")


async def handle(ctx: Context, d: Row) -> None:
    """Mark it ready once all its replicas are; then warm it, or unload it when idle."""
    name, running, now = d["name"], ctx.running[d["name"]], time.monotonic()
    if changed := running.follow(d):
        await draining.restart(ctx, name, changed)
        return
    if running.ready_since is None or d["state"] != S.READY:
        running.ready_since = running.ready_since or now
        running.ready_wall = running.ready_wall or time.time()
        reason = f"{len(running.supervisors)} replica(s) ready"
        await ctx.set(name, S.READY, reason, wake=False)
    await _warm_or_unload(ctx, d, running, now)


async def _warm_or_unload(ctx: Context, d: Row, running: Running, now: float) -> None:
    name = d["name"]
    if running.always_warm:
        warmed = d["warmed_at"]
        due = warmed is None or time.time() - warmed.timestamp() >= ctx.warmup_seconds
        if due and name not in ctx.warming:
            # Marked first and sent beside the tick: a slow answer delays no other work.
            await sync_to_async(store.mark_warmed)(name)
            ctx.warming[name] = asyncio.create_task(_warm(ctx, name))
        return
    if not d["idle_timeout_s"]:
        return
    last = await ctx.last_used(name, d["idle_timeout_s"])
    idle_for = min(now - (running.ready_since or now), time.time() - last if last else float("inf"))
    if idle_for >= d["idle_timeout_s"]:
        reason = f"idle for {d['idle_timeout_s']} s: unloaded; the next request starts it again"
        await draining.stop(ctx, name, S.STOPPED, reason, drain=True)


async def _warm(ctx: Context, name: str) -> None:
    try:
        status = await ctx.warm(name)
        logger.info("warm-up request to %s answered %s", name, status)
    except Exception:
        logger.exception("warm-up request to %s failed", name)
    finally:
        ctx.warming.pop(name, None)
