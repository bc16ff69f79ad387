"""Submitting, listing and cancelling jobs: what the CLI, the API and the dashboard call.

Owners see and cancel only their own jobs, superusers all (`visible_jobs`). Refusals are
JobRefused with an HTTP status and the parameter at fault, so every caller answers the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chungus.fleet.inventory.hosts import inventory
from chungus.fleet.jobs import ensembles
from chungus.fleet.jobs.kinds import registry
from chungus.fleet.jobs.kinds.base import SPEC_FILE, SpecError, write_json
from chungus.fleet.jobs.models import Job, Tier
from chungus.fleet.jobs.queueing import JobRefused, Submission, check_queue, new_workdir
from chungus.fleet.states import JOB_FINAL, JobState
from chungus.lib.names import InvalidName, check_name

__all__ = [
    "LAUNCHERS", "SMALL", "JobRefused", "Submission", "can_run_commands", "cancel", "find",
    "largest_node_gpus", "submit", "visible_jobs",
]  # fmt: skip
User = AbstractBaseUser | AnonymousUser
LAUNCHERS = ("local", "slurm", "ray")
SMALL = 64  # the most GPUs or CPU cores one job may ask for


def can_run_commands(user: Any) -> bool:
    return bool(user.is_superuser or user.has_perm("jobs.run_commands"))


def visible_jobs(user: Any) -> QuerySet[Job]:
    jobs = Job.objects.select_related("owner")
    return jobs if user.is_superuser else jobs.filter(owner=user)


def find(user: Any, job_id: Any) -> Job:
    """The job if `user` may see it; JobRefused 404 alike for missing and someone else's."""
    try:
        pk = int(job_id)
        if not 0 < pk < 2**63:  # past a database integer: no such job (and no crash)
            raise ValueError(pk)
        return visible_jobs(user).get(pk=pk)
    except (Job.DoesNotExist, TypeError, ValueError):
        raise JobRefused(f"no job {job_id}", 404, "job_id") from None


def largest_node_gpus() -> int:
    declared = settings.CHUNGUS_INVENTORY
    hosts = inventory(Path(declared) if declared else None)
    return max((len(h.gpus) for h in hosts), default=0)


def submit(user: Any, ask: Submission, gpu_limit: int | None = None) -> Job:
    """Validate and queue a job for `user`; JobRefused (4xx) if it cannot be."""
    try:
        kind = registry.get(ask.kind)
    except SpecError as exc:
        raise JobRefused(str(exc), 400, exc.param) from None
    if kind.operator_only and not can_run_commands(user):
        raise JobRefused(
            f"{kind.label} jobs are for operators: ask one for the jobs.run_commands permission",
            403, "kind",
        )  # fmt: skip
    _check_resources(ask, largest_node_gpus() if gpu_limit is None else gpu_limit)
    if ask.kind == "ensemble":
        return ensembles.submit_ensemble(user, ask)
    if ask.reference is not None:
        raise JobRefused("only ensemble jobs take a reference structure", 400, "reference_file")
    try:
        spec = kind.validate(ask.spec, ask.upload)
    except SpecError as exc:
        raise JobRefused(str(exc), 400, exc.param) from None
    with transaction.atomic():
        check_queue(user, 1)
        job = Job.objects.create(
            owner=user, kind=kind.name, name=ask.name[:200], spec=spec, tier=ask.tier,
            priority=ask.priority, gpus=ask.gpus, memory_mb=ask.memory_mb,
            cpu_cores=ask.cpu_cores, launcher=ask.launcher, grace_seconds=ask.grace_seconds,
            reason="queued: waiting for the scheduler",
        )  # fmt: skip
        workdir = new_workdir(job.pk)
        kind.save_inputs(spec, ask.upload, workdir)
        write_json(workdir / SPEC_FILE, {**spec, "cpu_cores": ask.cpu_cores})
    return job


def _check_resources(ask: Submission, gpus_here: int) -> None:
    def whole(name: str, value: Any, low: int, high: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise JobRefused(f"{name} must be a whole number from {low} to {high}", 400, name)

    whole("gpus", ask.gpus, 0, SMALL)
    whole("cpu_cores", ask.cpu_cores, 1, SMALL)
    whole("memory_mb", ask.memory_mb, 0, 10_000_000)
    whole("priority", ask.priority, -100, 100)
    whole("grace_seconds", ask.grace_seconds, 1, 3600)
    if ask.tier not in Tier.values:
        raise JobRefused(f"tier must be one of {', '.join(Tier.values)}", 400, "tier")
    if ask.launcher not in LAUNCHERS:
        raise JobRefused(f"launcher must be one of {', '.join(LAUNCHERS)}", 400, "launcher")
    if not isinstance(ask.name, str):
        raise JobRefused("name must be a string", 400, "name")
    if ask.name:  # optional: a job is known by its id
        try:
            check_name("job", ask.name)
        except InvalidName as exc:
            raise JobRefused(str(exc), 400, "name") from None
    if ask.launcher == "local" and ask.gpus > gpus_here:
        where = f"the largest node has {gpus_here}" if gpus_here else "there are no GPUs"
        raise JobRefused(f"the job asks for {ask.gpus} GPU(s); {where}", 400, "gpus")


def cancel(user: Any, job_id: Any) -> Job:
    """Cancel a job `user` may see: a queued one at once, a running one by the scheduler
    (SIGTERM, then its grace period). Cancelling a finished job changes nothing."""
    job = find(user, job_id)
    if job.state in JOB_FINAL:
        return job
    for replica in job.replicas.exclude(state__in=list(JOB_FINAL)).only("pk"):
        cancel(user, replica.pk)  # an ensemble's replicas end with it
    if job.state == JobState.QUEUED:
        moved = Job.objects.filter(pk=job.pk).move_state(
            "state", JobState, JobState.CANCELLED, f"job {job.pk}",
            reason=f"cancelled by {user.get_username()}", finished_at=timezone.now(),
        )  # fmt: skip
        if moved:
            job.refresh_from_db()
            return job
    Job.objects.filter(pk=job.pk).update(
        cancel_requested=True, reason=f"cancelling (asked by {user.get_username()})"
    )
    job.refresh_from_db()
    return job
