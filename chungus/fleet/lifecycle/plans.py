"""From a deployment to its engine's launch spec and memory estimate, through the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan, LaunchSpec, NotLaunchable
from chungus.fleet.launchers.local import free_port


def log_path(home: Path, deployment_id: int, replica: int) -> Path:
    """A replica's engine log: named by the deployment's id, never by its name."""
    return home / "logs" / f"deployment-{deployment_id}-{replica}.log"


def launch_spec(
    plan: DeploymentPlan,
    home: Path,
    replica: int,
    gpus: tuple[int, ...],
    deployment_id: int | None = None,
) -> LaunchSpec:
    """The command for one replica of the deployment, on a free port, logging to a file
    named by `deployment_id` (without one, the launcher's file for the spec's name)."""
    port = free_port()
    engine = registry.get(plan.engine)
    if engine is None:
        raise NotLaunchable(
            f"CHUNGUS cannot launch {plan.engine} engines yet; register them as backends"
        )
    spec = engine.launch_spec(plan, home, f"{plan.name}-{replica}", port, gpus)
    if deployment_id is None:
        return spec
    return replace(spec, log_path=str(log_path(home, deployment_id, replica)))


def estimate_memory_mb(
    source: str, engine: str, context_length: int, home: Path
) -> tuple[int, str]:
    """Memory per GPU for a deployment, with how it was estimated."""
    found = registry.get(engine)
    if found is None:
        return 0, f"not estimated: give --memory-mb (CHUNGUS does not launch {engine})"
    return found.estimate_memory_mb(source, context_length, home)
