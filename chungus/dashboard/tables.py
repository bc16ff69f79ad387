"""What the pages show of models, backends and deployments, read from the database."""

from __future__ import annotations

from dataclasses import dataclass

from chungus.fleet.models import Backend, Deployment, Model
from chungus.fleet.models import DeploymentState as S
from chungus.fleet.states import IN_ROTATION


@dataclass(frozen=True, slots=True)
class PublicModel:
    """A model as anyone may see it: no backend addresses."""

    name: str
    engines: list[str]
    healthy: int
    backends: int

    @property
    def state(self) -> str:
        if self.backends and self.healthy == self.backends:
            return "healthy"
        return "degraded" if self.healthy else "unavailable"


def public_models() -> list[PublicModel]:
    """Every model with how many of its backends were healthy at the last check."""
    rows = []
    for model in Model.objects.prefetch_related("backends"):
        backends: list[Backend] = list(model.backends.all())
        rows.append(
            PublicModel(
                name=model.name,
                engines=sorted({b.get_engine_display() for b in backends}),
                healthy=sum(b.health in IN_ROTATION for b in backends),
                backends=len(backends),
            )
        )
    return rows


def models_with_backends() -> list[Model]:
    """Every model with its backends, for the operator."""
    return list(Model.objects.prefetch_related("backends"))


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    """A deployment and the one button the operator gets for it."""

    deployment: Deployment

    @property
    def action(self) -> str:
        """Which button: start for a stopped, failed or stopping deployment, else stop."""
        d = self.deployment
        asleep = d.state in (S.STOPPED, S.FAILED)
        return "start" if d.desired == "stopped" or asleep else "stop"


def deployments() -> list[DeploymentRow]:
    """Every deployment, for the operator's table."""
    return [DeploymentRow(d) for d in Deployment.objects.all()]
