"""Recording backend health where `chungus models list` and the status page can read it."""

from __future__ import annotations

from django.utils import timezone

from chungus.fleet.models import Backend
from chungus.fleet.states import BackendHealth


def record_health(backend_id: int, state: str, reason: str) -> None:
    """Store a backend's health (a BackendHealth value) if its table allows the change;
    `update` skips the signals, so snapshots do not reload."""
    Backend.objects.filter(pk=backend_id).move_state(
        "health",
        BackendHealth,
        state,
        str(backend_id),
        health_reason=reason[:300],
        health_checked_at=timezone.now(),
    )
