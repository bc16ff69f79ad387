"""Database reads and writes for the reconciler (run off the event loop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chungus.engines import registry
from chungus.engines.base import Engine
from chungus.fleet.backends import register_managed_backend
from chungus.fleet.lifecycle.lease import release
from chungus.fleet.models import Backend, Deployment
from chungus.fleet.states import DeploymentState
from chungus.lib.dbthreads import refresh_connections
from chungus.telemetry.models import RequestRollup

FIELDS = (
    "id", "name", "source", "engine", "launcher", "replicas", "gpus_per_replica", "tensor_parallel",
    "pipeline_parallel", "context_length", "memory_mb", "priority", "always_warm",
    "idle_timeout_s", "desired", "state", "state_reason", "wake_requested_at", "warmed_at",
    "replica_handles",
)  # fmt: skip


def deployments() -> list[dict[str, Any]]:
    """Every deployment; read first in each tick, so it refreshes the thread's connection."""
    refresh_connections()
    return list(Deployment.objects.values(*FIELDS))


def set_state(name: str, state: DeploymentState, reason: str, keep_wake: bool = True) -> None:
    """Move a deployment to `state` if the state it is in allows it (IllegalTransition if not);
    one that no longer exists is left alone."""
    changes: dict[str, Any] = {"state_reason": reason, "updated_at": timezone.now()}
    if not keep_wake:
        changes["wake_requested_at"] = None
    rows = Deployment.objects.filter(name=name)
    rows.move_state("state", DeploymentState, state, name, **changes)


def request_wake(name: str) -> None:
    """A request arrived for a stopped deployment: ask the reconciler to start it."""
    Deployment.objects.filter(name=name, wake_requested_at=None).update(
        wake_requested_at=timezone.now()
    )


def mark_warmed(name: str) -> None:
    Deployment.objects.filter(name=name).update(warmed_at=timezone.now())


def last_used(name: str) -> float | None:
    """When the model last had traffic through any process, to the minute: the start of
    its latest minute rollup (small and indexed, unlike the raw request log)."""
    row = (
        RequestRollup.objects.filter(period=60, model=name)
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    return row.timestamp() if isinstance(row, datetime) else None


def register_replica(
    name: str, engine: str, replica: int, launcher: str, address: str, api_key: str = ""
) -> None:
    found = registry.get(engine)
    url = found.backend_url(address) if found is not None else f"{address}/v1"
    register_managed_backend(
        name,
        url,
        engine,
        f"deployment:{launcher}:{replica}",
        upstream_model=name,
        chat_format=_chat_format(found, name) if found is not None else "",
        api_key=api_key,
    )


def _chat_format(engine: Engine, name: str) -> str:
    """The turn format the deployment's engine was started with ('': the engine's business)."""
    source = Deployment.objects.filter(name=name).values_list("source", flat=True).first()
    chosen = engine.turn_format(source or "", settings.CHUNGUS_HOME)
    return chosen.name if chosen is not None else ""


def remove_replicas(name: str) -> list[tuple[int, str]]:
    """Take the deployment's replicas out of routing (and forget their engines, which have
    ended); return their (backend id, URL)."""
    replicas = Backend.objects.filter(model__name=name, managed_by__startswith="deployment:")
    removed = list(replicas.values_list("id", "url"))
    replicas.delete()
    Deployment.objects.filter(name=name).update(replica_handles={})
    return removed


def save_handle(name: str, replica: int, reference: dict[str, Any]) -> None:
    """Record where a replica's engine runs, for the next reconciling process to adopt it."""
    with transaction.atomic():
        row = Deployment.objects.select_for_update().filter(name=name).first()
        if row is not None:
            row.replica_handles = {**row.replica_handles, str(replica): reference}
            row.save(update_fields=["replica_handles"])


def release_lease(name: str, holder: str) -> None:
    release(name, holder)
