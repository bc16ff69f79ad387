"""Who is calling and what they may use (pure functions over a snapshot)."""

from __future__ import annotations

from chungus.accounts.keyinfo import KeyInfo
from chungus.accounts.secrets import hash_secret
from chungus.gateway.snapshot import Snapshot
from chungus.lib.openai_errors import AuthenticationFailed, ModelNotAllowed


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer …` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(snapshot: Snapshot, authorization: str | None, now: float) -> KeyInfo:
    """Return the caller's key, or raise AuthenticationFailed with the reason."""
    token = bearer_token(authorization)
    if token is None:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    key = snapshot.keys.get(hash_secret(token))
    if key is None:
        raise AuthenticationFailed(f"Incorrect API key provided: {token[:6]}***.")
    if not key.active:
        raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthenticationFailed("This API key has expired.", code="expired_api_key")
    return key


def authorize_model(key: KeyInfo, model: str) -> None:
    """Raise ModelNotAllowed unless the key may use the model."""
    if key.allowed_models and model not in key.allowed_models:
        raise ModelNotAllowed(
            f"This API key is not allowed to use the model '{model}'.", param="model"
        )
