"""Bump the configuration version when anything the data plane snapshots changes."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from chungus.core.models import ConfigVersion

SNAPSHOTTED = ("accounts.ApiKey", "fleet.Model", "fleet.Backend", "fleet.Deployment")


def _bump(sender: Any, **kwargs: Any) -> None:
    ConfigVersion.bump()


for label in SNAPSHOTTED:
    post_save.connect(_bump, sender=label, dispatch_uid=f"bump-{label}-save")
    post_delete.connect(_bump, sender=label, dispatch_uid=f"bump-{label}-delete")
