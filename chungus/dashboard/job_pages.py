"""What the job pages show: rows for the list, events in words, outputs, the log's tail.

Everything here reads the job's row or its directory and never raises for a job whose
process has written nothing yet (queued), or whose kind CHUNGUS no longer knows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet

from chungus.fleet.jobs.files import LOG_FILE, job_dir
from chungus.fleet.jobs.kinds import registry
from chungus.fleet.jobs.kinds.base import Output, SpecError
from chungus.fleet.jobs.kinds.md import kind as md
from chungus.fleet.jobs.models import Job
from chungus.fleet.jobs.submit import visible_jobs
from chungus.fleet.states import JOB_FINAL, JobState

logger = logging.getLogger("chungus.dashboard")
LIST_LIMIT = 200  # newest first; older jobs stay reachable by their page and the API
LOG_TAIL_BYTES = 64 * 1024
LOG_TAIL_LINES = 200
MD_KIND = "md"  # the kind with charts and a molecule viewer
ENSEMBLE_KIND = "ensemble"  # replicas' curves on one chart, the best beside the reference
MAX_POINTS = 1500  # per energy series: every row of a long run would only slow the page


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as the pages show it."""

    job: Job

    @property
    def percent(self) -> float:
        return round(max(0.0, min(1.0, self.job.progress)) * 100, 1)

    @property
    def final(self) -> bool:
        return self.job.state in JOB_FINAL

    @property
    def cancellable(self) -> bool:
        return not self.final and not self.job.cancel_requested

    @property
    def placement(self) -> str:
        """Where it runs (or ran last), e.g. "GPU 0, 1 of gpu-01"; what it asks while queued."""
        job = self.job
        if job.gpu_indices and job.state != JobState.QUEUED:
            gpus = ", ".join(str(g) for g in job.gpu_indices)
            return f"GPU {gpus}" + (f" of {job.node}" if job.node else "")
        if job.node and job.state != JobState.QUEUED:
            return f"CPU of {job.node}"
        return f"asks {job.gpus} GPU{'s' if job.gpus != 1 else ''}" if job.gpus else "CPU"

    @property
    def label(self) -> str:
        return self.job.name or f"{self.job.kind} job"

    @property
    def has_charts(self) -> bool:
        return self.job.kind == MD_KIND

    @property
    def is_ensemble(self) -> bool:
        return self.job.kind == ENSEMBLE_KIND


def job_rows(user: Any) -> tuple[list[JobRow], int]:
    """The newest jobs `user` may see (theirs; a superuser's: everyone's), and how many in all."""
    jobs: QuerySet[Job] = visible_jobs(user)
    return [JobRow(job) for job in jobs[:LIST_LIMIT]], jobs.count()


@dataclass(frozen=True, slots=True)
class EventLine:
    time: datetime | None
    event: str
    words: str


def event_lines(events: list[dict[str, Any]]) -> list[EventLine]:
    """The job's events, oldest first, each said in words."""
    lines = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        moment = event.get("time")
        when = datetime.fromtimestamp(moment, UTC) if isinstance(moment, int | float) else None
        name = str(event.get("event", "?"))
        lines.append(EventLine(when, name, event_words(name, event)))
    return lines


def event_words(name: str, event: dict[str, Any]) -> str:
    """One event in words, e.g. "preempted by llama: GPU handed over in 2.1 s"."""
    gpus = event.get("gpus") or []
    where = f"GPU {', '.join(map(str, gpus))} of " if gpus else "CPU of " if "gpus" in event else ""
    node = f"{where}{event['node']}" if event.get("node") else ""
    took = f" after {event['seconds']:g} s" if isinstance(event.get("seconds"), int | float) else ""
    code = event.get("exit_code")
    if name in ("started", "resumed"):
        attempt = f" (attempt {event['attempt']})" if event.get("attempt") else ""
        return f"{name} on {node or 'its node'}{attempt}"
    if name == "preempted":
        words = f"preempted by {event.get('by', 'a higher tier')}"
        if isinstance(event.get("handover_seconds"), int | float):
            words += f": GPU handed over in {event['handover_seconds']:g} s"
        if event.get("checkpoint_step") is not None:
            words += f", checkpoint at step {event['checkpoint_step']}"
        return words + (f" (ran {event['seconds']:g} s)" if took else "")
    if name == "cancelling":
        return f"cancel asked by {event.get('by', 'its owner')}"
    if name == "adopted":
        return f"followed again by a new CHUNGUS process{' on ' + node if node else ''}"
    if name in ("succeeded", "failed", "cancelled", "requeued"):
        exit_words = f" (exit code {code})" if code is not None else ""
        return f"{name}{took}{exit_words}"
    extra = {k: v for k, v in event.items() if k not in ("time", "event")}
    return name + (" " + ", ".join(f"{k}={v}" for k, v in extra.items()) if extra else "")


def outputs(job: Job) -> list[Output]:
    """The files the job's kind offers for download now (none while it has written none)."""
    try:
        return registry.get(job.kind).outputs(job_dir(job.pk))
    except SpecError:
        return []
    except Exception:  # a kind's reader must never take the page down
        logger.exception("job %s: listing its outputs failed", job.pk)
        return []


def log_tail(job_id: int) -> str:
    """The last lines of the job's log (job.log), or "" while there is none."""
    path = job_dir(job_id) / LOG_FILE
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is cut
    return "\n".join(lines[-LOG_TAIL_LINES:])


def energies(job: Job) -> dict[str, list[float | None]]:
    """An MD job's energies.csv by column, thinned to MAX_POINTS rows; {} while it has none."""
    if job.kind != MD_KIND:
        return {}
    try:
        columns = md.KIND.energies(job_dir(job.pk))
    except Exception:  # missing or half-written: the chart waits for the next refresh
        logger.debug("job %s: no energies yet", job.pk, exc_info=True)
        return {}
    return {name: thin(values, MAX_POINTS) for name, values in columns.items()}


def thin(values: list[float], most: int) -> list[float | None]:
    """At most `most` of `values`, evenly spaced, always keeping the last; NaN and inf as None
    (JSON has neither)."""
    step = max(1, math.ceil(len(values) / most))
    picked = list(values[::step])
    if values and (len(values) - 1) % step:
        picked.append(values[-1])
    return [v if isinstance(v, int | float) and math.isfinite(v) else None for v in picked]


def trajectory(job: Job) -> str:
    """An MD job's trajectory as a multi-model PDB for the viewer; "" while it has none."""
    if job.kind != MD_KIND:
        return ""
    try:
        return md.KIND.trajectory_pdb(job_dir(job.pk))
    except Exception:
        logger.debug("job %s: no trajectory yet", job.pk, exc_info=True)
        return ""
