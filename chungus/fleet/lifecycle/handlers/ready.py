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
from chungus.lib.supervise import backoff_delay

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
        warmed, retry = d["warmed_at"], ctx.warm_retry.get(name)
        due = warmed is None or time.time() - warmed.timestamp() >= ctx.warmup_seconds
        due = due or (retry is not None and now >= retry[1])
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
    ok = False
    try:
        status = await ctx.warm(name)
        ok = status < 500
        logger.info("warm-up request to %s answered %s", name, status)
    except Exception:
        logger.exception("warm-up request to %s failed", name)
    finally:
        ctx.warming.pop(name, None)
        _after_warm(ctx, name, ok)


def _after_warm(ctx: Context, name: str, ok: bool) -> None:
    """A failed warm-up is tried again after 5, 10, 20 … s (at most warmup_seconds), not
    only a whole warmup_seconds later: the model may be cold exactly when it is asked for."""
    if ok:
        ctx.warm_retry.pop(name, None)
        return
    failures = ctx.warm_retry.get(name, (0, 0.0))[0] + 1
    delay = backoff_delay(failures, base=5.0, cap=ctx.warmup_seconds)
    ctx.warm_retry[name] = (failures, time.monotonic() + delay)
    logger.warning("warm-up of %s failed %d time(s) in a row; trying again in %.0f s",
                   name, failures, delay)  # fmt: skip
