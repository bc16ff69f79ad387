"""The reconciler's database writes: a deployment's state changes only as its table allows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.models import Deployment
from chungus.fleet.states import DeploymentState as S
from chungus.fleet.states import IllegalTransition

pytestmark = pytest.mark.django_db


def row(state: S, reason: str = "as it was") -> Deployment:
    return Deployment.objects.create(
        name="small", source="packaged", state=state, state_reason=reason,
        wake_requested_at=timezone.now(),
    )  # fmt: skip


def test_an_allowed_move_is_written_with_its_reason():
    row(S.STARTING)
    store.set_state("small", S.READY, "1 replica(s) ready", keep_wake=False)
    written = Deployment.objects.get(name="small")
    assert (written.state, written.state_reason) == (S.READY, "1 replica(s) ready")
    assert written.wake_requested_at is None


def test_a_refused_move_raises_and_leaves_the_row_as_it_was():
    before = row(S.STOPPED, "idle for 60 s: unloaded")
    refusal = "deployment 'small' cannot go from stopped to ready"
    with pytest.raises(IllegalTransition, match=refusal):
        store.set_state("small", S.READY, "1 replica(s) ready")
    after = Deployment.objects.get(name="small")
    assert (after.state, after.state_reason, after.updated_at) == (
        S.STOPPED, "idle for 60 s: unloaded", before.updated_at,
    )  # fmt: skip


def test_a_write_from_an_outdated_reading_cannot_slip_past():
    row(S.READY)
    seen = store.deployments()[0]["state"]  # one process reads it ready...
    store.set_state("small", S.STOPPED, "stopped by the operator")  # ...another stops it
    assert seen == S.READY
    with pytest.raises(IllegalTransition, match="from stopped to draining"):
        store.set_state("small", S.DRAINING, "stopped by the operator; draining")
    assert Deployment.objects.get(name="small").state == S.STOPPED


def test_the_check_is_part_of_the_update_itself():
    row(S.STARTING)
    with CaptureQueriesContext(connection) as queries:
        store.set_state("small", S.READY, "1 replica(s) ready")
    [update] = [q["sql"] for q in queries.captured_queries]
    assert update.startswith("UPDATE") and '"state" IN (' in update
    for allowed in ("'pending'", "'placing'", "'starting'", "'ready'"):
        assert allowed in update
    assert "'stopped'" not in update.split("WHERE")[1]


def test_a_deployment_that_no_longer_exists_is_left_alone():
    store.set_state("gone", S.STOPPED, "stopped by the operator")
    assert not Deployment.objects.exists()
