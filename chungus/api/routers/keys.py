"""/api/keys/…: API keys and their limits; a secret is shown once, when issued."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from chungus.accounts.models import ApiKey
from chungus.api import services
from chungus.api.schemas import Deleted, KeyCreate, KeyIssued, KeyList, KeyReply, KeyUpdate, errors
from chungus.core.audit import actor_of

router = Router(tags=["keys"])


@router.get("/", response={200: KeyList, **errors()})
def list_keys(request: HttpRequest) -> dict[str, object]:
    """List keys: prefixes only, never secrets or their hashes."""
    return {"keys": list(services.keys())}


@router.post("/create/", response={201: KeyIssued, **errors(400, 409, 422)})
def create_key(request: HttpRequest, data: KeyCreate) -> Status[dict[str, object]]:
    """Issue a key; the secret is in this response and nowhere else, ever."""
    key, secret = services.issue_key(data, actor_of(request))
    return Status(201, {"key": key, "secret": secret})


@router.post("/{int:key_id}/update/", response={200: KeyReply, **errors(400, 404, 422)})
def update_key(request: HttpRequest, key_id: int, data: KeyUpdate) -> dict[str, ApiKey]:
    """Change limits, models, priority or expiry; `is_active: false` revokes the key."""
    return {"key": services.update_key(key_id, data, actor_of(request))}


@router.post("/{int:key_id}/delete/", response={200: Deleted, **errors(404)})
def delete_key(request: HttpRequest, key_id: int) -> dict[str, bool]:
    """Delete a key for good."""
    services.delete_key(key_id, actor_of(request))
    return {"deleted": True}
