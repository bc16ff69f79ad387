"""The job scheduler's ticks with real processes (command jobs) on the local launcher and
a declared GPU: placement, waiting reasons, preemption and resume, cancel, failure,
orphans, fair share and the per-user GPU limit."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from chungus.fleet.jobs.models import GpuHold, Job
from chungus.fleet.jobs.submit import Submission, cancel, submit
from chungus.fleet.launchers.local import LocalLauncher
from chungus.fleet.lifecycle.jobs import ending, rows, scheduler
from chungus.fleet.lifecycle.jobs.follow import ORPHANED
from chungus.fleet.lifecycle.reconciler import Reconciler
from chungus.scheduling.placement import Gpu, Node

pytestmark = pytest.mark.django_db(transaction=True)
HOST = socket.gethostname()

# A job that works until SIGTERM, then saves and exits 75; "fail" exits 3 with a message.
SCRIPT = """
import json, signal, sys, time
def stop(*_):
    open("saved", "a").write("x")
    sys.exit(75)
signal.signal(signal.SIGTERM, stop)
if sys.argv[1] == "fail":
    json.dump({"message": "the input made no sense"}, open("error.json", "w"))
    sys.exit(3)
steps = int(sys.argv[2])
for i in range(steps):
    json.dump({"fraction": i / steps, "summary": f"{i} done"}, open("progress.json", "w"))
    time.sleep(0.05)
"""


async def nothing() -> None:
    return None


async def warm(name: str) -> int:
    return 200


@pytest.fixture
async def ctx(tmp_path, settings):
    settings.CHUNGUS_HOME = tmp_path
    nodes = [Node(HOST, (Gpu(0, 1000),))]
    reconciler = Reconciler(
        {"local": LocalLauncher(tmp_path / "logs")}, tmp_path, lambda: nodes, nothing, warm,
        local_node=HOST,
    )  # fmt: skip
    yield reconciler.ctx
    await scheduler.let_go(reconciler.ctx, "the test ended")


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "work.py"
    path.write_text(SCRIPT)
    return path


def user(name, superuser=True):
    model = get_user_model()
    return model.objects.create_user(name, is_superuser=superuser)


async def add(owner, script, *args, gpus=1, **options):
    ask = Submission(
        "command", {"argv": [sys.executable, str(script), *args]}, gpus=gpus, **options
    )
    return await sync_to_async(submit)(owner, ask, 1)


async def get(job) -> Job:
    return await sync_to_async(Job.objects.get)(pk=job.pk)


async def until(ctx, job, *states, seconds=20.0) -> Job:
    deadline = time.monotonic() + seconds
    while (row := await get(job)).state not in states:
        assert time.monotonic() < deadline, (row.state, row.reason)
        await scheduler.tick(ctx, [])
        await asyncio.sleep(0.05)
    return row


async def test_a_job_runs_on_the_free_gpu_and_the_next_one_waits_with_its_reason(ctx, script):
    owner = await sync_to_async(user)("ada")
    first = await add(owner, script, "work", "1000")
    second = await add(owner, script, "work", "1000")
    await scheduler.tick(ctx, [])
    row = await get(first)
    assert (row.state, row.gpu_indices, row.node, row.attempts) == ("running", [0], HOST, 1)
    assert row.reason == f"started on GPU 0 of {HOST} (attempt 1)"
    assert (await get(second)).reason.startswith("queued: waiting for a GPU: needs")
    open_holds = GpuHold.objects.filter(ended=None).values("name", "gpu")
    holds = await sync_to_async(lambda: list(open_holds))()
    assert holds == [{"name": str(first.pk), "gpu": 0}]
    await asyncio.sleep(0.3)
    await scheduler.tick(ctx, [])
    assert (await get(first)).progress_summary.endswith("done")


async def test_a_preempted_job_checkpoints_goes_back_to_the_queue_and_resumes(ctx, script):
    owner = await sync_to_async(user)("bo")
    job = await add(owner, script, "work", "1000")
    await scheduler.tick(ctx, [])
    await asyncio.sleep(0.3)  # its SIGTERM handler is set
    await ending.preempt(ctx, job.pk, "deployment big")
    assert (await get(job)).state == "preempting"
    await ctx.jobs[job.pk].stopping
    row = await get(job)
    assert row.state == "queued" and row.reason.startswith("preempted by deployment big: GPU freed")
    assert (row.preemptions, row.exit_code) == (1, 75) and row.gpu_seconds > 0
    [event] = [e for e in row.events if e["event"] == "preempted"]
    assert 0 < event["handover_seconds"] < 5 and event["by"] == "deployment big"
    assert (Path(ctx.home) / "jobs" / str(job.pk) / "saved").read_text() == "x"
    assert await sync_to_async(GpuHold.objects.filter(ended=None).count)() == 0
    row = await until(ctx, job, "running")
    assert row.attempts == 2 and row.reason.startswith("resumed on GPU 0")


async def test_cancelling_a_running_job_stops_it(ctx, script):
    owner = await sync_to_async(user)("cy")
    job = await add(owner, script, "work", "1000")
    await scheduler.tick(ctx, [])
    await asyncio.sleep(0.3)
    await sync_to_async(cancel)(owner, job.pk)
    row = await until(ctx, job, "cancelled")
    assert row.reason.startswith("cancelled by cy after")


async def test_a_failing_job_fails_with_its_own_message_and_a_finished_one_succeeds(ctx, script):
    owner = await sync_to_async(user)("di")
    bad = await add(owner, script, "fail", gpus=0)
    good = await add(owner, script, "work", "2", gpus=0)
    await scheduler.tick(ctx, [])
    assert (await until(ctx, bad, "failed")).reason == "the input made no sense"
    done = await until(ctx, good, "succeeded")
    assert done.exit_code == 0 and done.reason.startswith("finished after")


async def test_a_running_row_that_no_process_here_runs_is_queued_then_started(ctx, script):
    owner = await sync_to_async(user)("ed")
    job = await add(owner, script, "work", "1000")
    await sync_to_async(Job.objects.filter(pk=job.pk).update)(state="running", handle={})
    await scheduler.follow.handle(ctx, (await sync_to_async(rows.active)())[0])
    assert ((await get(job)).state, (await get(job)).reason) == ("queued", ORPHANED)
    await scheduler.tick(ctx, [])
    assert (await get(job)).state == "running"


async def test_a_user_at_the_gpu_limit_waits_while_another_users_job_runs(ctx, script, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_MAX_GPUS_PER_USER", "1")
    two = [Node(HOST, (Gpu(0, 1000), Gpu(1, 1000)))]
    ctx.nodes = lambda: two
    ada, bo = await sync_to_async(user)("fa"), await sync_to_async(user)("gb")
    hers = [await add(ada, script, "work", "1000", gpus=1, name=str(i)) for i in range(2)]
    his = await add(bo, script, "work", "1000", gpus=1)
    await scheduler.tick(ctx, [])
    states = [(await get(j)).state for j in (*hers, his)]
    assert states == ["running", "queued", "running"]
    assert (await get(hers[1])).reason == (
        "queued: its owner holds 1 GPU(s); the limit per user is 1"
    )


async def test_a_batch_job_preempts_a_background_job_which_resumes_after_it(ctx, script):
    owner = await sync_to_async(user)("hu")
    background = await add(owner, script, "work", "1000", tier="background")
    await scheduler.tick(ctx, [])
    assert (await get(background)).state == "running"
    await asyncio.sleep(0.3)  # its SIGTERM handler is set
    batch = await add(owner, script, "work", "4")
    await scheduler.tick(ctx, [])
    assert (await get(background)).state == "preempting"
    assert (await get(batch)).reason == (
        "queued: waiting for a background job to checkpoint and free its GPU"
    )
    row = await until(ctx, batch, "running")
    assert row.gpu_indices == [0]
    preempted = await get(background)
    assert preempted.state == "queued" and preempted.reason.startswith(
        f"preempted by job {batch.pk}: GPU freed in"
    )
    await until(ctx, batch, "succeeded")
    assert (await until(ctx, background, "running")).attempts == 2


async def test_background_jobs_do_not_preempt_each_other(ctx, script):
    owner = await sync_to_async(user)("iv")
    first = await add(owner, script, "work", "1000", tier="background")
    await scheduler.tick(ctx, [])
    second = await add(owner, script, "work", "1000", tier="background", priority=50)
    await scheduler.tick(ctx, [])
    assert (await get(first)).state == "running"
    assert (await get(second)).reason.startswith("queued: waiting for a GPU")


async def test_a_gpu_freed_for_a_waiting_deployment_is_not_given_to_a_queued_job(ctx, script):
    """The first of two preempted jobs frees its GPU while the second still checkpoints:
    the GPU stays the deployment's (else a queued job takes it, the deployment preempts
    again, and so on for ever: the livelock bench/sharing.py found)."""
    owner = await sync_to_async(user)("cy")
    queued = await add(owner, script, "work", "1000")
    big = {"name": "big", "state": "pending", "desired": "running", "launcher": "local",
           "gpus_per_replica": 2, "replicas": 1, "memory_mb": 900, "priority": 0}  # fmt: skip
    ctx.reserved["big"] = {0}  # pending.place preempted the job that held GPU 0 for it
    await scheduler.tick(ctx, [big])
    row = await get(queued)
    assert row.state == "queued" and "waiting for a GPU" in row.reason, row.reason
    assert ctx.reserved == {"big": {0}}
    await scheduler.tick(ctx, [{**big, "state": "starting"}])  # placed: the GPU is free again
    assert ctx.reserved == {}
    assert (await get(queued)).state == "running"
