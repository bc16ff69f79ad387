"""The control plane never holds the event loop that serves /v1: with the reconciler, its
lease, the health monitor and configuration reloads running on one loop while a Slurm
launch is placed, started and health-checked, the loop-lag probe's p99 stays under 50 ms."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from chungus.accounts.keyinfo import key_infos
from chungus.engines import registry
from chungus.engines.tests.fake.engine import FakeEngine
from chungus.fleet.backends import record_health, routing_table
from chungus.fleet.launchers.local import LocalLauncher
from chungus.fleet.launchers.slurm import SlurmLauncher, SlurmOptions
from chungus.fleet.lifecycle.reconciler import Reconciler
from chungus.fleet.models import Deployment
from chungus.gateway.routing.admission import Admission
from chungus.gateway.routing.health import HealthMonitor
from chungus.gateway.snapshot import SnapshotStore
from chungus.lib.looplag import LoopLag
from chungus.lib.supervise import Loop, Loops
from chungus.runtime.control_plane import placement_nodes

LAG_P99_MS = 50.0


async def warm(name: str) -> int:
    return 200


async def state_of(name: str) -> str:
    return await sync_to_async(lambda: Deployment.objects.get(name=name).state)()


@pytest.mark.django_db(transaction=True)
async def test_no_control_loop_blocks_the_event_loop_while_a_slurm_launch_runs(
    tmp_path, slurm, settings
):
    settings.CHUNGUS_HOME = tmp_path
    logs = tmp_path / "logs"
    launchers = {
        "local": LocalLauncher(logs),
        "slurm": SlurmLauncher(logs, SlurmOptions(env=slurm.env)),
    }
    with registry.registered(FakeEngine()):
        store = SnapshotStore(key_infos, routing_table)
        admission = Admission()
        health = HealthMonitor(
            store, admission, registry.by_name(), interval=0.2,
            on_change=sync_to_async(record_health, thread_sensitive=False),
        )  # fmt: skip
        reconciler = Reconciler(
            launchers, tmp_path, placement_nodes, store.reload, warm, interval=0.2,
            lease_seconds=3, in_flight=admission.in_flight_on,
        )  # fmt: skip
        await sync_to_async(Deployment.objects.create)(
            name="lagged", source="fake", engine="fake", launcher="slurm"
        )
        await store.reload()
        probe = LoopLag(interval=0.01, window=100_000)  # the whole run, finely
        loops = Loops()
        loops.start([
            Loop("lag", probe.run),
            Loop("reconciler", reconciler.run),
            Loop("lease", reconciler.hold_lease),
            Loop("health", health.run),
            Loop("configuration", lambda: store.follow(0.2)),
        ])  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while await state_of("lagged") != "ready":
                assert time.monotonic() < deadline, "the Slurm deployment never became ready"
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # and health checks of it, reloads, ticks while it runs
            samples = len(probe.samples)
            assert samples > 100
            assert probe.p99_ms() < LAG_P99_MS, f"loop lag {probe.report()}"
            assert all(s["state"] == "ok" for s in loops.report().values()), loops.report()
        finally:
            await loops.stop()  # the reconciler stops what it started: the Slurm job ends
