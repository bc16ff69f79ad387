"""Writing launched engines into the routing table (the database the snapshots follow)."""

from __future__ import annotations

from django.db import transaction

from chungus.fleet.models import Backend, Model


def register_managed_backend(
    model_name: str,
    url: str,
    engine: str,
    launcher: str,
    upstream_model: str = "",
    max_concurrency: int = 64,
    chat_format: str = "",
) -> Backend:
    """Point a model at a launched engine, replacing that launcher's stale addresses for it."""
    with transaction.atomic():
        model, _ = Model.objects.get_or_create(name=model_name)
        model.backends.filter(managed_by=launcher).exclude(url=url).delete()
        backend, _ = Backend.objects.update_or_create(
            model=model,
            url=url,
            defaults={
                "engine": engine,
                "managed_by": launcher,
                "upstream_model": upstream_model,
                "max_concurrency": max_concurrency,
                "chat_format": chat_format,
            },
        )
    return backend


def remove_managed_backends(model_name: str, launcher: str) -> int:
    """Drop a launcher's backends for a model (on clean shutdown)."""
    deleted, _ = Backend.objects.filter(model__name=model_name, managed_by=launcher).delete()
    return deleted
