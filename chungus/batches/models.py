"""Files uploaded for batches (and the files batches write), owned by a tenant.

A tenant is the user who owns the calling key; an operator's key (no owner) is a tenant of
its own. A file's bytes live in CHUNGUS_HOME/files/<id> (chungus.batches.storage): the path
is built from the id, never from the name the client gave.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def file_id() -> str:
    return f"file-{secrets.token_hex(12)}"


class Purpose(models.TextChoices):
    BATCH = "batch", "batch"  # uploaded: a batch's input
    BATCH_OUTPUT = "batch_output", "batch_output"  # written: a batch's output or errors


class File(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=file_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="+", help_text="the tenant; empty: the operator's key below",
    )  # fmt: skip
    api_key_id = models.BigIntegerField(help_text="the id of the key that made it")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["owner", "api_key_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.filename})"


def batch_id() -> str:
    return f"batch_{secrets.token_hex(12)}"


class BatchStatus(models.TextChoices):
    """OpenAI's lifecycle: validating → in_progress → finalizing → completed, or failed
    (a bad input file), expired (past its window), cancelling → cancelled."""

    VALIDATING = "validating", "validating"
    FAILED = "failed", "failed"
    IN_PROGRESS = "in_progress", "in_progress"
    FINALIZING = "finalizing", "finalizing"
    COMPLETED = "completed", "completed"
    EXPIRED = "expired", "expired"
    CANCELLING = "cancelling", "cancelling"
    CANCELLED = "cancelled", "cancelled"


class Batch(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=batch_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    api_key_id = models.BigIntegerField(help_text="the key that made it: its lines run as it")
    endpoint = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True, help_text="the first line's model")
    input_file_id = models.CharField(max_length=40)
    completion_window = models.CharField(max_length=10, default="24h")
    metadata = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=BatchStatus.choices, default=BatchStatus.VALIDATING
    )
    errors = models.JSONField(default=list, blank=True, help_text="validation errors")
    output_file_id = models.CharField(max_length=40, blank=True)
    error_file_id = models.CharField(max_length=40, blank=True)
    total = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    in_progress_at = models.DateTimeField(null=True, blank=True)
    finalizing_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    cancelling_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    finalize_lease = models.FloatField(
        default=0.0, help_text="epoch seconds: a process writes its result files until then"
    )

    class Meta:
        verbose_name_plural = "batches"
        indexes = [
            models.Index(fields=["owner", "api_key_id", "created_at"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class LineState(models.TextChoices):
    QUEUED = "queued", "queued"
    CLAIMED = "claimed", "claimed"  # a process runs it until lease_until
    DONE = "done", "done"


class BatchLine(models.Model):
    """One request of a batch. A claimed line whose lease ran out (its process died) is
    queued again; a result is written only by the claim that holds it, so none twice."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="lines")
    number = models.PositiveIntegerField(help_text="its line in the input file, from 1")
    custom_id = models.CharField(max_length=512)
    body = models.JSONField()
    state = models.CharField(max_length=10, choices=LineState.choices, default=LineState.QUEUED)
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_until = models.FloatField(default=0.0, help_text="epoch seconds")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True, help_text="the answer's body")
    error = models.JSONField(null=True, blank=True, help_text="{code, message} when none came")
    request_id = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "number"], name="one_row_per_batch_line")
        ]
        indexes = [models.Index(fields=["state", "lease_until"])]


class ProtollmJob(models.Model):
    """A job of protollm's API (/generate, /chat_completion): run once per tenant and job id;
    a repeated id answers what is stored. A process runs it while it holds the lease; one that
    died leaves a lease that runs out, and the next call for the id runs it again."""

    tenant = models.CharField(max_length=40, help_text="user:<id>, or key:<id> for an operator's")
    job_id = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    api_key_id = models.BigIntegerField(help_text="the key that asked for it")
    kind = models.CharField(max_length=20, help_text="single_generation or chat_completion")
    model = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="in_progress")
    result = models.TextField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True, help_text="protollm's {type, msg}")
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_until = models.FloatField(default=0.0, help_text="epoch seconds")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "job_id"], name="one_protollm_job_per_id")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} ({self.status})"
