"""The first API key, made when CHUNGUS starts with none."""

from __future__ import annotations

from chungus.accounts.models import ApiKey


def ensure_first_key(name: str = "default") -> str | None:
    """Create a key if there is none; return its secret, or None when keys exist."""
    if ApiKey.objects.exists():
        return None
    _, secret = ApiKey.issue(name)
    return secret
