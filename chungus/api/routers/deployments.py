"""/api/deployments/…: engines CHUNGUS runs itself; the reconciler makes each row real."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from chungus.api import services
from chungus.api.schemas import DeploymentCreate, DeploymentList, DeploymentReply, errors
from chungus.core.audit import actor_of
from chungus.fleet.models import Deployment

router = Router(tags=["deployments"])
Reply = dict[str, Deployment]


@router.get("/", response={200: DeploymentList, **errors()})
def list_deployments(request: HttpRequest) -> dict[str, object]:
    """List deployments with their state and its reason."""
    return {"deployments": list(services.deployments())}


@router.post("/", response={200: DeploymentReply, 201: DeploymentReply, **errors(400, 422)})
def deploy(request: HttpRequest, data: DeploymentCreate) -> Status[Reply]:
    """Deploy a model (201), or redeploy one with new settings (200), like `chungus deploy`.

    The deployment starts pending; the reconciler places it on GPUs and starts it.
    """
    deployment, created = services.deploy(data, actor_of(request))
    return Status(201 if created else 200, {"deployment": deployment})


# Before the detail route: its {path:name} would also match "NAME/stop/".
@router.post("/{path:name}/stop/", response={200: DeploymentReply, **errors(404)})
def stop(request: HttpRequest, name: str) -> Reply:
    """Stop a deployment: a ready one drains first, then its GPUs are freed."""
    return {"deployment": services.stop_deployment(name, actor_of(request))}


@router.post("/{path:name}/start/", response={200: DeploymentReply, **errors(404)})
def start(request: HttpRequest, name: str) -> Reply:
    """Run a stopped or failed deployment again: pending until the reconciler starts it."""
    return {"deployment": services.start_deployment(name, actor_of(request))}


@router.get("/{path:name}/", response={200: DeploymentReply, **errors(404)})
def get_deployment(request: HttpRequest, name: str) -> Reply:
    """One deployment, by the model name it serves (which may contain '/')."""
    return {"deployment": services.get_deployment(name)}
