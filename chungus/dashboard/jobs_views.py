"""The Jobs page and one job's page: owners see their own jobs, superusers everyone's.

Someone else's job answers 404, as a missing one does (fleet.jobs.submit.find).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from chungus.core.audit import actor_of, audit
from chungus.dashboard import job_pages
from chungus.dashboard.access import signed_in_required
from chungus.fleet.jobs import submit
from chungus.fleet.jobs.models import Job

JobView = Callable[..., HttpResponse]


def with_job(view: JobView) -> JobView:
    """Pass the job the signed-in user may see instead of its id; 404 for any other."""

    @wraps(view)
    def wrapped(request: HttpRequest, job_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            job = submit.find(request.user, job_id)
        except submit.JobRefused:
            raise Http404(f"no job {job_id}") from None
        return view(request, job, *args, **kwargs)

    return signed_in_required(wrapped)


def _list_context(request: HttpRequest) -> dict[str, Any]:
    rows, total = job_pages.job_rows(request.user)
    return {"rows": rows, "total": total, "everyone": request.user.is_superuser}


@require_GET
@signed_in_required
def jobs(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/jobs.html", _list_context(request))


@require_GET
@signed_in_required
def jobs_table(request: HttpRequest) -> HttpResponse:
    """The job table alone, for htmx to refresh."""
    return render(request, "dashboard/_jobs_table.html", _list_context(request))


def _job_context(job: Job, part: str) -> dict[str, Any]:
    return {
        "part": part,
        "row": job_pages.JobRow(job),
        "job": job,
        "events": job_pages.event_lines(job.events),
        "outputs": job_pages.outputs(job),
        "log": job_pages.log_tail(job.pk),
    }


@require_GET
@ensure_csrf_cookie
@with_job
def job(request: HttpRequest, job: Job) -> HttpResponse:
    context = {**_job_context(job, ""), "spec_json": json.dumps(job.spec, indent=2)}
    return render(request, "dashboard/job.html", context)


@require_GET
@with_job
def job_live(request: HttpRequest, job: Job) -> HttpResponse:
    """The job page's live parts (state, progress, events, outputs, log), for htmx."""
    return render(request, "dashboard/_job_live.html", _job_context(job, "both"))


@require_GET
@with_job
def job_energies(request: HttpRequest, job: Job) -> JsonResponse:
    """An MD job's energies by column (as its kind reads energies.csv), its state, and its
    speed as last measured (energies.csv has no speed column)."""
    speed = job.progress_detail.get("ns_per_day") if isinstance(job.progress_detail, dict) else None
    return JsonResponse(
        {"state": job.state, "columns": job_pages.energies(job), "ns_per_day": speed}
    )


@require_GET
@with_job
def job_trajectory(request: HttpRequest, job: Job) -> HttpResponse:
    """An MD job's trajectory as one multi-model PDB (empty while it has none)."""
    response = HttpResponse(job_pages.trajectory(job), content_type="chemical/x-pdb")
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@with_job
def job_cancel(request: HttpRequest, job: Job) -> HttpResponse:
    """Cancel (CSRF-checked by Django's middleware like every POST)."""
    cancelled = submit.cancel(request.user, job.pk)
    audit(actor_of(request), "job.cancel", f"job {job.pk}", {"state": cancelled.state})
    messages.success(request, f"Job {job.pk}: {cancelled.reason or cancelled.state}.")
    return redirect("job", job_id=job.pk)
