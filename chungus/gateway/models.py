"""The request log: one row per data-plane request, written in batches."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RequestLog(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    key_id = models.BigIntegerField(null=True, db_index=True)
    key_name = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True, db_index=True)
    backend = models.CharField(max_length=500, blank=True)
    endpoint = models.CharField(max_length=50)
    status = models.PositiveSmallIntegerField()
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True)
    stream = models.BooleanField(default=False)
    error_type = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1, help_text="backends tried (failover)")
    prompt = models.TextField(blank=True, help_text="stored only when CHUNGUS_LOG_PROMPTS is on")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["key_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.model} {self.status}"
