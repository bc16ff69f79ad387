"""API key secrets: generation and hashing (pure, no Django)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ck-"
VISIBLE_CHARS = 10


def new_secret() -> str:
    """Return a fresh API key secret."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Return the stored form of a secret.

    Secrets carry 256 random bits, so a fast digest is safe and lets the data
    plane look keys up in a dict without a slow KDF on every request.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def visible_prefix(secret: str) -> str:
    """Return the part of a secret that may be shown again."""
    return secret[:VISIBLE_CHARS]
