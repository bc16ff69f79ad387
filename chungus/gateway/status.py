"""GET /api/fleet/status: models, backends, health, load and queue depth, live from this process."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from chungus.gateway.auth import authenticate
from chungus.gateway.routing.admission import Admission
from chungus.gateway.snapshot import Snapshot
from chungus.lib.openai_errors import ModelNotAllowed


def require_admin(snapshot: Snapshot, authorization: str | None) -> None:
    """Only admin keys of an active superuser may look at the fleet (KeyInfo.admin)."""
    key = authenticate(snapshot, authorization, time.time())
    if not key.admin:
        raise ModelNotAllowed(
            "Fleet status needs an admin API key of a superuser; an inference key is not one.",
            code="admin_only",
        )


def fleet_status(snapshot: Snapshot, admission: Admission) -> dict[str, Any]:
    """Return the fleet as this process sees it (for an operator: see require_admin)."""
    now = time.monotonic()
    models = []
    for model in snapshot.models.values():
        backends = []
        for backend in model.backends:
            breaker = admission.breaker(backend.id)
            load = admission.engine_load.get(backend.id)
            backends.append(
                {
                    "id": backend.id,
                    "url": backend.url,
                    "engine": backend.engine,
                    "health": breaker.state.value,
                    "reason": breaker.reason,
                    "retry_in_s": max(0.0, round(breaker.open_until - now, 1)),
                    "in_flight": admission.in_flight.get(backend.id, 0),
                    "max_concurrency": backend.max_concurrency,
                    "engine_load": asdict(load) if load is not None else None,
                }
            )
        models.append(
            {
                "name": model.name,
                "routing": model.routing,
                "queue_depth": admission.depth(model.name),
                "backends": backends,
            }
        )
    return {"object": "fleet.status", "models": models}
