"""The job-kind contract: adding a kind of job is one module implementing JobKind.

    validate(spec, upload) -> spec      check and complete what a user asked (SpecError if bad)
    command(spec, workdir) -> JobCommand   the process that does the work, run in `workdir`
    progress(workdir) -> Progress       how far it is, read from what the process writes
    outputs(workdir) -> [Output]        the files a user downloads when it is done

A job's process runs in its own directory, CHUNGUS_HOME/jobs/<id>/ (shared with Slurm and
Ray nodes). It gets SIGTERM when it is preempted or cancelled and has a grace period to save
its work and exit; it is started again in the same directory to resume. Exit codes:
0 done, RESUMABLE (75) checkpointed after SIGTERM, PREPARATION_FAILED (2) its input is
wrong, anything else failed (run again from its checkpoint while the job has retries left:
a replica killed mid-run); a kind may write
ERROR_FILE ({"message": ...}) to say why it failed in a user's words.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESUMABLE = 75  # EX_TEMPFAIL: stopped on request with its work saved; run it again to resume
PREPARATION_FAILED = 2  # its input is at fault: running it again cannot help (never retried)
SPEC_FILE = "spec.json"  # the validated spec, written before the first start
PROGRESS_FILE = "progress.json"
ERROR_FILE = "error.json"
INPUT_DIR = "input"  # uploads, saved under names CHUNGUS chooses (never the user's)


class SpecError(ValueError):
    """A spec a kind refuses, with the parameter at fault (answered as a 400)."""

    def __init__(self, message: str, param: str = "spec") -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent with the job (a structure), kept under INPUT_DIR as `stored_name`."""

    filename: str  # as the user named it: only its extension is used
    data: bytes


@dataclass(frozen=True, slots=True)
class JobCommand:
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""  # empty: the job's directory


@dataclass(frozen=True, slots=True)
class Progress:
    fraction: float = 0.0  # 0..1
    summary: str = ""  # one line, e.g. "0.04 of 0.10 ns, 41.2 ns/day, ETA 2 min"
    detail: dict[str, Any] = field(default_factory=dict)  # the kind's own figures


@dataclass(frozen=True, slots=True)
class Output:
    name: str  # file name inside the job directory (relative path, built by the kind)
    description: str
    media_type: str = "application/octet-stream"


class JobKind(abc.ABC):
    name: str
    label: str
    operator_only: bool = False  # only superusers and allowed users may submit it

    @abc.abstractmethod
    def validate(self, spec: dict[str, Any], upload: Upload | None) -> dict[str, Any]:
        """Return the complete spec (defaults filled in); raise SpecError if it is wrong.

        Must be quick (it runs while the submitter waits) and must not write anything."""

    def save_inputs(self, spec: dict[str, Any], upload: Upload | None, workdir: Path) -> None:
        """Write the upload (if any) under workdir/INPUT_DIR; the default keeps none."""
        return None

    @abc.abstractmethod
    def command(self, spec: dict[str, Any], workdir: Path) -> JobCommand:
        """The process to start (and start again to resume) in `workdir`."""

    @abc.abstractmethod
    def progress(self, workdir: Path) -> Progress:
        """How far the job is, from what its process wrote; never raises."""

    @abc.abstractmethod
    def outputs(self, workdir: Path) -> list[Output]:
        """The files present now that a user may download."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file a job process writes, or {} while it is missing or half-written."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    tmp.replace(path)
