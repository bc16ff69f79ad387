"""/api/jobs/…: batch jobs (molecular dynamics, commands) on the shared GPU pool.

Unlike the rest of the API, any active user may call these, with their own key or session:
each sees and cancels their own jobs, a superuser everyone's; anyone else's job answers 404.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from django.http import FileResponse, HttpRequest
from ninja import Query, Router, Status

from chungus.api import jobs_services as services
from chungus.api.jobs_auth import UserKey, UserSession
from chungus.api.jobs_schemas import (
    EnsembleOut,
    JobList,
    JobReply,
    JobSubmit,
    KindList,
    LogOut,
)
from chungus.api.schemas import errors
from chungus.core.audit import actor_of
from chungus.fleet.states import JobState

router = Router(tags=["jobs"], auth=[UserKey(), UserSession()])
Reply = dict[str, Any]


def _submit_body() -> dict[str, Any]:
    """Both bodies POST /api/jobs/ reads (it parses the body itself to take either)."""
    as_json = JobSubmit.model_json_schema()
    form = {
        **as_json,
        "properties": {
            **as_json["properties"],
            "spec": {"type": "string", "description": "a JSON object (or its keys as fields)"},
            services.UPLOAD_FIELD: {
                "type": "string",
                "format": "binary",
                "description": "md, ensemble: a structure to simulate (PDB or PDBx/mmCIF)",
            },
            services.REFERENCE_FIELD: {
                "type": "string",
                "format": "binary",
                "description": "ensemble: the native structure (PDB) for RMSD and native "
                "contacts (default: the starting structure)",
            },
        },
    }
    content = {"application/json": {"schema": as_json}, "multipart/form-data": {"schema": form}}
    return {"requestBody": {"required": True, "content": content}}


_FILE = {"description": "the file", "content": {"application/octet-stream": {}}}


@router.get("/", response={200: JobList, **errors(422)})
def list_jobs(
    request: HttpRequest, state: JobState | None = None, limit: int = Query(100, ge=1, le=1000)
) -> Reply:
    """List your jobs (a superuser: everyone's), newest first, optionally in one state."""
    return {"jobs": services.jobs(services.caller(request), state, limit)}


@router.post(
    "/", response={201: JobReply, **errors(400, 413, 422, 429)}, openapi_extra=_submit_body()
)
def submit_job(request: HttpRequest) -> Status[Reply]:
    """Queue a job: JSON, or multipart with a `structure_file` upload (md).

    400: a spec the kind refuses (the parameter at fault in `param`), or more GPUs than a
    node has; 403: a command job from a non-operator; 422: a field of the wrong type or out
    of range; 429: too many of your jobs queued already (CHUNGUS_JOBS_MAX_QUEUED).
    """
    job = services.submit_job(services.caller(request), request)
    return Status(201, {"job": services.detail(job)})


@router.get("/kinds/", response={200: KindList, **errors()})
def job_kinds(request: HttpRequest) -> Reply:
    """The kinds of job, whether you may submit each, and the packaged md structures."""
    return services.kinds(services.caller(request))


@router.get("/{int:job_id}/", response={200: JobReply, **errors(404)})
def get_job(request: HttpRequest, job_id: int) -> Reply:
    """One job: its state and reason, spec, progress, events and outputs."""
    return {"job": services.detail(services.find(services.caller(request), job_id))}


@router.post("/{int:job_id}/cancel/", response={200: JobReply, **errors(404)})
def cancel_job(request: HttpRequest, job_id: int) -> Reply:
    """Cancel a job: a queued one at once, a running one after its grace period to stop.

    A finished job stays as it is."""
    job = services.cancel(services.caller(request), job_id, actor_of(request))
    return {"job": services.detail(job)}


@router.get("/{int:job_id}/ensemble/", response={200: EnsembleOut, **errors(404)})
def ensemble_analysis(request: HttpRequest, job_id: int) -> Reply:
    """An ensemble's analysis: per replica, RMSD to the reference, radius of gyration and
    fraction of native contacts per frame, and the pooled summary (best replica, lowest RMSD,
    fraction below the threshold). Partial while replicas run; 404 for other kinds."""
    return services.ensemble(services.caller(request), job_id)


@router.get("/{int:job_id}/log/", response={200: LogOut, **errors(404, 422)})
def job_log(request: HttpRequest, job_id: int, lines: int = Query(200, ge=1, le=10_000)) -> Reply:
    """The last lines of the job's log (its process's output)."""
    return services.log(services.caller(request), job_id, lines)


@router.get(
    "/{int:job_id}/outputs/{path:name}",
    response={200: None, **errors(404)},
    openapi_extra={"responses": {200: _FILE}},
    url_name="job_output",
)
def download_output(request: HttpRequest, job_id: int, name: str) -> FileResponse:
    """Download one of the outputs the job's detail lists, by its name."""
    found = services.output(services.caller(request), job_id, name)
    return FileResponse(
        found.path.open("rb"),
        as_attachment=True,
        filename=PurePosixPath(found.name).name,
        content_type=found.media_type,
    )
