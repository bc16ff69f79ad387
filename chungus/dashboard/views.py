"""The home page, the operator dashboard, the audit log and the playground."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from chungus.core.models import AuditEntry
from chungus.dashboard.access import superuser_required
from chungus.dashboard.gpu_panel import gpu_slots
from chungus.dashboard.tables import deployments, models_with_backends, public_models
from chungus.engines import registry
from chungus.fleet.lifecycle import declare as deploying
from chungus.fleet.models import Routing

AUDIT_PAGE_ROWS = 200


def home(request: HttpRequest) -> HttpResponse:
    models = public_models()
    context = {
        "models": models,
        "base_url": request.build_absolute_uri("/v1"),
        "example_model": models[0].name if models else "MODEL",
    }
    return render(request, "dashboard/home.html", context)


def home_models(request: HttpRequest) -> HttpResponse:
    """The home page's model table alone, for htmx to refresh."""
    return render(request, "dashboard/_public_models.html", {"models": public_models()})


@ensure_csrf_cookie
@superuser_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        "models": models_with_backends(),
        "engines": registry.choices(),
        "routings": Routing.choices,
        "deployments": deployments(),
        "deploy_engines": [(e.name, e.label) for e in registry.launchable()],
        "launchers": deploying.LAUNCHERS,
        "gpu_slots": gpu_slots(),
    }
    return render(request, "dashboard/dashboard.html", context)


@superuser_required
def backends(request: HttpRequest) -> HttpResponse:
    """The dashboard's backend table alone, for htmx to refresh."""
    return render(request, "dashboard/_backends.html", {"models": models_with_backends()})


@superuser_required
def deployments_table(request: HttpRequest) -> HttpResponse:
    """The dashboard's deployment table alone, for htmx to refresh."""
    return render(request, "dashboard/_deployments.html", {"deployments": deployments()})


@superuser_required
def gpu_panel(request: HttpRequest) -> HttpResponse:
    """The dashboard's table of GPUs and what holds each now, for htmx to refresh."""
    return render(request, "dashboard/_gpu_slots.html", {"gpu_slots": gpu_slots()})


@superuser_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The newest management actions, for operators."""
    entries = AuditEntry.objects.all()[:AUDIT_PAGE_ROWS]
    return render(request, "dashboard/audit.html", {"entries": entries, "limit": AUDIT_PAGE_ROWS})


@ensure_csrf_cookie
@login_required
def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/playground.html")
