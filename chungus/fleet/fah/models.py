"""The operator's Folding@Home setting: one row, written by `chungus fah enable|disable`.

The passkey is not stored: only the name of the environment variable that holds it, read
by the CHUNGUS process that starts a client (kind.py), each time it starts one.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

SETTING_ID = 1  # the one row


class FahSetting(models.Model):
    enabled = models.BooleanField(default=False)
    user = models.CharField(max_length=100, default="Anonymous", help_text="Folding@Home user")
    team = models.PositiveIntegerField(default=0, help_text="Folding@Home team number")
    passkey_env = models.CharField(
        max_length=100, blank=True, help_text="the variable holding the passkey (never its value)"
    )
    gpus = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="the most GPUs folding at once; null: every idle GPU"
    )
    changed_by = models.CharField(max_length=200, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Folding@Home {'on' if self.enabled else 'off'} ({self.user}, team {self.team})"

    @classmethod
    def current(cls) -> FahSetting:
        """The setting as stored, or the default one (disabled, not saved) before any."""
        return cls.objects.filter(pk=SETTING_ID).first() or cls(pk=SETTING_ID)

    def client_spec(self) -> dict[str, Any]:
        """The spec of each client's job: what a running client was started with."""
        return {"user": self.user, "team": self.team, "passkey_env": self.passkey_env}
