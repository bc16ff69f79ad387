"""API keys with their limits."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from chungus.accounts.secrets import hash_secret, new_secret, visible_prefix


class Priority(models.TextChoices):
    INTERACTIVE = "interactive", "interactive (served first)"
    BATCH = "batch", "batch"
    BACKGROUND = "background", "background (served last)"


class ApiKey(models.Model):
    """A caller's credential. Only a hash of the secret is stored."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    rpm = models.PositiveIntegerField(null=True, blank=True, help_text="requests per minute")
    rph = models.PositiveIntegerField(null=True, blank=True, help_text="requests per hour")
    tpm = models.PositiveIntegerField(null=True, blank=True, help_text="tokens per minute")
    allowed_models = models.JSONField(default=list, blank=True, help_text="empty: all models")
    priority = models.CharField(
        max_length=20, choices=Priority.choices, default=Priority.INTERACTIVE
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str, **fields: object) -> tuple[ApiKey, str]:
        """Create a key and return it with its secret, which is never stored."""
        secret = new_secret()
        key = cls.objects.create(
            name=name, prefix=visible_prefix(secret), key_hash=hash_secret(secret), **fields
        )
        return key, secret

    def revoke(self) -> None:
        self.is_active = False
        self.revoked_at = timezone.now()
        self.save(update_fields=["is_active", "revoked_at"])
