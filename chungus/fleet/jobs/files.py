"""Where a job's files live: CHUNGUS_HOME/jobs/<id>/, or CHUNGUS_JOBS_DIR/<id>/ (a directory
that Slurm and Ray nodes share). Paths are built from ids, never from names users chose."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from chungus.lib.env import envpath

LOG_FILE = "job.log"


def jobs_root() -> Path:
    return envpath("CHUNGUS_JOBS_DIR", str(Path(settings.CHUNGUS_HOME) / "jobs"))


def job_dir(job_id: int) -> Path:
    return jobs_root() / str(int(job_id))


def output_path(job_id: int, name: str) -> Path | None:
    """The file `name` inside a job's directory, or None if `name` would leave it."""
    base = job_dir(job_id).resolve()
    path = (base / name).resolve()
    if base not in path.parents or not path.is_file():
        return None
    return path
