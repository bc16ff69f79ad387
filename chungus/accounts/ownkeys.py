"""A signed-in user's own keys: issuing them within the user's quota."""

from __future__ import annotations

import secrets

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
) -> tuple[ApiKey, str]:
    """Create a key owned by `user` within `quota`; unset limits become the quota's maximum."""
    with transaction.atomic():
        # Lock the owner so two simultaneous requests cannot both take the last free slot.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        problems = new_key_problems(quota, active_key_count(user), rpm, tpm)
        if problems:
            raise QuotaExceeded(" ".join(problems))
        rpm, tpm = capped_limits(quota, rpm, tpm)
        return ApiKey.issue(name, owner=user, rpm=rpm, tpm=tpm, allowed_models=allowed_models or [])


def issue_playground_key(user: User) -> tuple[ApiKey, str]:
    """Create a key for the playground, named after its owner, at the owner's maximum limits."""
    name = f"playground-{user.get_username()}-{secrets.token_hex(3)}"
    return issue_own_key(user, UserQuota.for_user(user), name)
