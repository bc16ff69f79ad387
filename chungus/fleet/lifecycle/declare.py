"""Declaring deployments: what `chungus deploy`, the management API and the dashboard share.

This module only writes what the operator asked for; the reconciler (reconciler.py)
reads the rows and makes them real. A request it cannot accept raises DeployError,
whose message is written for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan
from chungus.fleet.lifecycle.plans import estimate_memory_mb
from chungus.fleet.models import Deployment, Model
from chungus.fleet.states import DeploymentState as S
from chungus.fleet.states import transition
from chungus.lib.names import InvalidName, check_name

DEFAULT_ENGINE = "llamacpp"
LAUNCHERS = ("local", "slurm", "ray")
WAITING = "waiting for the reconciler"
SMALL, LARGE = 32_767, 2_147_483_647  # PostgreSQL's smallint and integer


class DeployError(Exception):
    """A deployment that cannot be declared or changed as asked."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param  # the field at fault, for the API's error envelope


class UnknownDeployment(DeployError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no deployment named {name!r}", param="name")


@dataclass(frozen=True)
class Spec:
    """What the operator asks for; mirrors `chungus deploy`'s options."""

    name: str
    source: str = "packaged"
    engine: str = DEFAULT_ENGINE
    launcher: str = "local"
    replicas: int = 1
    gpus_per_replica: int | None = None  # None: the engine's default (vLLM: tensor x pipeline)
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    context_length: int = 4096
    memory_mb: int | None = None  # per GPU; None: estimated
    priority: int = 0
    always_warm: bool = False
    idle_timeout_s: int = 0


def deploy(
    spec: Spec, home: Path, *, memory_given_as: str = "memory_mb"
) -> tuple[Deployment, bool]:
    """Create or redeploy a deployment (desired running, pending); return it and whether it is new.

    `memory_given_as` names the option that gave the memory, for the note shown with it.
    """
    _check(spec)
    gpus = gpus_per_replica(
        spec.engine, spec.gpus_per_replica, spec.tensor_parallel, spec.pipeline_parallel
    )
    if spec.memory_mb is None:
        memory, note = estimate_memory_mb(spec.source, spec.engine, spec.context_length, home)
        if memory > LARGE:  # a huge context, or a GGUF header that claims absurd sizes
            raise DeployError(
                f"the estimated memory per GPU, {memory} MB, is more than {LARGE} MB: "
                "lower context_length or give memory_mb",
                param="context_length",
            )
    else:
        memory, note = spec.memory_mb, f"given with {memory_given_as}"
    with transaction.atomic():
        Model.objects.get_or_create(name=spec.name)
        rows = Deployment.objects.select_for_update().filter(name=spec.name)
        state = rows.values_list("state", flat=True).first()  # None: a new deployment
        # A draining one ends stopped; a wake makes the reconciler start it again right after.
        status: dict[str, Any] = (
            {"wake_requested_at": timezone.now()}
            if state == S.DRAINING
            else {
                "state": transition(S, state or S.PENDING, S.PENDING, spec.name),
                "state_reason": WAITING,
                "wake_requested_at": None,
            }
        )
        return Deployment.objects.update_or_create(
            name=spec.name,
            defaults={
                "source": spec.source, "engine": spec.engine, "launcher": spec.launcher,
                "replicas": spec.replicas, "gpus_per_replica": gpus,
                "tensor_parallel": spec.tensor_parallel,
                "pipeline_parallel": spec.pipeline_parallel,
                "context_length": spec.context_length, "memory_mb": memory, "memory_note": note,
                "priority": spec.priority, "always_warm": spec.always_warm,
                "idle_timeout_s": spec.idle_timeout_s, "desired": "running", **status,
            },
        )  # fmt: skip


def stop(name: str) -> Deployment:
    """Ask the reconciler to stop a deployment (a ready one drains first); its GPUs are freed."""
    with transaction.atomic():
        deployment = _locked(name)
        deployment.desired = "stopped"
        deployment.save(update_fields=["desired", "updated_at"])
    return deployment


def start(name: str) -> Deployment:
    """Run a stopped, failed or stopping deployment again; the reconciler starts it."""
    with transaction.atomic():
        deployment = _locked(name)
        deployment.desired = "running"
        fields = ["desired", "updated_at"]
        if deployment.state in (S.STOPPED, S.FAILED):
            # A stopped or failed row with a reason waits for a request to wake it;
            # pending is started on the reconciler's next tick, as after a redeploy.
            deployment.state = transition(S, deployment.state, S.PENDING, name)
            deployment.state_reason = WAITING
            deployment.wake_requested_at = None
            fields += ["state", "state_reason", "wake_requested_at"]
        elif deployment.state == S.DRAINING:
            # The drain ends in `stopped`; a wake makes the reconciler start it right after.
            deployment.wake_requested_at = timezone.now()
            fields.append("wake_requested_at")
        deployment.save(update_fields=fields)
    return deployment


def engine_names() -> list[str]:
    """The engines a deployment may run: those CHUNGUS can launch."""
    return [engine.name for engine in registry.launchable()]


def gpus_per_replica(engine: str, gpus: int | None, tensor: int, pipeline: int) -> int:
    """GPUs one replica takes; the parallel sizes of an engine that spans GPUs multiply to it."""
    found = registry.get(engine)
    if found is None or not found.spans_gpus:
        if tensor * pipeline > 1:
            spanning = " or ".join(e.label for e in registry.launchable() if e.spans_gpus)
            raise DeployError(
                f"--tensor-parallel and --pipeline-parallel are for {spanning} deployments",
                param="tensor_parallel",
            )
        return gpus or 0
    needed = tensor * pipeline
    if gpus == 0 and needed == 1:
        return 0  # e.g. vLLM's CPU build
    if gpus is not None and gpus != needed:
        raise DeployError(
            f"{found.label} runs one worker per GPU: --gpus {gpus} does not match "
            f"--tensor-parallel {tensor} x --pipeline-parallel {pipeline} = {needed}",
            param="gpus_per_replica",
        )
    if needed > SMALL:
        raise DeployError(
            f"{needed} GPUs per replica is more than {SMALL}", param="gpus_per_replica"
        )
    return needed


def _check(spec: Spec) -> None:
    """Refuse what the database or the engine could not take, whoever the caller is."""
    if not spec.name.strip() or len(spec.name) > 200:
        raise DeployError("the name must be 1 to 200 characters", param="name")
    if not spec.source.strip() or len(spec.source) > 500:
        raise DeployError("the source must be 1 to 500 characters", param="source")
    for field in ("name", "source"):
        if "\x00" in getattr(spec, field):  # PostgreSQL's text cannot hold it
            raise DeployError(f"the {field} must not contain NUL characters", param=field)
    engines = engine_names()
    if spec.engine not in engines:
        raise DeployError(
            f"CHUNGUS deploys the engines {', '.join(engines)}, not {spec.engine!r}",
            param="engine",
        )
    if spec.launcher not in LAUNCHERS:
        raise DeployError(
            f"the launchers are {', '.join(LAUNCHERS)}, not {spec.launcher!r}", param="launcher"
        )
    engine = registry.get(spec.engine)
    plan = DeploymentPlan(spec.name, spec.source, spec.engine, 0, launcher=spec.launcher)
    problem = engine.plan_problem(plan) if engine is not None else ""
    if problem:
        raise DeployError(problem, param="name")  # e.g. Ollama serves it by this name
    try:
        check_name("deployment", spec.name)
    except InvalidName as exc:
        raise DeployError(str(exc), param="name") from None
    limits = {
        "replicas": (1, SMALL), "gpus_per_replica": (0, SMALL), "tensor_parallel": (1, SMALL),
        "pipeline_parallel": (1, SMALL), "context_length": (1, LARGE),
        "memory_mb": (0, LARGE), "priority": (-SMALL - 1, SMALL), "idle_timeout_s": (0, LARGE),
    }  # fmt: skip
    for field, (low, high) in limits.items():
        value = getattr(spec, field)
        if value is not None and not low <= value <= high:
            raise DeployError(f"{field} must be between {low} and {high}, not {value}", param=field)


def findable(name: str) -> bool:
    """Whether a deployment could have this name: PostgreSQL cannot even compare one with NUL."""
    return "\x00" not in name


def _locked(name: str) -> Deployment:
    if not findable(name):
        raise UnknownDeployment(name)
    deployment = Deployment.objects.select_for_update().filter(name=name).first()
    if deployment is None:
        raise UnknownDeployment(name)
    return deployment
