"""/api/models/…: the models clients ask for and the backends that serve them."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from chungus.api import services
from chungus.api.schemas import Deleted, ModelCreate, ModelList, ModelReply, ModelUpdate, errors
from chungus.core.audit import actor_of
from chungus.fleet.models import Model

router = Router(tags=["models"])


@router.get("/", response={200: ModelList, **errors()})
def list_models(request: HttpRequest) -> dict[str, object]:
    """List models with their backends and the backends' health."""
    return {"models": list(services.models())}


@router.post("/create/", response={201: ModelReply, **errors(400, 409, 422)})
def create_model(request: HttpRequest, data: ModelCreate) -> Status[dict[str, Model]]:
    """Add a backend to a model, creating the model if it is new."""
    return Status(201, {"model": services.add_backend(data, actor_of(request))})


@router.post("/{int:model_id}/update/", response={200: ModelReply, **errors(404, 409, 422)})
def update_model(request: HttpRequest, model_id: int, data: ModelUpdate) -> dict[str, Model]:
    """Rename a model, or change its routing or per-request limits."""
    return {"model": services.update_model(model_id, data, actor_of(request))}


@router.post("/{int:model_id}/delete/", response={200: Deleted, **errors(404)})
def delete_model(request: HttpRequest, model_id: int) -> dict[str, bool]:
    """Remove a model and all its backends."""
    services.delete_model(model_id, actor_of(request))
    return {"deleted": True}


@router.post(
    "/{int:model_id}/backends/{int:backend_id}/delete/", response={200: Deleted, **errors(404)}
)
def delete_backend(request: HttpRequest, model_id: int, backend_id: int) -> dict[str, bool]:
    """Remove one backend of a model."""
    services.delete_backend(model_id, backend_id, actor_of(request))
    return {"deleted": True}
