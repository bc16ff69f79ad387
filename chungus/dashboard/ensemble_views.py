"""An ensemble's page parts: its analysis as JSON for the charts, and the two structures
for the 3D viewers (the page itself is the job page, dashboard/job.html)."""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from chungus.dashboard import ensemble_pages
from chungus.dashboard.jobs_views import with_job
from chungus.fleet.jobs.models import Job


def _ensemble(job: Job) -> Job:
    if job.kind != "ensemble":
        raise Http404(f"job {job.pk} is not an ensemble")
    return job


@require_GET
@with_job
def ensemble_json(request: HttpRequest, job: Job) -> JsonResponse:
    """Curves per replica and the pooled summary (partial while replicas run)."""
    return JsonResponse(ensemble_pages.charts(_ensemble(job)))


@require_GET
@with_job
def ensemble_structures(request: HttpRequest, job: Job) -> HttpResponse:
    """{"best": PDB, "reference": PDB, "replica", "frame", "rmsd_nm"}: the best replica's
    frame closest to the reference, superposed on it."""
    shown, native, found = ensemble_pages.structures(_ensemble(job))
    body = {"best": shown, "reference": native, "replica": found.replica,
            "frame": found.frame, "rmsd_nm": found.rmsd_nm}  # fmt: skip
    response = HttpResponse(json.dumps(body), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
