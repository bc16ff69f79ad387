"""Stopped and failed deployments: what the stopped handler does with each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from chungus.fleet.lifecycle.drain import DrainPolicy
from chungus.fleet.lifecycle.handlers import stopped
from chungus.fleet.lifecycle.handlers.context import Context, Running
from chungus.fleet.models import Deployment
from chungus.fleet.states import DeploymentState as S


async def nothing() -> None:
    return None


async def warm(name: str) -> int:
    return 200


def context() -> Context:
    return Context(
        {}, Path("."), list, nothing, warm, lambda ids: 0, DrainPolicy(), lambda: 1024, {}
    )


@pytest.mark.django_db(transaction=True)
async def test_a_deployment_another_process_stopped_is_ended_here_and_its_row_kept():
    reason = "idle for 60 s: unloaded; the next request starts it again (drained in 1.0 s)"
    await sync_to_async(Deployment.objects.create)(
        name="small", source="packaged", state=S.STOPPED, state_reason=reason
    )
    [d] = await sync_to_async(lambda: list(Deployment.objects.values()))()
    ctx = context()
    engine = asyncio.create_task(asyncio.sleep(3600))
    ctx.running["small"] = Running([], [engine], priority=0, always_warm=False)
    await stopped.handle(ctx, dict(d))
    assert ctx.running == {} and engine.cancelled()
    after = await sync_to_async(Deployment.objects.get)(name="small")
    assert (after.state, after.state_reason) == (S.STOPPED, reason)
