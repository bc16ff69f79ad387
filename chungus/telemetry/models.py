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


class RequestRollup(models.Model):
    """One model's traffic in one time bucket: what the charts read instead of RequestLog.

    Kept at several bucket lengths (`period`, see chungus.telemetry.rollups.PERIODS) so a
    chart of any window reads one row per bucket and model, however busy the gateway.
    Errors are statuses >= 400 except 499 (the client went away); the latency sum and
    histograms count successful requests only, so instant rejections (401, 429) do not
    drag the percentiles down. Histograms use chungus.telemetry.histogram's buckets.
    """

    period = models.PositiveIntegerField(help_text="bucket length in seconds")
    start = models.DateTimeField(help_text="bucket start (UTC), a multiple of the period")
    model = models.CharField(max_length=200, blank=True)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    latency_hist = models.JSONField(default=list, help_text="counts per latency bucket")
    ttft_hist = models.JSONField(default=list, help_text="counts per time-to-first-token bucket")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "start", "model"], name="requestrollup_cell")
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} +{self.period}s {self.model}: {self.requests}"


class KeyRollup(models.Model):
    """One key's traffic to one model in one time bucket: sums only, for top keys."""

    NO_KEY = 0  # requests made without a key; 0 rather than NULL so the unique constraint holds

    period = models.PositiveIntegerField(help_text="bucket length in seconds")
    start = models.DateTimeField(help_text="bucket start (UTC), a multiple of the period")
    model = models.CharField(max_length=200, blank=True)
    key_id = models.BigIntegerField(help_text="0: no key")
    key_name = models.CharField(max_length=100, blank=True)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "start", "model", "key_id"], name="keyrollup_cell"
            )
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} +{self.period}s {self.key_name or self.key_id}"
