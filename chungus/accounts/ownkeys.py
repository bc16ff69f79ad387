"""A signed-in user's own keys: issuing them within the user's quota."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from chungus.accounts.models import ApiKey, UserQuota
from chungus.accounts.quota import Quota, capped_limits, new_key_problems


class QuotaExceeded(Exception):
    """The user may not create another key, or not with these limits."""


def active_key_count(user: User) -> int:
    return ApiKey.objects.filter(owner=user, is_active=True).count()


def issue_own_key(
    user: User,
    quota: Quota,
    name: str,
    rpm: int | None = None,
    tpm: int | None = None,
    allowed_models: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key owned by `user` within `quota`; unset limits become the quota's maximum."""
    with transaction.atomic():
        # Lock the owner so two simultaneous requests cannot both take the last free slot.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        problems = new_key_problems(quota, active_key_count(user), rpm, tpm)
        if problems:
            raise QuotaExceeded(" ".join(problems))
        rpm, tpm = capped_limits(quota, rpm, tpm)
        return ApiKey.issue(
            name,
            owner=user,
            rpm=rpm,
            tpm=tpm,
            allowed_models=allowed_models or [],
            expires_at=expires_at,
        )


def playground_prefix(user: User) -> str:
    """The start of the user's playground key names: a username may hold characters a key
    name may not (`@`, `+`), which become `_`."""
    return "playground-" + re.sub(r"[^A-Za-z0-9._:-]", "_", user.get_username())[:80] + "-"


def revoke_playground_keys(user: User) -> int:
    """Revoke the user's playground keys that are still active; return how many."""
    found = ApiKey.objects.filter(
        owner=user, is_active=True, name__startswith=playground_prefix(user)
    )
    for key in found:
        key.revoke()
    return len(found)


def issue_playground_key(user: User, expires_at: datetime) -> tuple[ApiKey, str]:
    """Create the playground's key: an inference key (even for a superuser, so the browser never
    holds an admin credential) that expires with the session, at the owner's maximum limits.
    The user's earlier playground keys are revoked: one lives at a time."""
    with transaction.atomic():
        revoke_playground_keys(user)
        name = playground_prefix(user) + secrets.token_hex(3)
        return issue_own_key(user, UserQuota.for_user(user), name, expires_at=expires_at)
