"""Models that clients ask for, and the backends that serve them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Engine(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    LLAMACPP = "llamacpp", "llama.cpp"
    VLLM = "vllm", "vLLM"
    OLLAMA = "ollama", "Ollama"
    KOBOLDCPP = "koboldcpp", "koboldcpp"


class Routing(models.TextChoices):
    LEAST_OUTSTANDING = "least-outstanding", "least outstanding requests"
    ROUND_ROBIN = "round-robin", "round robin"
    CACHE_AFFINITY = "cache-affinity", "prompt-cache affinity, bounded by load"


class Model(models.Model):
    """A name clients put in `model`; served by one or more backends."""

    name = models.CharField(max_length=200, unique=True)
    routing = models.CharField(
        max_length=30, choices=Routing.choices, default=Routing.LEAST_OUTSTANDING
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Backend(models.Model):
    """One engine endpoint serving a model."""

    model = models.ForeignKey(Model, related_name="backends", on_delete=models.CASCADE)
    url = models.URLField(max_length=500, help_text="base URL, e.g. http://host:8080/v1")
    engine = models.CharField(max_length=20, choices=Engine.choices, default=Engine.OPENAI)
    upstream_model = models.CharField(max_length=200, blank=True, help_text="id the engine expects")
    max_concurrency = models.PositiveIntegerField(default=64)
    managed_by = models.CharField(
        max_length=50, blank=True, help_text="launcher that runs it; empty for external backends"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Written by the health monitor of the serving process (without touching the
    # configuration version), read by `chungus models list` and the status endpoint.
    health = models.CharField(max_length=20, default="unknown")
    health_reason = models.CharField(max_length=300, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "url"], name="unique_backend_url_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.model.name} → {self.url}"
