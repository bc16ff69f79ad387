"""What an ensemble's page shows: its replicas, the analysis (partial while replicas run),
and the best replica's closest frame beside the reference for the 3D viewer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from chungus.fleet.jobs import ensembles
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds.ensemble import analysis
from chungus.fleet.jobs.models import Job

logger = logging.getLogger("chungus.dashboard")
MAX_POINTS = 500  # per replica curve: the chart stays quick with 64 replicas


@dataclass(frozen=True, slots=True)
class Best:
    replica: int | None
    frame: int  # the frame of its lowest RMSD
    rmsd_nm: float | None


def thinned(values: list[float], keep: int) -> list[float]:
    """At most `keep` of `values`, evenly spread, the last always kept (pure)."""
    if len(values) <= keep:
        return values
    step = len(values) / keep
    picked = [values[int(i * step)] for i in range(keep - 1)]
    return [*picked, values[-1]]


def charts(job: Job) -> dict[str, Any]:
    """The analysis as the page draws it: curves thinned to MAX_POINTS, and the summary."""
    try:
        result = ensembles.partial(job)
    except Exception:  # an analysis that fails must never take the page down
        logger.exception("ensemble %s: analysis failed", job.pk)
        return {"state": job.state, "summary": None, "replicas": [], "error": "analysis failed"}
    for replica in result["replicas"]:
        for key in ("time_ns", "rmsd_nm", "rg_nm", "q"):
            replica[key] = thinned(replica[key], MAX_POINTS)
    jobs = [
        {"id": r.pk, "state": r.state, "progress": round(r.progress, 4), "retries": r.retries,
         "preemptions": r.preemptions, "summary": r.progress_summary or r.reason,
         "url": reverse("job", kwargs={"job_id": r.pk})}
        for r in job.replicas.order_by("id")
    ]  # fmt: skip
    return {"state": job.state, "progress": round(job.progress, 4), "jobs": jobs, **result}


def best(result: dict[str, Any]) -> Best:
    """The replica with the lowest RMSD reached, and that frame (pure)."""
    replica = result["summary"]["best_replica"] if result.get("summary") else None
    curves = next((r for r in result.get("replicas", []) if r["replica"] == replica), None)
    if replica is None or curves is None or not curves["rmsd_nm"]:
        return Best(None, 0, None)
    rmsd = curves["rmsd_nm"]
    frame = min(range(len(rmsd)), key=rmsd.__getitem__)
    return Best(replica, frame, rmsd[frame])


def structures(job: Job) -> tuple[str, str, Best]:
    """The best replica's closest frame and the reference, as PDB texts ("" when none yet)."""
    found = best(ensembles.partial(job))
    if found.replica is None:
        return "", "", found
    workdir = job_dir(job.pk)
    reference = workdir / job.spec["reference_file"] if job.spec.get("reference_file") else None
    try:
        shown, native = analysis.structure_pair(
            workdir.parent / str(found.replica), reference, found.frame
        )
    except analysis.AnalysisError:
        return "", "", found
    return shown, native, found
