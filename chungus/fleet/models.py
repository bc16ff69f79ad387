"""Models that clients ask for, the backends that serve them, deployments, leases and GPU samples.

Engine names are the engine registry's (chungus.engines.registry), so a new engine package
needs no migration.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

from chungus.engines import registry
from chungus.fleet.states import (
    LIFECYCLES,
    BackendHealth,
    DeploymentState,
    IllegalTransition,
    predecessors,
    transition,
    values,
)

_M = TypeVar("_M", bound=models.Model)


class StateQuerySet(models.QuerySet[_M]):
    """Rows with a lifecycle state (states.py), changed only as its table allows."""

    def move_state(
        self, field: str, kind: type[Enum], new: str, subject: str, **changes: Any
    ) -> bool:
        """Set one row's `field` to `new` (and `changes`) if its table allows it from the state
        the row is in, checked in the UPDATE itself; False when there is no such row.

        Raises IllegalTransition when the row's state does not allow it. `update` skips
        save() and its signals, as the callers want.
        """
        allowed = {f"{field}__in": values(predecessors(kind, new))}
        for _ in range(3):
            if self.filter(**allowed).update(**{field: new, **changes}):
                return True
            current = self.values_list(field, flat=True).first()
            if current is None:
                return False
            transition(kind, current, new, subject)  # raises: the row's state forbids it
            # Else another process moved the row to an allowed state meanwhile: again.
        # Still moving under us after three tries: refuse rather than spin.
        raise IllegalTransition(LIFECYCLES[kind].noun, current, new, subject)


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
    # Per-request bounds, so one request cannot hold an engine for everyone (0: no cap).
    max_output_tokens = models.PositiveIntegerField(
        default=4096,
        help_text="most tokens one answer may ask for; sent as max_tokens when a request "
        "names none; 0: no cap (the engine's default)",
    )
    max_n = models.PositiveSmallIntegerField(
        default=8, help_text="most choices (`n`) one request may ask for; 0: no cap"
    )
    max_prompts = models.PositiveSmallIntegerField(
        default=64, help_text="most prompts in one /v1/completions array; 0: no cap"
    )
    allow_engine_options = models.BooleanField(
        default=False,
        help_text="pass on per-request engine settings that affect other users "
        "(Ollama keep_alive, num_ctx, num_gpu…); off: they are dropped",
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
    engine = models.CharField(max_length=20, choices=registry.choices, default="openai")
    upstream_model = models.CharField(max_length=200, blank=True, help_text="id the engine expects")
    max_concurrency = models.PositiveIntegerField(default=64)
    managed_by = models.CharField(
        max_length=50, blank=True, help_text="launcher that runs it; empty for external backends"
    )
    chat_format = models.CharField(
        max_length=40,
        blank=True,
        help_text="turn format CHUNGUS chose for a llama.cpp engine it runs (a template name, "
        "'gguf' for the GGUF's own, 'none' when it has none: chat is refused); "
        "empty: the engine's own business",
    )
    # The bearer key the engine wants: a launched replica's own secret, or one given with
    # `models add --api-key-env`. Stored as it is (like LiteLLM without a master key: the
    # data plane must send it) and never shown back: not in listings, the API, the
    # dashboard, the admin or the logs. Whoever reads the database can read it.
    api_key = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Written by the health monitor of the serving process (without touching the
    # configuration version), read by `chungus models list` and the status endpoint.
    health = models.CharField(max_length=20, default=BackendHealth.UNKNOWN)
    health_reason = models.CharField(max_length=300, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)

    objects = StateQuerySet.as_manager()

    class Meta:
        ordering = ["model__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "url"], name="unique_backend_url_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.model.name} → {self.url}"


class Deployment(models.Model):
    """An engine CHUNGUS runs itself: what to serve, where it may run, how to keep it."""

    name = models.CharField(max_length=200, unique=True, help_text="the model name it serves")
    source = models.CharField(
        max_length=500, help_text="'packaged', a GGUF path, or a Hugging Face id (vLLM)"
    )
    engine = models.CharField(max_length=20, choices=registry.choices, default="llamacpp")
    launcher = models.CharField(max_length=20, default="local")
    replicas = models.PositiveSmallIntegerField(default=1)
    gpus_per_replica = models.PositiveSmallIntegerField(default=0)
    tensor_parallel = models.PositiveSmallIntegerField(default=1)
    pipeline_parallel = models.PositiveSmallIntegerField(default=1)
    context_length = models.PositiveIntegerField(default=4096)
    memory_mb = models.PositiveIntegerField(default=0, help_text="estimated per GPU")
    memory_note = models.CharField(max_length=300, blank=True, help_text="how it was estimated")
    priority = models.SmallIntegerField(default=0)
    always_warm = models.BooleanField(default=False)
    idle_timeout_s = models.PositiveIntegerField(default=0, help_text="0: never unload")
    desired = models.CharField(max_length=10, default="running")  # running | stopped
    state = models.CharField(
        max_length=20, choices=DeploymentState.choices, default=DeploymentState.PENDING
    )
    state_reason = models.CharField(max_length=1000, blank=True)
    wake_requested_at = models.DateTimeField(null=True, blank=True)
    warmed_at = models.DateTimeField(null=True, blank=True)
    # Per replica index, what its launcher needs to find the engine again (and its port):
    # the next reconciling process adopts a running engine instead of starting another.
    replica_handles = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class Lease(models.Model):
    """Who runs a control loop now: one holder at a time, renewed before it expires."""

    name = models.CharField(max_length=100, unique=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()


class InventorySample(models.Model):
    """One node's GPU (or, with gpu=HOST, the node itself) at one moment, for the charts.

    The host row reuses the GPU columns: memory is the host's RAM and utilization its CPU
    (null when unknown, as for declared hosts). Time is Unix seconds, so charts can bucket
    it with integer arithmetic that SQLite and PostgreSQL agree on.
    """

    HOST = -1  # `gpu` of the row for the node's CPU and memory

    time = models.BigIntegerField(db_index=True, help_text="Unix time, seconds")
    node = models.CharField(max_length=200)
    gpu = models.SmallIntegerField(help_text="GPU index; -1 for the host's CPU and memory")
    declared = models.BooleanField(default=False, help_text="from the declared inventory")
    memory_used_mb = models.PositiveIntegerField()
    memory_total_mb = models.PositiveIntegerField()
    utilization_pct = models.PositiveSmallIntegerField(null=True)
    temperature_c = models.SmallIntegerField(null=True)

    def __str__(self) -> str:
        return f"{self.node}/{self.gpu} at {self.time}"
