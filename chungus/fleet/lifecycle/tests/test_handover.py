"""Leadership without collateral damage: the lease is renewed beside the tick, a process
that loses it leaves its engines running, and the next leader adopts them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psutil
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chungus.engines.base import LaunchSpec
from chungus.fleet.launchers.local import AdoptedHandle, LocalLauncher, free_port, healthy
from chungus.fleet.lifecycle.handlers.context import Running
from chungus.fleet.lifecycle.lease import try_acquire
from chungus.fleet.lifecycle.reconciler import LEASE, Reconciler
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.fleet.models import Lease
from chungus.testing.processes import ChungusProcess, chungus_instance


async def nothing() -> None:
    return None


async def warm(name: str) -> int:
    return 200


def engine_spec() -> LaunchSpec:
    """A real process answering HTTP on loopback: an engine as far as launchers can tell."""
    port = free_port()
    command = (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    return LaunchSpec("handover-0", command, port, health_path="/")


async def started(supervisor: Supervisor) -> asyncio.Task[None]:
    task = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(supervisor.ready.wait(), 30)
    return task


@pytest.mark.django_db(transaction=True)
async def test_a_slow_tick_does_not_lose_the_lease(tmp_path):
    reconciler = Reconciler({}, tmp_path, list, nothing, warm, lease_seconds=1.5)
    holding = asyncio.create_task(reconciler.hold_lease())
    try:
        await asyncio.sleep(0.5)
        assert reconciler.lease_until > 0
        # A tick that takes three lease lengths (a slow launch, a slow database) meanwhile:
        await asyncio.sleep(4.5)
        assert not await sync_to_async(try_acquire)(LEASE, "another process", 30)
    finally:
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)


@pytest.mark.django_db(transaction=True)
async def test_a_process_that_loses_the_lease_leaves_its_engines_running(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    reconciler = Reconciler({"local": launcher}, tmp_path, list, nothing, warm)
    await reconciler.tick()
    assert reconciler.leader
    supervisor = Supervisor(launcher, engine_spec(), lambda address: nothing())
    task = await started(supervisor)
    pid = supervisor._handle.process.pid
    reconciler.ctx.running["handover"] = Running([supervisor], [task], 0, False, launcher="local")
    try:
        # Another process took the lease (this one's renewals were late, say).
        await sync_to_async(Lease.objects.filter(name=LEASE).update)(
            holder="another process", expires_at=timezone.now() + timedelta(seconds=60)
        )
        await reconciler.renew()
        await reconciler.tick()
        assert not reconciler.leader and not reconciler.ctx.running
        assert task.done()
        assert psutil.Process(pid).is_running(), "the engine was stopped"
        assert await healthy(f"http://127.0.0.1:{supervisor.spec.port}/")
    finally:
        psutil.Process(pid).kill()


async def test_a_supervisor_adopts_a_running_engine_instead_of_starting_another(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    first = Supervisor(launcher, engine_spec(), lambda address: nothing())
    task = await started(first)
    reference = launcher.reference(first._handle)
    pid = first._handle.process.pid
    first.detach()  # the process that ran it lets go (it lost the lease)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    addresses = []

    async def on_ready(address: str) -> None:
        addresses.append(address)

    second = Supervisor(launcher, first.spec, on_ready, adopt=reference)
    adopting = await started(second)
    try:
        assert second.adopted and isinstance(second._handle, AdoptedHandle)
        assert second._handle.process.pid == pid, "a second engine was started"
        assert addresses == [f"http://127.0.0.1:{first.spec.port}"]
    finally:
        adopting.cancel()  # it ends the adopted engine, as it would its own
        await asyncio.gather(adopting, return_exceptions=True)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_an_engine_that_is_gone_is_launched_again(tmp_path):
    launcher = LocalLauncher(tmp_path / "logs")
    gone = {"pid": 999_999_999, "started": 0.0, "host": "elsewhere"}
    supervisor = Supervisor(launcher, engine_spec(), lambda address: nothing(), adopt=gone)
    task = await started(supervisor)
    try:
        assert not supervisor.adopted
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def lease_holder(url: str) -> str:
    with psycopg.connect(url) as db:
        row = db.execute("select holder from fleet_lease where name = 'reconciler'").fetchone()
    return str(row[0]) if row else ""


def wait_ready(url: str, name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with psycopg.connect(url) as db:
            query = "select state, state_reason from fleet_deployment where name = %s"
            row = db.execute(query, (name,)).fetchone()
        if row is not None and row[0] == "ready":
            return
        assert time.monotonic() < deadline, f"{name} never ready: {row}"
        time.sleep(0.2)


def slurm_jobs(env: dict[str, str]) -> list[str]:
    queue = subprocess.run(
        ["squeue", "-h", "-o", "%i"], env={**os.environ, **env}, capture_output=True, text=True
    )
    return queue.stdout.split()


def listening_pid(port: int) -> int | None:
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
            return connection.pid
    return None


def engine_port(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute(
            "select b.url from fleet_backend b join fleet_model m on m.id = b.model_id"
            " where m.name = 'kept'"
        ).fetchone()
    assert row is not None, "the deployment has no backend"
    return int(str(row[0]).rsplit(":", 1)[1].split("/")[0])


@contextlib.contextmanager
def a_leader_and_a_follower(
    tmp_path: Path, url: str, launcher: str, **env: str
) -> Iterator[tuple[ChungusProcess, ChungusProcess, str]]:
    """Two CHUNGUS processes on one database: the first leads and runs deployment `kept`
    on `launcher`, ready; yields both and a key."""
    env = {"DATABASE_URL": url, "CHUNGUS_LEASE_SECONDS": "3",
           "CHUNGUS_RECONCILE_SECONDS": "0.3", **env}  # fmt: skip
    first, second = chungus_instance(tmp_path / "a", **env), chungus_instance(tmp_path / "b", **env)
    first.cli("deploy", "kept", "--source", "packaged", "--launcher", launcher, "--gpus", "1")
    key = first.create_key("k")
    try:
        first.start("--no-default-model")
        wait_ready(url, "kept", 120)
        second.start("--no-default-model")
        assert first.process is not None and second.process is not None
        assert lease_holder(url).endswith(f":{first.process.pid}")
        yield first, second, key
    finally:
        first.stop()
        second.stop()


def kill_the_leader_and_see_its_engine_kept(
    first: ChungusProcess, second: ChungusProcess, key: str, url: str
) -> None:
    """The engine listening before the kill is the one listening after, on the same port,
    and no request failed meanwhile."""
    port = engine_port(url)
    engine = listening_pid(port)
    statuses = kill_the_leader_under_traffic(first, second, key, url)
    assert engine is not None and listening_pid(port) == engine, "the engine restarted"
    assert engine_port(url) == port
    assert statuses and set(statuses) == {200}, statuses


def test_the_next_leader_adopts_the_engines_of_a_killed_one(tmp_path, postgres_url, slurm):
    with a_leader_and_a_follower(tmp_path, postgres_url, "slurm", **slurm.env) as running:
        [job] = slurm_jobs(slurm.env)
        kill_the_leader_and_see_its_engine_kept(*running, postgres_url)
        assert slurm_jobs(slurm.env) == [job], "the engine's Slurm job was replaced"


def test_the_next_leader_adopts_the_ray_engine_of_a_killed_one(tmp_path, postgres_url, ray_cluster):
    ray_env = {"CHUNGUS_RAY_ADDRESS": "auto", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    with a_leader_and_a_follower(tmp_path, postgres_url, "ray", **ray_env) as running:
        actor = ray_cluster.get_actor("chungus-kept-0", namespace="chungus")
        kill_the_leader_and_see_its_engine_kept(*running, postgres_url)
        still = ray_cluster.get_actor("chungus-kept-0", namespace="chungus")
        assert still._actor_id == actor._actor_id, "the engine's Ray actor was replaced"
    names = {a["name"] for a in ray_cluster.util.list_named_actors(all_namespaces=True)}
    assert "chungus-kept-0" not in names, "a CHUNGUS that stops cleanly ends its engines"


def kill_the_leader_under_traffic(
    first: ChungusProcess, second: ChungusProcess, key: str, url: str
) -> list[int]:
    """SIGKILL the leader while requests go through the other process; return their
    statuses once the other has taken the lease and adopted the deployment's engine."""
    assert first.process is not None and second.process is not None
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            statuses.append(second.chat(key, "kept", timeout=60).status_code)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        time.sleep(1)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        deadline = time.monotonic() + 30
        while not lease_holder(url).endswith(f":{second.process.pid}"):
            assert time.monotonic() < deadline, "the lease was not taken over"
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while "adopted the engine" not in second.log.read_text():
            assert time.monotonic() < deadline, "the new leader did not adopt the engine"
            time.sleep(0.2)
        wait_ready(url, "kept", 30)
        time.sleep(2)
    finally:
        stop.set()
        sender.join()
    return statuses
