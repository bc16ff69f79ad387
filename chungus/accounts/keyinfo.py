"""What the data plane knows of an API key (KeyInfo), and every key read in one query."""

from __future__ import annotations

from dataclasses import dataclass


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
    admin: bool = False  # the owner is a superuser: may read fleet status


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
            active=k.is_active,
            tier=k.priority,
            admin=bool(k.owner and k.owner.is_superuser),
        )
        for k in ApiKey.objects.select_related("owner")
    }
