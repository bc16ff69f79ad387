"""Ready deployments: idle detection asks this process's admission before the database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chungus.core.routes import BackendInfo
from chungus.fleet.lifecycle.drain import DrainPolicy
from chungus.fleet.lifecycle.handlers.context import Context
from chungus.gateway.routing.admission import Admission


async def nothing() -> None:
    return None


async def warm(name: str) -> int:
    return 200


def context(last_request) -> Context:
    return Context(
        {}, Path("."), list, nothing, warm, lambda ids: 0, DrainPolicy(), lambda: 1024, {},
        last_request=last_request,
    )  # fmt: skip


async def test_a_model_this_process_served_lately_is_not_idle_without_a_database_read():
    # No django_db mark: any database query here would fail the test.
    admission = Admission()
    before = time.time()
    admission.release("busy", BackendInfo(1, "http://127.0.0.1:9/v1"))  # a request ended
    ctx = context(admission.last_request.get)
    last = await ctx.last_used("busy", within=60)
    assert last is not None and last >= before


@pytest.mark.django_db(transaction=True)
async def test_past_its_timeout_here_the_rollups_say_whether_another_process_served_it():
    from datetime import UTC, datetime

    from asgiref.sync import sync_to_async

    from chungus.telemetry.models import RequestRollup

    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    await sync_to_async(RequestRollup.objects.create)(period=60, start=minute, model="shared")
    ctx = context({"shared": time.time() - 600}.get)
    assert await ctx.last_used("shared", within=60) == minute.timestamp()
    assert await context(lambda name: None).last_used("unused", within=60) is None


async def test_a_failed_warm_up_is_tried_again_soon_with_backoff_and_forgotten_once_it_works():
    from chungus.fleet.lifecycle.handlers import ready

    answers = [503, 200]

    async def flaky(name: str) -> int:
        return answers.pop(0)

    ctx = Context(
        {}, Path("."), list, nothing, flaky, lambda ids: 0, DrainPolicy(), lambda: 1024, {},
        warmup_seconds=180,
    )  # fmt: skip
    before = time.monotonic()
    await ready._warm(ctx, "cold")
    failures, when = ctx.warm_retry["cold"]
    assert failures == 1 and before + 4 <= when <= time.monotonic() + 5, "in 5 s, not 180"
    await ready._warm(ctx, "cold")
    assert "cold" not in ctx.warm_retry and not ctx.warming
