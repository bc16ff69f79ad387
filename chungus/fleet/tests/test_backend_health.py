"""Recording backend health: the values and moves the backend health table allows."""

from __future__ import annotations

import pytest

from chungus.fleet.backends import record_health
from chungus.fleet.models import Backend, Model
from chungus.fleet.states import BackendHealth, IllegalTransition, UnknownState

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend() -> Backend:
    model = Model.objects.create(name="gemma")
    return Backend.objects.create(model=model, url="http://127.0.0.1:9/v1")


def test_a_new_backend_is_unknown_until_checked_then_recorded_with_its_reason(backend):
    assert backend.health == BackendHealth.UNKNOWN
    record_health(backend.id, "unhealthy", "not reachable: refused")
    backend.refresh_from_db()
    assert (backend.health, backend.health_reason) == ("unhealthy", "not reachable: refused")
    assert backend.health_checked_at is not None
    record_health(backend.id, "healthy", "")
    backend.refresh_from_db()
    assert (backend.health, backend.health_reason) == ("healthy", "")


def test_a_checked_backend_is_never_recorded_unknown_again(backend):
    record_health(backend.id, "healthy", "")
    with pytest.raises(
        IllegalTransition, match=r"backend health '\d+' cannot go from healthy to unknown"
    ):
        record_health(backend.id, "unknown", "")
    with pytest.raises(UnknownState):  # the breaker's half-open state is not recorded
        record_health(backend.id, "probing", "")
    backend.refresh_from_db()
    assert backend.health == "healthy"


def test_a_backend_removed_meanwhile_is_left_alone(backend):
    Backend.objects.all().delete()
    record_health(backend.id, "healthy", "")
    assert not Backend.objects.exists()
