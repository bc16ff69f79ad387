"""The keeper and the job scheduler with real processes (the runner and the fah-client
STAND-IN, chungus/testing/fah_standin.py) on a declared GPU: a client folds on the idle
GPU, a batch job takes the GPU back within seconds, the client folds again once it is
idle, disabling ends it, and its passkey never shows."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from chungus.fleet.fah.keeper import OWNER
from chungus.fleet.fah.models import FahSetting
from chungus.fleet.jobs.models import GpuHold, Job
from chungus.fleet.jobs.submit import Submission, submit
from chungus.fleet.launchers.local import LocalLauncher
from chungus.fleet.lifecycle.jobs import scheduler
from chungus.fleet.lifecycle.reconciler import Reconciler
from chungus.scheduling.placement import Gpu, Node
from chungus.testing import fah_standin

pytestmark = pytest.mark.django_db(transaction=True)
HOST = socket.gethostname()
PASSKEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
BATCH = "import time\nfor i in range(int(__import__('sys').argv[1])): time.sleep(0.05)\n"


async def nothing() -> None:
    return None


async def warm(name: str) -> int:
    return 200


@pytest.fixture
async def ctx(tmp_path, settings, monkeypatch):
    settings.CHUNGUS_HOME = tmp_path
    settings.CHUNGUS_FAH_BINARY = str(fah_standin.install(tmp_path / "bin"))
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("FAH_PASSKEY", PASSKEY)
    nodes = [Node(HOST, (Gpu(0, 1000),))]
    reconciler = Reconciler(
        {"local": LocalLauncher(tmp_path / "logs")}, tmp_path, lambda: nodes, nothing, warm,
        local_node=HOST,
    )  # fmt: skip
    yield reconciler.ctx
    await scheduler.let_go(reconciler.ctx, "the test ended")


def enable(enabled: bool = True, passkey_env: str = "FAH_PASSKEY") -> None:
    FahSetting.objects.update_or_create(
        pk=1, defaults={"enabled": enabled, "user": "ada", "team": 7, "passkey_env": passkey_env}
    )


async def clients() -> list[Job]:
    return await sync_to_async(
        lambda: list(Job.objects.filter(kind="fah").select_related("owner").order_by("id"))
    )()


async def until(ctx, check, seconds=20.0):
    """Tick the scheduler until `check()` (a coroutine function) answers something true."""
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        assert time.monotonic() < deadline, [(j.pk, j.state, j.reason) for j in await clients()]
        await scheduler.tick(ctx, [])
        await asyncio.sleep(0.05)
    return found


def standin(job: Job, home: Path) -> dict | None:
    """What the stand-in of this job wrote of itself, once it folds (the runner set it up)."""
    workdir = home / "jobs" / str(job.pk)
    progress = workdir / "progress.json"
    if not progress.exists() or json.loads(progress.read_text()).get("phase") != "folding":
        return None
    return json.loads((workdir / fah_standin.STATE_FILE).read_text())


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def folding(ctx, home: Path, *, attempt: int) -> tuple[Job, dict]:
    async def check():
        found = [j for j in await clients() if j.state == "running" and j.attempts == attempt]
        said = standin(found[0], home) if found else None
        return (found[0], said) if said and alive(said["pid"]) else None

    return await until(ctx, check)


async def test_it_folds_on_the_idle_gpu_yields_it_to_a_batch_job_and_folds_again(
    ctx, tmp_path, caplog
):
    caplog.set_level("DEBUG")
    await sync_to_async(enable)()
    client, said = await folding(ctx, tmp_path, attempt=1)
    assert (client.tier, client.gpus, client.gpu_indices, client.owner.username) == (
        "background",
        1,
        [0],
        OWNER,
    )
    assert (said["cuda_visible_devices"], said["user"], said["team"]) == ("0", "ada", "7")
    workdir = tmp_path / "jobs" / str(client.pk)
    assert not (workdir / "config.xml").exists()  # read, then removed: the passkey left the disk
    commands = [json.loads(line) for line in (workdir / fah_standin.COMMANDS_FILE).open()]
    assert commands[0]["config"]["groups"]["chungus-gpu-0"]["gpus"] == {
        "gpu:01:00:00": {"enabled": True}
    }
    assert commands[1] == {**commands[1], "cmd": "state", "state": "fold", "group": "chungus-gpu-0"}

    owner = await sync_to_async(get_user_model().objects.create_superuser)("bo", "", "pw")
    script = tmp_path / "batch.py"
    script.write_text(BATCH)
    ask = Submission("command", {"argv": [sys.executable, str(script), "20"]}, gpus=1)
    batch = await sync_to_async(submit)(owner, ask, 1)
    asked = time.monotonic()
    await scheduler.tick(ctx, [])  # the tick that sees the batch job preempts the client
    while alive(said["pid"]) or alive(said["core_pid"]):
        assert time.monotonic() - asked < 5, "the client still runs 5 s after the batch job came"
        await asyncio.sleep(0.02)
    stopped = time.monotonic() - asked
    print(f"\nFolding@Home stand-in stopped {stopped:.2f} s after the batch job was queued")

    async def batch_done():
        row = await sync_to_async(Job.objects.get)(pk=batch.pk)
        return row if row.state == "succeeded" else None

    done = await until(ctx, batch_done)
    assert done.gpu_indices == [0]
    preempted = await sync_to_async(Job.objects.get)(pk=client.pk)
    [event] = [e for e in preempted.events if e["event"] == "preempted"]
    assert event["by"] == f"job {batch.pk}" and event["exit_code"] == 75, event
    again, said_again = await folding(ctx, tmp_path, attempt=2)
    assert again.pk == client.pk and said_again["pid"] != said["pid"]
    assert again.preemptions == 1

    await sync_to_async(enable)(False)

    async def cancelled():
        return [j for j in await clients() if j.state == "cancelled"]

    [ended] = await until(ctx, cancelled)
    assert ended.reason.startswith("cancelled by chungus fah after"), ended.reason
    assert not alive(said_again["pid"]) and not alive(said_again["core_pid"])
    assert await sync_to_async(GpuHold.objects.filter(ended=None).count)() == 0
    assert PASSKEY not in caplog.text
    rows = await sync_to_async(lambda: list(Job.objects.values()))()
    assert PASSKEY not in json.dumps(rows, default=str)
    for name in ("log.txt", "job.log", "spec.json", "progress.json"):
        assert PASSKEY not in (workdir / name).read_text(), name


async def test_the_command_lines_and_environments_never_hold_the_passkey(ctx, tmp_path):
    await sync_to_async(enable)()
    _, said = await folding(ctx, tmp_path, attempt=1)
    standin_process = psutil.Process(said["pid"])
    runner = standin_process.parent()
    for process in (standin_process, runner):
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert "config.xml" in cmdline and PASSKEY not in cmdline, cmdline
        assert PASSKEY not in json.dumps(process.environ())
    assert "fah_standin" in " ".join(standin_process.cmdline())
    assert "chungus.fleet.fah.runner" in " ".join(runner.cmdline())


async def test_a_client_whose_passkey_is_missing_fails_and_is_not_retried_at_once(
    ctx, tmp_path, monkeypatch
):
    monkeypatch.delenv("FAH_PASSKEY")
    await sync_to_async(enable)()

    async def failed():
        return [j for j in await clients() if j.state == "failed"]

    [client] = await until(ctx, failed)
    assert "$FAH_PASSKEY (the Folding@Home passkey) is not set" in client.reason
    for _ in range(3):
        await scheduler.tick(ctx, [])
    assert [j.state for j in await clients()] == ["failed"]  # waits BACKOFF_SECONDS
