"""The first API key, made when CHUNGUS starts with none."""

from __future__ import annotations

from chungus.accounts.models import ApiKey


def ensure_first_key(name: str = "default") -> str | None:
    """Create a key if there is none; return its secret, or None when keys exist.

    It is an inference key without an owner: it serves /v1 only. An operator's admin key is
    made on purpose (`chungus keys create --name ops --owner ADMIN --admin`).
    """
    if ApiKey.objects.exists():
        return None
    _, secret = ApiKey.issue(name)
    return secret
