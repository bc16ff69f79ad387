"""GET /v1/models and /v1/models/{id}: what the caller's key may use (pure, over a snapshot;
the caller's key is authenticated and counted against its limits before: Gateway.caller)."""

from __future__ import annotations

from typing import Any

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import ModelInfo
from chungus.gateway.snapshot import Snapshot
from chungus.lib.openai_errors import NotFound
from chungus.telemetry.entries import bounded_text

ECHOED_ID = 100  # characters of an unknown id said back in the 404


def model_object(model: ModelInfo) -> dict[str, Any]:
    return {"id": model.name, "object": "model", "created": model.created, "owned_by": "chungus"}


def visible_models(snapshot: Snapshot, key: KeyInfo) -> list[ModelInfo]:
    allowed = key.allowed_models
    return [m for m in snapshot.models.values() if not allowed or m.name in allowed]


def list_models(snapshot: Snapshot, key: KeyInfo) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(m) for m in visible_models(snapshot, key)]}


def get_model(snapshot: Snapshot, key: KeyInfo, model_id: str) -> dict[str, Any]:
    model = snapshot.models.get(model_id)
    if model is None or (key.allowed_models and model_id not in key.allowed_models):
        raise NotFound(
            f"The model '{bounded_text(model_id, ECHOED_ID)}' does not exist.",
            param="model",
            code="model_not_found",
        )
    return model_object(model)
