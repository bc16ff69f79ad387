"""Who may call the management API: superusers, by an admin-scoped API key or by session.

A superuser's inference key is not an admin credential: only a key made with the admin
scope opens /api/ (the scope is chosen when the key is made). The key is tried first
(`Authorization: Bearer ck-…`, no CSRF: a header cannot be forged cross-site); without
that header the Django session decides, and its POSTs must carry the CSRF token in
X-CSRFToken. Anonymous callers get 401, anyone else who is not a superuser 403.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from chungus.accounts.models import ApiKey, Scope
from chungus.accounts.secrets import hash_secret
from chungus.lib.openai_errors import AuthenticationFailed, Forbidden


def _is_admin(user: Any) -> bool:
    return bool(user.is_active and getattr(user, "is_superuser", False))


def active_key(token: str) -> ApiKey:
    """The key `token` is, if it is active, unexpired and its owner (if any) active; else 401."""
    key = ApiKey.objects.select_related("owner").filter(key_hash=hash_secret(token)).first()
    if key is None:
        raise AuthenticationFailed(f"Incorrect API key provided: {token[:6]}***.")
    if not key.is_active:
        raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise AuthenticationFailed("This API key has expired.", code="expired_api_key")
    if key.owner is not None and not key.owner.is_active:
        raise AuthenticationFailed("This API key's owner is deactivated.", code="deactivated_owner")
    return key


class AdminKey(HttpBearer):
    """An active, unexpired admin-scoped API key whose owner is an active superuser."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser:
        key = active_key(token)
        if key.owner is None or not _is_admin(key.owner):
            raise Forbidden("This API key does not belong to a superuser.", code="admin_only")
        if key.scope != Scope.ADMIN:
            raise Forbidden(
                "This is an inference API key: the management API needs an admin key "
                "(chungus keys create --name NAME --owner YOU --admin).",
                code="inference_key",
            )
        return key.owner


class AdminSession(APIKeyCookie):
    """A signed-in superuser; unsafe methods need Django's CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)  # also tells ninja's Swagger UI to send the token

    def __call__(self, request: HttpRequest) -> Any:
        # Who first, then CSRF: an anonymous POST is a 401, not a CSRF failure.
        return self.authenticate(request, request.COOKIES.get(self.param_name))

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        if not _is_admin(user):
            raise Forbidden("The management API is for superusers only.")
        if check_csrf(request) is not None:
            raise Forbidden(
                "CSRF verification failed: send the csrftoken cookie's value in X-CSRFToken.",
                code="csrf_failed",
            )
        return user
