"""Database reads and writes for the job scheduler (run off the event loop)."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import F
from django.utils import timezone

from chungus.fleet.jobs.models import GpuHold, Job
from chungus.fleet.states import JOB_ACTIVE, JobState
from chungus.lib.dbthreads import fresh_connection

FIELDS = (
    "id", "owner_id", "kind", "spec", "tier", "priority", "gpus", "memory_mb", "cpu_cores",
    "launcher", "grace_seconds", "state", "reason", "cancel_requested", "attempts", "handle",
    "node", "gpu_indices", "created_at", "parent_id", "retries", "max_retries", "progress",
    "progress_summary",
)  # fmt: skip
MAX_QUEUED_READ = 5000  # queued jobs offered GPUs per tick, oldest first within a priority


def active() -> list[dict[str, Any]]:
    """Jobs that run, or should: placing, running, preempting."""
    return list(Job.objects.filter(state__in=list(JOB_ACTIVE)).values(*FIELDS))


def queued() -> list[dict[str, Any]]:
    rows = Job.objects.filter(state=JobState.QUEUED, cancel_requested=False)
    return list(rows.order_by("-priority", "id").values(*FIELDS)[:MAX_QUEUED_READ])


def cancel_requested(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def move(job_id: int, state: JobState, reason: str, **changes: Any) -> bool:
    """Move a job to `state` if its table allows it (IllegalTransition if not)."""
    changes.setdefault("updated_at", timezone.now())
    if state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        changes.setdefault("finished_at", timezone.now())
    rows = Job.objects.filter(pk=job_id)
    return rows.move_state("state", JobState, state, f"job {job_id}", reason=reason[:1000],
                           **changes)  # fmt: skip


def started(job_id: int, state: JobState, reason: str, node: str, gpus: list[int],
            handle: dict[str, Any]) -> bool:  # fmt: skip
    now = timezone.now()
    moved = move(
        job_id, state, reason, node=node, gpu_indices=gpus, handle=handle,
        running_since=now, attempts=F("attempts") + 1, exit_code=None,
    )  # fmt: skip
    Job.objects.filter(pk=job_id, started_at=None).update(started_at=now)
    return moved


def save_progress(job_id: int, fraction: float, summary: str, detail: dict[str, Any]) -> None:
    Job.objects.filter(pk=job_id).update(
        progress=fraction, progress_summary=summary[:300], progress_detail=detail
    )


def set_reason(job_id: int, reason: str) -> None:
    Job.objects.filter(pk=job_id).update(reason=reason[:1000], updated_at=timezone.now())


def count_preemption(job_id: int) -> None:
    Job.objects.filter(pk=job_id).update(preemptions=F("preemptions") + 1)


def add_gpu_seconds(job_id: int, seconds: float, **changes: Any) -> None:
    Job.objects.filter(pk=job_id).update(gpu_seconds=F("gpu_seconds") + seconds, **changes)


def add_event(job_id: int, event: str, **detail: Any) -> None:
    """Append to the job's event list (started, preempted, resumed, ...)."""
    job = Job.objects.filter(pk=job_id).only("events").first()
    if job is None:
        return
    events = [*job.events, {"time": time.time(), "event": event, **detail}][-200:]
    Job.objects.filter(pk=job_id).update(events=events)


def hold(holder: str, name: str, node: str, gpus: list[int] | tuple[int, ...]) -> None:
    """Record that `holder` `name` now holds these GPUs (the GPU timeline)."""
    now = int(time.time())
    GpuHold.objects.bulk_create(
        [GpuHold(node=node, gpu=g, holder=holder, name=name, started=now) for g in gpus]
    )


def release(holder: str, name: str) -> None:
    GpuHold.objects.filter(holder=holder, name=name, ended=None).update(ended=int(time.time()))


@fresh_connection  # the first query of a new leader's first tick
def release_all() -> None:
    """A new scheduler takes over: what the last one recorded as held is re-recorded as found."""
    GpuHold.objects.filter(ended=None).update(ended=int(time.time()))
