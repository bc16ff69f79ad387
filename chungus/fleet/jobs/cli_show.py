"""What `chungus jobs show`, `list` and `outputs` print: plain text from a job's row."""

from __future__ import annotations

import json

from chungus.fleet.jobs import details
from chungus.fleet.jobs.cli_progress import progress_line, said
from chungus.fleet.jobs.models import Job


def state_line(job: Job) -> str:
    return said(job.state, job.reason)


def bar(job: Job) -> str:
    return progress_line(
        job.state, job.reason, job.progress, job.progress_detail or {}, job.progress_summary
    )


def list_row(job: Job) -> list[str]:
    return [
        str(job.pk), job.kind, job.name or "-", job.owner.get_username(), job.state,
        f"{job.progress * 100:.0f}%", str(job.gpus), job.created_at.strftime("%Y-%m-%d %H:%M"),
        job.progress_summary or job.reason,
    ]  # fmt: skip


LIST_HEADER = ["ID", "KIND", "NAME", "OWNER", "STATE", "DONE", "GPUS", "CREATED", "DETAIL"]


def describe(job: Job) -> str:
    """Everything about one job, as `key: value` lines, its spec, events and outputs."""
    where = f" ({', '.join(map(str, job.gpu_indices))} on {job.node})" if job.gpu_indices else ""
    memory = f"{job.memory_mb} MB per GPU, " if job.memory_mb else ""
    lines = [
        f"Job {job.pk}: {job.kind}" + (f" {job.name!r}" if job.name else "")
        + f", by {job.owner.get_username()}",
        f"State:      {state_line(job)}"
        + (" (cancel requested)" if job.cancel_requested and job.state != "cancelled" else ""),
        f"Progress:   {bar(job)}",
        f"Resources:  {job.gpus} GPU(s){where}, {job.cpu_cores} CPU core(s), {memory}"
        f"{job.launcher} launcher, {job.tier} tier rank {job.priority}, "
        f"grace {job.grace_seconds} s",
        f"Attempts:   {job.attempts}, preempted {job.preemptions} time(s), "
        f"GPU time {job.gpu_seconds:.1f} s"
        + (f", exit code {job.exit_code}" if job.exit_code is not None else ""),
        f"Created:    {job.created_at.isoformat(timespec='seconds')}",
    ]  # fmt: skip
    if job.started_at:
        lines.append(f"Started:    {job.started_at.isoformat(timespec='seconds')}")
    if job.finished_at:
        lines.append(f"Finished:   {job.finished_at.isoformat(timespec='seconds')}")
    if job.parent_id:
        lines.append(f"Replica of: ensemble job {job.parent_id}")
    if job.kind == "ensemble":
        lines.append("Replicas:")
        lines += [f"  {_replica(r)}" for r in job.replicas.order_by("id")]
    lines.append("Spec:")
    lines += [f"  {key}: {json.dumps(value)}" for key, value in sorted(job.spec.items())]
    if job.events:
        lines.append("Events:")
        lines += [f"  {_event(event)}" for event in job.events]
    found = details.outputs(job)
    if found:
        lines.append("Outputs:")
        lines += [f"  {o.name}  {size(o.size_bytes)}  {o.description}" for o in found]
    return "\n".join(lines)


def _replica(job: Job) -> str:
    retried = f", retried {job.retries}x" if job.retries else ""
    return (f"{job.pk}  {job.state:<10} {job.progress * 100:3.0f}%  "
            f"{job.progress_summary or job.reason}{retried}")  # fmt: skip


def _event(event: object) -> str:
    if not isinstance(event, dict):
        return str(event)
    rest = {k: v for k, v in event.items() if k not in ("time", "event", "detail")}
    text = " ".join(str(event.get(k, "")) for k in ("time", "event", "detail")).strip()
    return f"{text} {json.dumps(rest, sort_keys=True)}" if rest else text


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"
