"""A signed-in user's own keys: issuing within their quota, and their recent usage."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from chungus.accounts.models import ApiKey, UserQuota
from chungus.accounts.quota import Quota, capped_limits, new_key_problems
from chungus.gateway.models import KeyRollup

USAGE_WINDOW = timedelta(hours=24)
USAGE_PERIOD = 900  # read the 15-minute rollups: 96 rows per key and model at most


class QuotaExceeded(Exception):
    """The user may not create another key, or not with these limits."""


@dataclass(frozen=True, slots=True)
class OwnKey:
    key: ApiKey
    requests: int
    tokens: int


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


def own_keys(user: User) -> list[OwnKey]:
    """Return the user's keys, newest first, with their requests and tokens of about 24 h."""
    keys = list(ApiKey.objects.filter(owner=user).order_by("-created_at"))
    usage = {
        row["key_id"]: row
        for row in KeyRollup.objects.filter(
            key_id__in=[k.id for k in keys],
            period=USAGE_PERIOD,
            start__gte=timezone.now() - USAGE_WINDOW,
        )
        .values("key_id")
        .annotate(
            requests=Sum("requests"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
    }
    rows = []
    for key in keys:
        used = usage.get(key.id, {})
        tokens = (used.get("prompt") or 0) + (used.get("completion") or 0)
        rows.append(OwnKey(key, used.get("requests", 0), tokens))
    return rows
