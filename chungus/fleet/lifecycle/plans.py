"""From a deployment to its engine's launch spec and memory estimate, through the registry."""

from __future__ import annotations

from pathlib import Path

from chungus.engines import registry
from chungus.engines.base import DeploymentPlan, LaunchSpec, NotLaunchable
from chungus.fleet.launchers.local import free_port


def launch_spec(
    plan: DeploymentPlan, home: Path, replica: int, gpus: tuple[int, ...]
) -> LaunchSpec:
    """The command for one replica of the deployment, on a free port."""
    port = free_port()
    engine = registry.get(plan.engine)
    if engine is None:
        raise NotLaunchable(
            f"CHUNGUS cannot launch {plan.engine} engines yet; register them as backends"
        )
    return engine.launch_spec(plan, home, f"{plan.name}-{replica}", port, gpus)


def estimate_memory_mb(
    source: str, engine: str, context_length: int, home: Path
) -> tuple[int, str]:
    """Memory per GPU for a deployment, with how it was estimated."""
    found = registry.get(engine)
    if found is None:
        return 0, f"not estimated: give --memory-mb (CHUNGUS does not launch {engine})"
    return found.estimate_memory_mb(source, context_length, home)
