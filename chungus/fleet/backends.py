"""The routing table in the database: backends registered and removed, their health recorded,
and the whole table read for the gateway's snapshot."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from chungus.core.routes import BackendInfo, ModelInfo, RequestCaps
from chungus.engines.base import NO_CHAT
from chungus.fleet.models import Backend, Deployment, Model
from chungus.fleet.states import BackendHealth


def normalize_base_url(url: str) -> str:
    """Return an engine's OpenAI base URL; a bare host:port gets /v1 appended.

    Raises ValueError, with the message for the operator, for a URL CHUNGUS cannot use."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--url {url!r} must be an http:// or https:// URL")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ValueError(f"--url {url!r} has an invalid port") from None
    path = parts.path.rstrip("/") or "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def register_managed_backend(
    model_name: str,
    url: str,
    engine: str,
    launcher: str,
    upstream_model: str = "",
    max_concurrency: int = 64,
    chat_format: str = "",
    api_key: str = "",
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
                "api_key": api_key,
            },
        )
    return backend


def remove_managed_backends(model_name: str, launcher: str) -> int:
    """Drop a launcher's backends for a model (on clean shutdown)."""
    deleted, _ = Backend.objects.filter(model__name=model_name, managed_by=launcher).delete()
    return deleted


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


def routing_table() -> dict[str, ModelInfo]:
    """Every model with its backends, as the data plane routes by them (call off the hot path)."""
    backends: dict[int, list[BackendInfo]] = {}
    for b in Backend.objects.all():
        backends.setdefault(b.model_id, []).append(
            BackendInfo(
                id=b.id,
                url=b.url.rstrip("/"),
                engine=b.engine,
                upstream_model=b.upstream_model,
                max_concurrency=b.max_concurrency,
                chat=b.chat_format != NO_CHAT,
                api_key=b.api_key,
            )
        )
    running = Deployment.objects.filter(desired="running")
    deployed = dict(running.values_list("name", "context_length"))  # the engine's context
    return {
        m.name: ModelInfo(
            m.name,
            tuple(backends.get(m.id, ())),
            int(m.created_at.timestamp()),
            m.routing,
            m.name in deployed,
            RequestCaps(
                m.max_output_tokens,
                m.max_n,
                m.max_prompts,
                m.allow_engine_options,
                deployed.get(m.name, 0),
            ),
        )
        for m in Model.objects.all()
    }
