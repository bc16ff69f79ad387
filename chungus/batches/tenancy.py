"""Who sees what: a key sees the files and batches of its tenant, and nobody else's."""

from __future__ import annotations

from typing import Any

from chungus.accounts.keyinfo import KeyInfo


def tenant_filter(key: KeyInfo) -> dict[str, Any]:
    """Query filter for rows of the key's tenant: its owner's, or for an operator's key (no
    owner) that key's own (pure)."""
    if key.owner_id is not None:
        return {"owner_id": key.owner_id}
    return {"owner_id": None, "api_key_id": key.id}


def tenant_fields(key: KeyInfo) -> dict[str, Any]:
    """The tenant columns of a row the key creates."""
    return {"owner_id": key.owner_id, "api_key_id": key.id}
