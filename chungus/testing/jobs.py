"""Following jobs of a CHUNGUS instance from tests: its rows, its files, its processes."""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import psutil

from chungus.testing.processes import ChungusProcess


def job(instance: ChungusProcess, job_id: int) -> dict[str, Any]:
    """The job's row, JSON fields decoded."""
    with contextlib.closing(sqlite3.connect(instance.home / "chungus.sqlite3")) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("select * from jobs_job where id = ?", (job_id,)).fetchone()
    found = dict(row)
    for name in ("spec", "progress_detail", "events", "gpu_indices", "handle"):
        found[name] = json.loads(found[name]) if found[name] else None
    return found


def wait_job(
    instance: ChungusProcess, job_id: int, states: str | tuple[str, ...], seconds: float
) -> dict[str, Any]:
    """Wait for the job to reach one of `states`; its row then."""
    wanted = (states,) if isinstance(states, str) else states
    deadline = time.monotonic() + seconds
    seen: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        row = job(instance, job_id)
        if not seen or seen[-1] != (row["state"], row["reason"]):
            seen.append((row["state"], row["reason"]))
        if row["state"] in wanted:
            return row
        if row["state"] in ("failed", "cancelled", "succeeded"):
            break
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never {wanted}; went through {seen}")


def wait_event(
    instance: ChungusProcess, job_id: int, event: str, seconds: float, after: int = 0
) -> dict[str, Any]:
    """Wait for the job's events to hold more than `after` of `event`; the last one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [e for e in job(instance, job_id)["events"] or [] if e["event"] == event]
        if len(found) > after:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} had no {event} event: {job(instance, job_id)}")


def wait_steps(instance: ChungusProcess, job_id: int, steps: int, seconds: float) -> None:
    """Wait until the running job's production has passed `steps`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = job(instance, job_id)
        if (row["progress_detail"] or {}).get("steps_done", 0) >= steps:
            return
        assert row["state"] in ("queued", "placing", "running"), (row["state"], row["reason"])
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never passed step {steps}: {job(instance, job_id)}")


def submit_md(instance: ChungusProcess, *options: str) -> int:
    """`chungus jobs submit md OPTIONS`; the new job's id (the last word of its first line)."""
    out = instance.cli("jobs", "submit", "md", *options).stdout
    return int(next(w for w in out.replace(":", " ").split() if w.isdigit()))


def runners(job_dir: Path) -> list[psutil.Process]:
    """The MD runner processes working in `job_dir` (there must never be two)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.info["cmdline"] or [])
            here = process.info["cwd"] == str(job_dir)
            if "kinds.md.runner" in cmdline and here and process.status() != "zombie":
                found.append(process)
    return found


def csv_steps(path: Path) -> list[int]:
    """The step column of an energies CSV (StateDataReporter writes '#"Step"' first)."""
    with path.open() as handle:
        rows = list(csv.reader(handle))
    header = [h.strip('#"') for h in rows[0]]
    column = next(i for i, h in enumerate(header) if h.startswith("Step"))
    return [int(r[column]) for r in rows[1:] if r]


def check_trajectory(job_dir: Path, steps_total: int, report_every: int) -> int:
    """Assert the outputs hold exactly one frame per report, none twice; the frame count."""
    import mdtraj

    steps = csv_steps(job_dir / "energies.csv")
    expected = list(range(report_every, steps_total + 1, report_every))
    assert steps == expected, (steps[:5], steps[-5:], len(steps), len(expected))
    trajectory = mdtraj.load(str(job_dir / "trajectory.dcd"), top=str(job_dir / "final.pdb"))
    assert trajectory.n_frames == len(expected), (trajectory.n_frames, len(expected))
    return trajectory.n_frames
