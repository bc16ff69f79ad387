"""Reading a run's results for the browser: a subsampled multi-model PDB and energy columns.

Both work while the job is still writing: a frame or a line that is half-written is skipped.
"""

from __future__ import annotations

import contextlib
import csv
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chungus.fleet.jobs.kinds.md import dcd
from chungus.fleet.jobs.kinds.md.files import ENERGIES_FILE, PREPARED_PDB, TRAJECTORY_FILE

# the energies.csv header, as StateDataReporter writes it, and the names the charts use
COLUMNS = {
    "Step": "step",
    "Time (ps)": "time_ps",
    "Potential Energy (kJ/mole)": "potential_energy_kj_mol",
    "Kinetic Energy (kJ/mole)": "kinetic_energy_kj_mol",
    "Temperature (K)": "temperature_k",
    "Box Volume (nm^3)": "volume_nm3",
}


def trajectory_pdb(workdir: Path, max_frames: int = 60) -> str:
    """The trajectory as a multi-model PDB (water and ions left out), at most `max_frames`
    frames evenly spread, superposed on the first; "" when there is no frame yet."""
    import mdtraj  # imported here: a second or so, and only this view needs it

    path, topology_path = workdir / TRAJECTORY_FILE, workdir / PREPARED_PDB
    layout = dcd.read_layout(path)
    if layout is None or not topology_path.is_file():
        return ""
    frames = min(layout.frames_in_header, layout.complete_frames(path.stat().st_size))
    if frames < 1:
        return ""
    shown = np.unique(np.linspace(0, frames - 1, min(frames, max(1, max_frames))).round())
    picked = []
    with mdtraj.formats.DCDTrajectoryFile(str(path)) as f:
        for index in shown:  # seek, so only the frames shown are read
            f.seek(int(index))
            picked.append(f.read(n_frames=1))
    xyz, lengths, angles = ([frame[i] for frame in picked] for i in range(3))
    periodic = layout.has_unit_cell
    trajectory = mdtraj.Trajectory(
        np.concatenate(xyz) / 10.0,  # DCD holds ångströms, mdtraj nanometres
        mdtraj.load_topology(str(topology_path)),
        unitcell_lengths=np.concatenate(lengths) / 10.0 if periodic else None,
        unitcell_angles=np.concatenate(angles) if periodic else None,
    )
    if periodic:
        with contextlib.suppress(ValueError):  # mdtraj finds no molecule to anchor on
            trajectory.image_molecules(inplace=True)
    trajectory = trajectory.remove_solvent()
    backbone = trajectory.topology.select("backbone")
    trajectory.superpose(trajectory, 0, atom_indices=backbone if len(backbone) else None)
    return pdb_text(trajectory)


def pdb_text(trajectory: Any) -> str:
    """An mdtraj trajectory as PDB text (mdtraj writes PDB files only to a path)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "structure.pdb"
        trajectory.save_pdb(str(out))
        return out.read_text()


def energies(workdir: Path) -> dict[str, list[float]]:
    """The columns of energies.csv by chart name; lines not yet completely written are skipped."""
    try:
        text = (workdir / ENERGIES_FILE).read_text()
    except OSError:
        return {}
    lines = text.splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        return {}
    header = next(csv.reader([lines[0].lstrip("#")]))
    wanted = [(i, COLUMNS[name]) for i, name in enumerate(header) if name in COLUMNS]
    columns: dict[str, list[float]] = {key: [] for _, key in wanted}
    for row in csv.reader(line for line in lines[1:] if line.endswith("\n")):
        try:
            values = [float(row[i]) for i, _ in wanted]
        except (IndexError, ValueError):
            continue
        if len(row) != len(header) or not all(np.isfinite(values)):
            continue
        for (_, key), value in zip(wanted, values, strict=True):
            columns[key].append(value)
    return columns
