"""Cross-app bookkeeping: the configuration version that data-plane snapshots follow."""

from __future__ import annotations

from django.db import models
from django.db.models import F


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
