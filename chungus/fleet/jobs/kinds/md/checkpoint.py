"""Production checkpoints: the simulation state plus where the output files stood.

A checkpoint is a state file named after its step (saveState XML, portable across platforms)
and the sidecar CHECKPOINT_FILE that names it, written last and atomically: whatever moment a
kill lands on, the sidecar points at a complete state and at file lengths that were flushed
before it was written. Resuming cuts the trajectory and the energies back to those lengths,
since a process killed after the checkpoint may have written frames beyond it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chungus.fleet.jobs.kinds.base import read_json, write_json
from chungus.fleet.jobs.kinds.md import dcd
from chungus.fleet.jobs.kinds.md.files import CHECKPOINT_FILE, ENERGIES_FILE, TRAJECTORY_FILE


@dataclass(frozen=True, slots=True)
class Checkpoint:
    step: int  # production steps done
    state_file: str
    dcd_frames: int
    dcd_bytes: int
    csv_bytes: int


def save(workdir: Path, simulation: Any, step: int) -> Checkpoint:
    """Save the state at `step` (output files already flushed) and make it the checkpoint."""
    state_name = f"checkpoint-{step}.xml"
    tmp = workdir / f".{state_name}.tmp"
    with tmp.open("w") as f:
        simulation.saveState(f)
    tmp.replace(workdir / state_name)
    trajectory = workdir / TRAJECTORY_FILE
    layout = dcd.read_layout(trajectory)
    checkpoint = Checkpoint(
        step=step,
        state_file=state_name,
        dcd_frames=layout.frames_in_header if layout else 0,
        dcd_bytes=trajectory.stat().st_size if layout else 0,
        csv_bytes=_size(workdir / ENERGIES_FILE),
    )
    write_json(workdir / CHECKPOINT_FILE, asdict(checkpoint))
    for old in workdir.glob("checkpoint-*.xml"):
        if old.name != state_name:
            old.unlink(missing_ok=True)
    return checkpoint


def load(workdir: Path) -> Checkpoint | None:
    """The last checkpoint, or None if there is none (or its state file is gone)."""
    data = read_json(workdir / CHECKPOINT_FILE)
    try:
        checkpoint = Checkpoint(**data)
    except TypeError:
        return None
    return checkpoint if (workdir / checkpoint.state_file).is_file() else None


def rewind_outputs(workdir: Path, checkpoint: Checkpoint) -> bool:
    """Cut trajectory and energies back to the checkpoint; True if they are to be appended to.

    False means the checkpoint had no frame yet: the files are removed and started afresh."""
    trajectory, energies = workdir / TRAJECTORY_FILE, workdir / ENERGIES_FILE
    if checkpoint.dcd_frames == 0:
        trajectory.unlink(missing_ok=True)
        energies.unlink(missing_ok=True)
        return False
    dcd.truncate(trajectory, checkpoint.dcd_frames)
    if trajectory.stat().st_size != checkpoint.dcd_bytes:
        raise ValueError("the trajectory does not match its checkpoint")
    if _size(energies) < checkpoint.csv_bytes:
        raise ValueError("the energies file is shorter than at its checkpoint")
    os.truncate(energies, checkpoint.csv_bytes)
    return True


def frames_on_disk(workdir: Path) -> int:
    """Complete frames in the trajectory now (what a killed process got to write)."""
    trajectory = workdir / TRAJECTORY_FILE
    layout = dcd.read_layout(trajectory)
    return layout.complete_frames(_size(trajectory)) if layout else 0


def discard(workdir: Path) -> None:
    """Forget production entirely (a run that had not checkpointed starts it again)."""
    for name in (CHECKPOINT_FILE, TRAJECTORY_FILE, ENERGIES_FILE):
        (workdir / name).unlink(missing_ok=True)
    for old in workdir.glob("checkpoint-*.xml"):
        old.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
