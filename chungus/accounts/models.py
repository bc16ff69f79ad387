"""API keys with their limits, and what each user may give their own keys."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from chungus.accounts.quota import DEFAULT_QUOTA, Quota
from chungus.accounts.secrets import hash_secret, new_secret, visible_prefix


class Priority(models.TextChoices):
    INTERACTIVE = "interactive", "interactive (served first)"
    BATCH = "batch", "batch"
    BACKGROUND = "background", "background (served last)"


class Scope(models.TextChoices):
    """What a key is for, chosen when it is made: an owner's rights never widen it."""

    INFERENCE = "inference", "inference (/v1 only)"
    ADMIN = "admin", "admin (/v1, the management API and fleet status; superusers only)"


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
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.INFERENCE)
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

    def clean(self) -> None:
        """Forms (the admin's among them) refuse an admin key that no superuser owns."""
        if self.scope == Scope.ADMIN and not (self.owner and self.owner.is_superuser):
            raise ValidationError({"scope": "An admin key must be owned by a superuser."})

    def revoke(self) -> None:
        self.is_active = False
        self.revoked_at = timezone.now()
        self.save(update_fields=["is_active", "revoked_at"])


class UserQuota(models.Model):
    """An operator's limits on the keys a user issues for themselves (defaults when absent)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, related_name="key_quota", on_delete=models.CASCADE
    )
    max_keys = models.PositiveIntegerField(
        default=DEFAULT_QUOTA.max_keys, help_text="active keys the user may hold at once"
    )
    max_rpm = models.PositiveIntegerField(
        default=DEFAULT_QUOTA.max_rpm, help_text="highest requests per minute for one key"
    )
    max_tpm = models.PositiveIntegerField(
        default=DEFAULT_QUOTA.max_tpm, help_text="highest tokens per minute for one key"
    )

    class Meta:
        verbose_name = "user key quota"

    def __str__(self) -> str:
        return f"quota of {self.user}"

    @classmethod
    def for_user(cls, user: User) -> Quota:
        """Return the user's quota, or the defaults when the operator set none."""
        row = cls.objects.filter(user=user).first()
        if row is None:
            return DEFAULT_QUOTA
        return Quota(max_keys=row.max_keys, max_rpm=row.max_rpm, max_tpm=row.max_tpm)


class LoginFailure(models.Model):
    """A failed sign-in, kept for the throttling window (see chungus.accounts.loginguard)."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.CharField(max_length=45, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.at:%Y-%m-%d %H:%M:%S}"
