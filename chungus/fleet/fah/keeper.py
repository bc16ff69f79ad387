"""Keeps Folding@Home's client jobs in existence while it is enabled, and ends them when it
is not: called at the start of the scheduler's tick (under the reconciler's lease, so one
process at a time), it applies plan.py's decision to the job rows. The jobs themselves are
placed, preempted and resumed by the job scheduler like any background job.

Client jobs belong to the account OWNER (no password, inactive: nobody signs in as it).
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from chungus.fleet.fah.kind import KIND
from chungus.fleet.fah.models import FahSetting
from chungus.fleet.fah.plan import ClientJob, Plan, Want, plan
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds.base import SPEC_FILE, write_json
from chungus.fleet.jobs.models import Job, Tier
from chungus.fleet.states import JOB_FINAL, JobState

logger = logging.getLogger("chungus.fleet")
OWNER = "folding-at-home"
JOB_NAME = "folding-at-home"
CANCELLER = "chungus fah"  # in "cancelled by chungus fah after 12 s"
LIVE_FIELDS = ("id", "state", "spec", "cancel_requested")


def live_jobs() -> list[dict[str, Any]]:
    """The client jobs not yet final, oldest first."""
    rows = Job.objects.filter(kind=KIND.name).exclude(state__in=list(JOB_FINAL))
    return list(rows.order_by("id").values(*LIVE_FIELDS))


def ended_alone_ago() -> float | None:
    """Seconds since the last client job ended without being cancelled (crashed, refused)."""
    ended = Job.objects.filter(kind=KIND.name, state__in=[JobState.SUCCEEDED, JobState.FAILED])
    last = ended.exclude(finished_at=None).order_by("-finished_at")
    at = last.values_list("finished_at", flat=True).first()
    return None if at is None else (timezone.now() - at).total_seconds()


def decide(setting: FahSetting, gpus_here: int, rows: list[dict[str, Any]]) -> Plan:
    live = [ClientJob(r["id"], r["state"], r["spec"]) for r in rows if not r["cancel_requested"]]
    want = Want(setting.enabled, setting.client_spec(), setting.gpus)
    return plan(want, gpus_here, live, ended_alone_ago() if setting.enabled else None)


def keep(gpus_here: int) -> Plan:
    """Create and cancel client jobs so that their number is the one wanted now."""
    setting = FahSetting.current()
    rows = live_jobs()
    if not setting.enabled and not rows:
        return Plan()
    decided = decide(setting, gpus_here, rows)
    why = "Folding@Home is disabled" if not setting.enabled else "the setting changed"
    # Asked to stop while it was being preempted: back in the queue, it is ended here.
    stuck = [r["id"] for r in rows if r["cancel_requested"] and r["state"] == JobState.QUEUED]
    for job_id in [*decided.cancel, *stuck]:
        cancel(job_id, why)
    if decided.create:
        owner = account()
        made = [create(owner, setting.client_spec()).pk for _ in range(decided.create)]
        logger.info("Folding@Home: queued client job(s) %s for idle GPUs", made)
    return decided


def cancel(job_id: int, why: str) -> None:
    """End a client job: a queued one at once, a running one by the scheduler (SIGTERM)."""
    rows = Job.objects.filter(pk=job_id, kind=KIND.name)
    now = timezone.now()
    reason = f"cancelled by {CANCELLER}: {why}"
    if not rows.filter(state=JobState.QUEUED).update(
        state=JobState.CANCELLED, reason=reason, finished_at=now, updated_at=now
    ):
        rows.exclude(state__in=list(JOB_FINAL)).update(
            cancel_requested=True, reason=f"cancelling ({why}) (asked by {CANCELLER})"
        )
    logger.info("Folding@Home: cancelling client job %s: %s", job_id, why)


def create(owner: Any, spec: dict[str, Any]) -> Job:
    """Queue one client job: one GPU, the background tier, a short grace period."""
    with transaction.atomic():
        job = Job.objects.create(
            owner=owner, kind=KIND.name, name=JOB_NAME, spec=spec, tier=Tier.BACKGROUND,
            gpus=1, memory_mb=0,
            # Its CPU is not reserved: the scheduler preempts for GPUs only, and background
            # work must never keep a batch job waiting for a core.
            cpu_cores=0,
            launcher="local", grace_seconds=settings.CHUNGUS_FAH_GRACE_SECONDS,
            reason="queued: waiting for an idle GPU",
        )  # fmt: skip
        workdir = job_dir(job.pk)
        if workdir.exists():  # left by a database that was reset: never mix two jobs' files
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        write_json(workdir / SPEC_FILE, {**spec, "cpu_cores": 0, "created": time.time()})
    return job


def account() -> Any:
    """The account client jobs belong to (created inactive, with no usable password)."""
    users = get_user_model().objects
    field = users.model.USERNAME_FIELD
    found = users.filter(**{field: OWNER}).first()
    if found is not None:
        return found
    try:
        return users.create_user(**{field: OWNER}, password=None, is_active=False)
    except IntegrityError:  # another process made it a moment ago
        return users.get(**{field: OWNER})
