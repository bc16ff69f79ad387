"""Bump the configuration version when anything the data plane snapshots changes.

Keys carry who owns them: a user deactivated or demoted, or moved between groups, changes
what their keys may do, so those changes bump the version too and serving processes reload
within CHUNGUS_REFRESH_SECONDS.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save

from chungus.core.models import ConfigVersion

SNAPSHOTTED = ("accounts.ApiKey", "fleet.Model", "fleet.Backend", "fleet.Deployment")
# A user's save that writes only other fields (a sign-in writes last_login) changes no key.
USER_FIELDS_KEYS_FOLLOW = frozenset({"is_active", "is_superuser"})


def _bump(sender: Any, **kwargs: Any) -> None:
    ConfigVersion.bump()


def _bump_for_user(sender: Any, update_fields: frozenset[str] | None = None, **kwargs: Any) -> None:
    if update_fields is None or USER_FIELDS_KEYS_FOLLOW & set(update_fields):
        ConfigVersion.bump()


def _bump_for_membership(sender: Any, action: str, **kwargs: Any) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        ConfigVersion.bump()


def connect() -> None:
    """Connect the bumps (once: each has a dispatch_uid)."""
    for label in SNAPSHOTTED:
        post_save.connect(_bump, sender=label, dispatch_uid=f"bump-{label}-save")
        post_delete.connect(_bump, sender=label, dispatch_uid=f"bump-{label}-delete")
    user = get_user_model()
    post_save.connect(_bump_for_user, sender=user, dispatch_uid="bump-user-save")
    post_delete.connect(_bump, sender=user, dispatch_uid="bump-user-delete")
    post_save.connect(_bump, sender=Group, dispatch_uid="bump-group-save")
    post_delete.connect(_bump, sender=Group, dispatch_uid="bump-group-delete")
    memberships = (user.groups.through, user.user_permissions.through, Group.permissions.through)
    for through in memberships:
        m2m_changed.connect(
            _bump_for_membership, sender=through, dispatch_uid=f"bump-{through.__name__}"
        )
