"""Which state's handler the reconciler hands a deployment to, from its row and what runs here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from asgiref.sync import sync_to_async

from chungus.fleet.launchers.base import LaunchSpec
from chungus.fleet.launchers.local import LocalLauncher
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.lifecycle.handlers import pending
from chungus.fleet.lifecycle.handlers.context import RESTART_ON, Context, Running
from chungus.fleet.lifecycle.reconciler import HANDLERS, Reconciler, phase
from chungus.fleet.lifecycle.supervisor import Supervisor
from chungus.fleet.models import Deployment
from chungus.fleet.states import DeploymentState as S
from chungus.fleet.states import ReplicaState as R


async def on_ready(address: str) -> None:
    return None


def running(*replicas: R) -> Running:
    """A deployment running here whose replicas are in these states (never launched)."""
    supervisors = []
    for state in replicas:
        spec = LaunchSpec("x", ("true",), 1)
        supervisor = Supervisor(LocalLauncher(Path("logs")), spec, on_ready)
        supervisor.status.state = state
        if state is R.READY:
            supervisor.ready.set()
        supervisors.append(supervisor)
    return Running(supervisors, [], priority=0, always_warm=False)


def row(state: S, desired: str = "running") -> dict[str, object]:
    return {"name": "small", "state": state, "desired": desired}


@pytest.mark.parametrize(
    ("state", "desired", "replicas", "draining_here", "handler"),
    [
        # A drain under way here ends on its own, whatever the row or the operator says.
        (S.DRAINING, "stopped", (R.READY,), True, S.DRAINING),
        # The operator's stop comes first.
        (S.READY, "stopped", (R.READY,), False, S.STOPPED),
        (S.FAILED, "stopped", None, False, S.STOPPED),
        # Running here: its replicas say where it is.
        (S.STARTING, "running", (R.READY, R.READY), False, S.READY),
        (S.PENDING, "running", (R.READY, R.PLACING), False, S.PLACING),
        (S.READY, "running", (R.READY, R.STARTING), False, S.STARTING),
        (S.READY, "running", (R.PLACING, R.RESTARTING), False, S.STARTING),
        # ...unless another process stopped or failed it meanwhile.
        (S.STOPPED, "running", (R.READY,), False, S.STOPPED),
        (S.FAILED, "running", (R.READY,), False, S.FAILED),
        # Nothing of it runs here: live rows were left by a process that ended.
        (S.PENDING, "running", None, False, S.PENDING),
        (S.PLACING, "running", None, False, S.PENDING),
        (S.READY, "running", None, False, S.PENDING),
        (S.DRAINING, "running", None, False, S.PENDING),
        (S.STOPPED, "running", None, False, S.STOPPED),
        (S.FAILED, "running", None, False, S.FAILED),
    ],
)
def test_a_deployment_goes_to_the_handler_of_the_state_it_is_in(
    state, desired, replicas, draining_here, handler
):
    here = running(*replicas) if replicas is not None else None
    assert phase(row(state, desired), here, draining_here) is handler


def test_every_deployment_state_has_a_handler():
    assert set(HANDLERS) == set(S)


async def nothing() -> None:
    return None


async def warm(name: str) -> int:
    return 200


@pytest.mark.django_db(transaction=True)
async def test_a_refused_move_is_logged_and_the_other_deployments_are_still_reconciled(caplog):
    # Another process drains "busy" while this one still runs it, all replicas ready.
    create = sync_to_async(Deployment.objects.create)
    await create(name="busy", source="packaged", state=S.DRAINING, state_reason="draining")
    await create(name="next", source="packaged", state=S.PENDING)
    [row] = [d for d in await sync_to_async(store.deployments)() if d["name"] == "busy"]
    reconciler = Reconciler({}, Path("."), list, nothing, warm)
    here = running(R.READY)
    here.settings = tuple(row[f] for f in RESTART_ON)
    reconciler.ctx.running["busy"] = here
    started: list[str] = []

    async def record(ctx: Context, d: dict[str, Any]) -> None:
        started.append(d["name"])

    with patch.object(pending, "handle", record), caplog.at_level(logging.WARNING):
        await reconciler.tick()
    assert "deployment 'busy' cannot go from draining to ready" in caplog.text
    assert started == ["next"]
    busy = await sync_to_async(Deployment.objects.get)(name="busy")
    assert (busy.state, busy.state_reason) == (S.DRAINING, "draining")
