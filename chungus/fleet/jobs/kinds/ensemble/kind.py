"""MD ensembles: one parent job and N replica MD jobs (see spec.py; base.py for the contract).

The replicas are ordinary MD jobs with a `parent`: each is placed, preempted, resumed and
retried on its own, anywhere in the pool. The parent holds no GPU: it waits in the queue
while its replicas run (the scheduler sums their progress into it, fleet/jobs/ensembles.py),
then runs the analysis (analyze.py) on one CPU core and ends with its results.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.kinds import base
from chungus.fleet.jobs.kinds.base import JobCommand, JobKind, Output, Progress, SpecError, Upload
from chungus.fleet.jobs.kinds.ensemble import spec as ensemble_spec
from chungus.fleet.jobs.kinds.md import kind as md

ANALYSIS_FILE = "analysis.json"
SUMMARY_FILE = "replicas.csv"
ANALYZE_MODULE = "chungus.fleet.jobs.kinds.ensemble.analyze"
OUTPUTS = (
    Output(ANALYSIS_FILE, "Ensemble analysis: curves per replica and the pooled summary",
           "application/json"),
    Output(SUMMARY_FILE, "Per-replica summary", "text/csv"),
)  # fmt: skip


class EnsembleKind(JobKind):
    name = "ensemble"
    label = "MD ensemble (OpenMM replicas)"
    operator_only = False

    def validate(self, spec: dict[str, Any], upload: Upload | None) -> dict[str, Any]:
        return self.validate_with_reference(spec, upload, None)

    def validate_with_reference(
        self, spec: dict[str, Any], upload: Upload | None, reference: Upload | None
    ) -> dict[str, Any]:
        suffix = md.upload_suffix(upload) if upload is not None else None
        ref_suffix = reference_suffix(reference) if reference is not None else None
        done = ensemble_spec.complete(spec, suffix, ref_suffix)
        if upload is not None and suffix is not None:
            md.check_structure(upload.data, suffix)
        if reference is not None and ref_suffix is not None:
            md.check_structure(reference.data, ref_suffix, "reference_file")
        return done

    def save_inputs(self, spec: dict[str, Any], upload: Upload | None, workdir: Path) -> None:
        md.KIND.save_inputs(spec["md"], upload, workdir)

    def save_reference(self, spec: dict[str, Any], reference: Upload, workdir: Path) -> None:
        path = workdir / spec["reference_file"]  # built by validate, never from the user's name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(reference.data)

    def command(self, spec: dict[str, Any], workdir: Path) -> JobCommand:
        return JobCommand((sys.executable, "-m", ANALYZE_MODULE), env={"OMP_NUM_THREADS": "1"})

    def progress(self, workdir: Path) -> Progress:
        figures = base.read_json(workdir / base.PROGRESS_FILE)
        if not figures:
            return Progress(0.0, "Waiting for its replicas")
        return Progress(
            float(figures.get("fraction") or 0.0), str(figures.get("summary") or ""), figures
        )

    def outputs(self, workdir: Path) -> list[Output]:
        return [output for output in OUTPUTS if (workdir / output.name).is_file()]


def reference_suffix(upload: Upload) -> str:
    """The stored suffix of a reference upload: a PDB file (what mdtraj reads as is)."""
    if Path(upload.filename).suffix.lower() != ".pdb":
        raise SpecError("the reference structure must be a .pdb file", "reference_file")
    if len(upload.data) > md.MAX_UPLOAD_BYTES:
        raise SpecError("the reference structure is larger than 20 MB", "reference_file")
    return ".pdb"


KIND = EnsembleKind()
