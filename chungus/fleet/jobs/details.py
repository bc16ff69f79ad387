"""What a user reads of a job beyond its row: its outputs and the tail of its log.

The API and the CLI both answer from here, so they list and serve the same files. Only the
names a job's kind lists are served, and files.output_path refuses any that leave the job's
directory: a name in a URL is looked up, never joined blindly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chungus.fleet.jobs.files import LOG_FILE, job_dir, output_path
from chungus.fleet.jobs.kinds import registry
from chungus.fleet.jobs.kinds.base import SpecError
from chungus.fleet.jobs.models import Job

TAIL_BYTES = 1024 * 1024  # the most of a log read for a tail, however long the log is


@dataclass(frozen=True, slots=True)
class OutputFile:
    name: str
    description: str
    media_type: str
    size_bytes: int
    path: Path


@dataclass(frozen=True, slots=True)
class LogTail:
    text: str
    size_bytes: int  # of the whole log
    truncated: bool  # the log has more before `text`


def outputs(job: Job) -> list[OutputFile]:
    """The files of `job` a user may download now (none while its kind is unknown here)."""
    try:
        kind = registry.get(job.kind)
    except SpecError:
        return []
    found = []
    for output in kind.outputs(job_dir(job.pk)):
        path = output_path(job.pk, output.name)
        if path is not None:
            found.append(
                OutputFile(
                    output.name, output.description, output.media_type, path.stat().st_size, path
                )
            )
    return found


def output_file(job: Job, name: str) -> OutputFile | None:
    """The output called `name`, if the job's kind lists it and it is inside its directory."""
    return next((output for output in outputs(job) if output.name == name), None)


def log_tail(job: Job, lines: int) -> LogTail:
    """The last `lines` lines of the job's log (at most TAIL_BYTES of it); empty if none yet."""
    path = job_dir(job.pk) / LOG_FILE
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES)
            handle.seek(start)
            data = handle.read(TAIL_BYTES)
    except OSError:
        return LogTail("", 0, False)
    kept = data.splitlines(keepends=True)
    if start > 0 and kept:
        kept = kept[1:]  # a line cut by the byte limit
    tail = kept[-lines:] if lines > 0 else []
    return LogTail(b"".join(tail).decode(errors="replace"), size, start > 0 or len(kept) > lines)
