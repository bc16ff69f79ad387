"""Molecular dynamics with OpenMM: the job kind (see base.py for the contract).

The work happens in runner.py, a separate process; this module checks specs, names the
command and reads what the runner writes. It imports OpenMM only to parse an upload.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.kinds import base
from chungus.fleet.jobs.kinds.base import (
    ERROR_FILE,
    PROGRESS_FILE,
    JobCommand,
    JobKind,
    Output,
    Progress,
    SpecError,
    Upload,
)
from chungus.fleet.jobs.kinds.md import results
from chungus.fleet.jobs.kinds.md import spec as md_spec
from chungus.fleet.jobs.kinds.md.files import (
    ENERGIES_FILE,
    FINAL_PDB,
    LOG_FILE,
    PREPARED_PDB,
    TRAJECTORY_FILE,
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_SUFFIXES = {".pdb": ".pdb", ".cif": ".cif", ".mmcif": ".cif"}  # as sent: as stored
RUNNER_MODULE = "chungus.fleet.jobs.kinds.md.runner"
OUTPUTS = (
    Output(FINAL_PDB, "Final structure", "chemical/x-pdb"),
    Output(TRAJECTORY_FILE, "Trajectory (DCD; use prepared.pdb as its topology)"),
    Output(ENERGIES_FILE, "Energies, temperature and volume per frame", "text/csv"),
    Output(PREPARED_PDB, "Prepared structure (hydrogens and solvent added)", "chemical/x-pdb"),
    Output(LOG_FILE, "Job log", "text/plain"),
)
PHASE_SUMMARIES = {
    "preparing": "Preparing the structure",
    "minimising": "Minimising energy",
    "equilibrating": "Equilibrating",
}


class MdKind(JobKind):
    name = "md"
    label = "Molecular dynamics (OpenMM)"
    operator_only = False

    def validate(self, spec: dict[str, Any], upload: Upload | None) -> dict[str, Any]:
        suffix = upload_suffix(upload) if upload is not None else None
        done = md_spec.complete(spec, suffix)
        if upload is not None and suffix is not None:
            check_structure(upload.data, suffix)
        return done

    def save_inputs(self, spec: dict[str, Any], upload: Upload | None, workdir: Path) -> None:
        if upload is None or not spec.get("structure_file"):
            return
        path = workdir / spec["structure_file"]  # built by validate, never from the user's name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload.data)

    def command(self, spec: dict[str, Any], workdir: Path) -> JobCommand:
        threads = str(spec.get("cpu_cores") or 1)
        return JobCommand(
            (sys.executable, "-m", RUNNER_MODULE), env={"OPENMM_CPU_THREADS": threads}
        )

    def progress(self, workdir: Path) -> Progress:
        return progress_of(base.read_json(workdir / PROGRESS_FILE), workdir / ERROR_FILE)

    def outputs(self, workdir: Path) -> list[Output]:
        return [output for output in OUTPUTS if (workdir / output.name).is_file()]

    def trajectory_pdb(self, workdir: Path, max_frames: int = 60) -> str:
        """The trajectory as a multi-model PDB for a browser viewer ("" before any frame)."""
        return results.trajectory_pdb(workdir, max_frames)

    def energies(self, workdir: Path) -> dict[str, list[float]]:
        """energies.csv as columns for charts."""
        return results.energies(workdir)


def upload_suffix(upload: Upload) -> str:
    """The stored suffix for an upload, after checking its kind and size."""
    suffix = UPLOAD_SUFFIXES.get(Path(upload.filename).suffix.lower())
    if suffix is None:
        raise SpecError("the structure file must be a .pdb, .cif or .mmcif file", "structure_file")
    if len(upload.data) > MAX_UPLOAD_BYTES:
        raise SpecError("the structure file is larger than 20 MB", "structure_file")
    return suffix


def check_structure(data: bytes, suffix: str, param: str = "structure_file") -> None:
    """Refuse a file OpenMM cannot read as a structure with atoms (SpecError for `param`)."""
    from openmm import app  # imported here: only an upload needs it

    try:
        text = data.decode()
        reader = app.PDBFile if suffix == ".pdb" else app.PDBxFile
        atoms = reader(io.StringIO(text)).topology.getNumAtoms()
    except Exception as e:  # a malformed file fails in many ways inside the parsers
        raise SpecError(f"the structure file could not be read: {e}", param) from e
    if atoms == 0:
        raise SpecError("the structure file has no atoms", param)


def progress_of(figures: dict[str, Any], error_file: Path) -> Progress:
    """Progress from the runner's figures (pure but for reading a possible error.json)."""
    phase = figures.get("phase")
    if error_file.is_file():
        message = base.read_json(error_file).get("message", "failed")
        return Progress(0.0, f"Failed: {message}", figures)
    if not phase:
        return Progress(0.0, "Waiting to start", figures)
    total_ns = float(figures.get("ns_total") or 0)
    if phase == "done":
        return Progress(1.0, f"Done: {nanoseconds(total_ns, total_ns)} ns", figures)
    if phase != "production":
        return Progress(0.0, PHASE_SUMMARIES.get(phase, phase), figures)
    total = figures.get("steps_total") or 0
    fraction = min(1.0, (figures.get("steps_done") or 0) / total) if total else 0.0
    done_ns = float(figures.get("ns_done") or 0)
    parts = [f"{nanoseconds(done_ns, total_ns)} of {nanoseconds(total_ns, total_ns)} ns"]
    if figures.get("ns_per_day"):
        parts.append(f"{figures['ns_per_day']:.1f} ns/day")
    if figures.get("eta_seconds") is not None:
        parts.append(f"ETA {duration(figures['eta_seconds'])}")
    if figures.get("platform"):
        parts.append(str(figures["platform"]))
    return Progress(fraction, " · ".join(parts), figures)


def nanoseconds(value: float, total: float) -> str:
    """`value` with decimals that show a run of `total` ns move: 0.04 of 0.10, 0.004 of 0.010."""
    decimals = 2 if total >= 0.1 or total <= 0 else 1 - math.floor(math.log10(total))
    return f"{value:.{decimals}f}"


def duration(seconds: float) -> str:
    """A short human duration: "40 s", "2 min", "3 h 5 min", "2 d 4 h"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


KIND = MdKind()
