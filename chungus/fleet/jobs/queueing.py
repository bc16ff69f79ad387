"""What every submission shares (the CLI, the API, ensembles): the ask, the refusal, the
owner's queue limit and a fresh job directory."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds.base import Upload
from chungus.fleet.jobs.models import Job, Tier
from chungus.fleet.states import JobState
from chungus.lib.env import envint


class JobRefused(Exception):
    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param = status, param


@dataclass
class Submission:
    kind: str
    spec: dict[str, Any] = field(default_factory=dict)
    upload: Upload | None = None
    name: str = ""
    tier: str = Tier.BATCH
    priority: int = 0
    gpus: int = 0
    memory_mb: int = 0
    cpu_cores: int = 1
    launcher: str = "local"
    grace_seconds: int = 30
    reference: Upload | None = None  # an ensemble's native structure (kinds/ensemble)


def check_queue(user: Any, adding: int) -> None:
    """JobRefused (429) if `adding` more queued jobs would pass the owner's limit (run in
    the transaction that adds them)."""
    limit = envint("CHUNGUS_JOBS_MAX_QUEUED", 100, minimum=1)
    queued = Job.objects.filter(owner=user, state=JobState.QUEUED).count()
    if queued + adding > limit:
        more = f"; this adds {adding}" if adding > 1 else ""
        raise JobRefused(f"you have {queued} queued jobs{more}; the limit is {limit}", 429)


def new_workdir(job_id: int) -> Path:
    """The job's directory, made empty (one left by a database that was reset is removed:
    never mix two jobs' files)."""
    workdir = job_dir(job_id)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    return workdir
