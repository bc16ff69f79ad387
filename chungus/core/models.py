"""Cross-app bookkeeping: the configuration version that data-plane snapshots follow, and the
audit log of management actions."""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.utils import timezone


class ConfigVersion(models.Model):
    """A single counter bumped whenever keys, models or backends change."""

    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def current(cls) -> int:
        row = cls.objects.filter(pk=1).values_list("value", flat=True).first()
        return row or 0

    @classmethod
    def bump(cls) -> None:
        updated = cls.objects.filter(pk=1).update(value=F("value") + 1)
        if not updated:
            cls.objects.get_or_create(pk=1, defaults={"value": 1})


class AuditEntry(models.Model):
    """One management action: who did what to which thing, when and from where (no secrets).
    Written by chungus.core.audit.audit(); read by the operator's audit page."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, help_text="username, or cli:OS-USER")
    via = models.CharField(max_length=20, help_text="api-key, session, cli, admin, dashboard")
    ip = models.CharField(max_length=45, blank=True)
    action = models.CharField(max_length=50, db_index=True, help_text="e.g. key.create")
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"
