"""What the data plane knows of an API key (KeyInfo), and every key read in one query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chungus.accounts.models import ApiKey


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    bucket: str = ""  # rate-limit identity: part of the key's hash, unique across installs
    rpm: int | None = None
    rph: int | None = None
    tpm: int | None = None
    allowed_models: frozenset[str] = frozenset()
    expires_at: float | None = None
    active: bool = True
    tier: str = "interactive"
    admin: bool = False  # an admin-scoped key of an active superuser: may read fleet status
    owner_id: int | None = None  # the user who owns it; None: the operator's key


def owner_active(key: ApiKey) -> bool:
    """A key without an owner is the operator's; an owner who is deactivated disables it."""
    return key.owner is None or key.owner.is_active


def is_admin_key(key: ApiKey) -> bool:
    """Admin rights need both: a key made with the admin scope, and an active superuser owner."""
    owner = key.owner
    return key.scope == "admin" and owner is not None and owner.is_active and owner.is_superuser


def key_infos() -> dict[str, KeyInfo]:
    """Every key by the hash of its secret (call off the hot path)."""
    from chungus.accounts.models import ApiKey

    return {
        k.key_hash: KeyInfo(
            id=k.id,
            name=k.name,
            bucket=k.key_hash[:24],
            rpm=k.rpm,
            rph=k.rph,
            tpm=k.tpm,
            allowed_models=frozenset(k.allowed_models or ()),
            expires_at=k.expires_at.timestamp() if k.expires_at else None,
            active=k.is_active and owner_active(k),
            tier=k.priority,
            admin=is_admin_key(k),
            owner_id=k.owner_id,
        )
        for k in ApiKey.objects.select_related("owner")
    }
