"""What /api/jobs/ does: read a submission from a JSON or multipart body, and answer
chungus.fleet.jobs.submit's refusals in the API's envelope. Views only translate.

Which jobs a caller sees is submit.visible_jobs' rule: their own, a superuser's all;
anyone else's job is a 404 like a job that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pydantic
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from ninja.errors import ValidationError

from chungus.api.jobs_schemas import JobSubmit
from chungus.api.schemas import storable
from chungus.core.audit import Actor, actor_of, audit
from chungus.fleet.jobs import details, ensembles, submit
from chungus.fleet.jobs.kinds import registry
from chungus.fleet.jobs.kinds.base import Upload
from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.models import Job
from chungus.fleet.states import JobState
from chungus.lib.openai_errors import (
    APIError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unprocessable,
)

UPLOAD_FIELD = "structure_file"
REFERENCE_FIELD = "reference_file"  # an ensemble's native structure
FILE_FIELDS = (UPLOAD_FIELD, REFERENCE_FIELD)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # a large solvated system's PDB is a few MB
MAX_SPEC_DEPTH = 16
FORM_TEXT = {"kind", "name", "tier", "launcher"}  # form fields kept as text, never read as JSON
_REFUSALS: dict[int, type[APIError]] = {
    400: InvalidRequest, 403: Forbidden, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
    422: Unprocessable, 429: RateLimited,
}  # fmt: skip
_CODES = {400: "invalid_job", 429: "too_many_queued_jobs"}


def caller(request: HttpRequest) -> Any:
    """The user the router's auth classes found (ninja sets it on the request)."""
    return request.auth  # type: ignore[attr-defined]


@contextmanager
def refusals() -> Iterator[None]:
    """Answer submit.JobRefused with its status and parameter in OpenAI's envelope."""
    try:
        yield
    except submit.JobRefused as exc:
        error = _REFUSALS.get(exc.status, InvalidRequest)
        raise error(str(exc), param=exc.param, code=_CODES.get(exc.status)) from None


def submit_job(user: Any, request: HttpRequest) -> Job:
    """Queue the job the request's body describes, for `user`."""
    fields, (upload, reference) = read_body(request)
    _check_spec(fields.get("spec"))
    try:
        data = JobSubmit.model_validate(fields)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [{"loc": ("body", "data", *e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        ) from None
    ask = submit.Submission(upload=upload, reference=reference, **data.model_dump())
    with refusals():
        job = submit.submit(user, ask)
    audit(actor_of(request), "job.submit", f"job {job.pk}", {"kind": job.kind, "name": job.name})
    return job


Uploads = tuple[Upload | None, Upload | None]  # the structure, an ensemble's reference


def read_body(request: HttpRequest) -> tuple[dict[str, Any], Uploads]:
    """The submission's fields and its uploads, from JSON or from a form."""
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _read_form(request)
    try:
        fields = json.loads(request.body or b"null", parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError: ValueErrors
        raise InvalidRequest(
            "The body is not valid JSON: send a JSON object, or a multipart form.",
            code="invalid_json",
        ) from None
    if not isinstance(fields, dict):
        raise InvalidRequest("The body must be a JSON object.", code="invalid_json")
    return fields, (None, None)


def _read_form(request: HttpRequest) -> tuple[dict[str, Any], Uploads]:
    try:
        form, files = request.POST, request.FILES
    except RequestDataTooBig:
        raise  # answered 413 by the API's handler
    except (MultiPartParserError, SuspiciousOperation) as exc:
        raise InvalidRequest(f"The form could not be read: {exc}", code="invalid_form") from None
    fields: dict[str, Any] = {}
    spec: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) != 1:
            raise InvalidRequest(f"{key} is given {len(values)} times.", param=key)
        if key == "spec":
            fields["spec"] = _json_object(values[0])
        elif key in FORM_TEXT:
            fields[key] = values[0]
        elif key in JobSubmit.model_fields:
            fields[key] = _form_value(values[0])
        else:
            spec[key] = _form_value(values[0])
    if spec:
        given = fields.setdefault("spec", {})
        twice = sorted(set(given) & set(spec))
        if twice:
            raise InvalidRequest(f"{twice[0]} is given in spec and as a field.", param=twice[0])
        given.update(spec)
    extra = sorted(set(files) - set(FILE_FIELDS))
    if extra:
        raise InvalidRequest(
            f"Unexpected file field {extra[0]!r}: send the structure as {UPLOAD_FIELD} (and an "
            f"ensemble's native structure as {REFERENCE_FIELD}).",
            param=extra[0],
        )
    return fields, (_upload(files, UPLOAD_FIELD), _upload(files, REFERENCE_FIELD))


def _upload(files: Any, field: str) -> Upload | None:
    sent = files.getlist(field)
    if not sent:
        return None
    if len(sent) > 1:
        raise InvalidRequest(f"Send one {field}, not {len(sent)}.", param=field)
    if sent[0].size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"{field} is larger than {MAX_UPLOAD_BYTES} bytes.", param=field)
    return Upload(filename=str(sent[0].name or ""), data=sent[0].read())


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest("spec must be a JSON object.", param="spec")
    return value


def _form_value(text: str) -> Any:
    """A form value: what it reads as in JSON ("0.1", "true", "[...]"), else the text."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")  # NaN and Infinity are not JSON


def _check_spec(spec: Any) -> None:
    """Refuse a spec nested deeper than any kind needs, or with text no database column
    holds (NUL, lone surrogates); the parameter named is the spec's key at fault."""
    if not isinstance(spec, dict):
        return  # JobSubmit says what is wrong
    todo: list[tuple[Any, str, int]] = [(spec, "spec", 0)]
    while todo:
        value, param, depth = todo.pop()
        if depth > MAX_SPEC_DEPTH:
            raise InvalidRequest(f"{param} is nested too deeply.", param=param)
        if isinstance(value, str):
            try:
                storable(value)
            except ValueError as exc:
                raise InvalidRequest(f"{param}: {exc}", param=param) from None
        elif isinstance(value, dict):
            for key, item in value.items():
                name = key if depth == 0 else param
                todo += [(key, name, depth + 1), (item, name, depth + 1)]
        elif isinstance(value, list):
            todo += [(item, param, depth + 1) for item in value]


# Reading jobs.


def jobs(user: Any, state: JobState | None, limit: int) -> list[dict[str, Any]]:
    found = submit.visible_jobs(user)
    if state is not None:
        found = found.filter(state=state)
    return [job.summary() for job in found[:limit]]


def find(user: Any, job_id: int) -> Job:
    with refusals():
        return submit.find(user, job_id)


def cancel(user: Any, job_id: int, actor: Actor) -> Job:
    with refusals():
        job = submit.cancel(user, job_id)
    audit(actor, "job.cancel", f"job {job.pk}", {"state": job.state})
    return job


def detail(job: Job) -> dict[str, Any]:
    """Everything a user sees of one job, with a download URL for each output."""
    outputs = [
        {
            "name": output.name,
            "description": output.description,
            "media_type": output.media_type,
            "size_bytes": output.size_bytes,
            "url": reverse(
                "management-api:job_output", kwargs={"job_id": job.pk, "name": output.name}
            ),
        }
        for output in details.outputs(job)
    ]
    return {
        **job.summary(),
        "spec": job.spec,
        "cpu_cores": job.cpu_cores,
        "memory_mb": job.memory_mb,
        "launcher": job.launcher,
        "grace_seconds": job.grace_seconds,
        "cancel_requested": job.cancel_requested,
        "exit_code": job.exit_code,
        "progress_detail": job.progress_detail,
        "events": job.events,
        "outputs": outputs,
        "replicas": [r.summary() for r in job.replicas.select_related("owner").order_by("id")]
        if job.kind == "ensemble" else [],
    }  # fmt: skip


def ensemble(user: Any, job_id: int) -> dict[str, Any]:
    """An ensemble's analysis: final once it has succeeded, else of what its replicas wrote
    so far (partial results while they run)."""
    job = find(user, job_id)
    if job.kind != "ensemble":
        raise NotFound(f"Job {job_id} is not an ensemble.", param="job_id")
    return {"job_id": job.pk, "state": job.state, **ensembles.partial(job)}


def output(user: Any, job_id: int, name: str) -> details.OutputFile:
    found = details.output_file(find(user, job_id), name)
    if found is None:
        raise NotFound(f"Job {job_id} has no output named {name!r}.", param="name")
    return found


def log(user: Any, job_id: int, lines: int) -> dict[str, Any]:
    tail = details.log_tail(find(user, job_id), lines)
    return {
        "job_id": job_id,
        "text": tail.text,
        "size_bytes": tail.size_bytes,
        "truncated": tail.truncated,
    }


def kinds(user: Any) -> dict[str, Any]:
    return {
        "kinds": [
            {
                "name": kind.name,
                "label": kind.label,
                "operator_only": kind.operator_only,
                "allowed": not kind.operator_only or submit.can_run_commands(user),
            }
            for kind in registry.KINDS.values()
        ],
        "structures": structures.catalogue(),
    }
