"""Jobs: batch GPU work (molecular dynamics, commands) queued for the shared pool.

A job's state moves only as JobState's table allows (fleet/states.py), checked in the
UPDATE itself (StateQuerySet.move_state). Its files live in CHUNGUS_HOME/jobs/<id>/
(fleet/jobs/files.py); the row keeps what the scheduler and users need to see.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from chungus.fleet.models import StateQuerySet
from chungus.fleet.states import JobState


class Tier(models.TextChoices):
    """Below every deployment: batch jobs, then background work (Folding@Home)."""

    BATCH = "batch", "batch"
    BACKGROUND = "background", "background"


class Job(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30)
    name = models.CharField(max_length=200, blank=True, help_text="the owner's label")
    spec = models.JSONField(default=dict, help_text="validated by the kind")
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.BATCH)
    priority = models.SmallIntegerField(default=0, help_text="within its tier: higher first")
    gpus = models.PositiveSmallIntegerField(default=0)
    memory_mb = models.PositiveIntegerField(default=0, help_text="per GPU; 0: the whole GPU")
    cpu_cores = models.PositiveSmallIntegerField(default=1)
    launcher = models.CharField(max_length=20, default="local")
    grace_seconds = models.PositiveIntegerField(default=30, help_text="SIGTERM to SIGKILL")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replicas",
        help_text="the ensemble this job is a replica of",
    )  # fmt: skip
    max_retries = models.PositiveSmallIntegerField(
        default=0, help_text="failed attempts run again from the checkpoint, at most"
    )
    retries = models.PositiveSmallIntegerField(default=0, help_text="failed attempts run again")

    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.QUEUED)
    reason = models.CharField(max_length=1000, blank=True)
    cancel_requested = models.BooleanField(default=False)
    progress = models.FloatField(default=0.0, help_text="0..1")
    progress_summary = models.CharField(max_length=300, blank=True)
    progress_detail = models.JSONField(default=dict, blank=True)

    attempts = models.PositiveIntegerField(default=0)
    preemptions = models.PositiveIntegerField(default=0)
    gpu_seconds = models.FloatField(default=0.0)
    node = models.CharField(max_length=200, blank=True)
    gpu_indices = models.JSONField(default=list, blank=True)
    handle = models.JSONField(default=dict, blank=True, help_text="the launcher's reference")
    exit_code = models.IntegerField(null=True, blank=True)
    events = models.JSONField(
        default=list, blank=True, help_text="[{time, event, detail}]: started, preempted, ..."
    )

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True, help_text="first start")
    running_since = models.DateTimeField(null=True, blank=True, help_text="this attempt")
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StateQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "tier"]), models.Index(fields=["owner", "state"])]
        permissions = [("run_commands", "Can submit command jobs (any program on the GPUs)")]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.kind}, {self.state})"

    def summary(self) -> dict[str, Any]:
        """What lists show of a job."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "name": self.name,
            "owner": self.owner.get_username(),
            "state": self.state,
            "reason": self.reason,
            "tier": self.tier,
            "priority": self.priority,
            "gpus": self.gpus,
            "gpu_indices": self.gpu_indices,
            "node": self.node,
            "progress": round(self.progress, 4),
            "progress_summary": self.progress_summary,
            "attempts": self.attempts,
            "preemptions": self.preemptions,
            "retries": self.retries,
            "parent_id": self.parent_id,
            "gpu_seconds": round(self.gpu_seconds, 1),
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class GpuHold(models.Model):
    """Who held a GPU from when to when (a deployment's replica or a job), for the timeline."""

    node = models.CharField(max_length=200)
    gpu = models.SmallIntegerField()
    holder = models.CharField(max_length=20)  # "deployment" | "job"
    name = models.CharField(max_length=200, help_text="deployment name, or job id")
    started = models.BigIntegerField(db_index=True, help_text="Unix time, seconds")
    ended = models.BigIntegerField(null=True, blank=True, help_text="null while held")

    class Meta:
        indexes = [models.Index(fields=["ended"])]

    def __str__(self) -> str:
        return f"{self.node}/{self.gpu}: {self.holder} {self.name}"
