from __future__ import annotations

import numpy as np
import pytest
from openmm import app, unit

from chungus.fleet.jobs.kinds.md import dcd


def write_dcd(path, frames, box=False):
    topology = app.Topology()
    residue = topology.addResidue("HOH", topology.addChain())
    for name in ("O", "H1", "H2"):
        topology.addAtom(name, app.element.get_by_symbol(name[0]), residue)
    if box:
        topology.setUnitCellDimensions((2, 2, 2) * unit.nanometer)
    with path.open("wb") as f:
        out = app.DCDFile(f, topology, 0.002, 100, 100)
        for i in range(frames):
            out.writeModel(np.full((3, 3), i / 10) * unit.nanometer)
    return topology


@pytest.mark.parametrize("box", [False, True])
def test_it_reads_the_layout_openmm_writes(tmp_path, box):
    write_dcd(tmp_path / "t.dcd", 5, box)
    layout = dcd.read_layout(tmp_path / "t.dcd")
    assert (layout.frames_in_header, layout.first_step, layout.interval) == (5, 100, 100)
    assert layout.has_unit_cell is box
    assert layout.complete_frames((tmp_path / "t.dcd").stat().st_size) == 5


def test_it_cuts_frames_off_so_openmm_appends_after_the_kept_ones(tmp_path):
    path = tmp_path / "t.dcd"
    topology = write_dcd(path, 7, box=True)
    dcd.truncate(path, 4)
    with path.open("r+b") as f:
        out = app.DCDFile(f, topology, 0.002, 100, 100, append=True)
        out.writeModel(np.full((3, 3), 0.9) * unit.nanometer)
    layout = dcd.read_layout(path)
    assert layout.frames_in_header == layout.complete_frames(path.stat().st_size) == 5
    import mdtraj

    app.PDBFile.writeFile(topology, np.zeros((3, 3)) * unit.nanometer, str(tmp_path / "t.pdb"))
    xyz = mdtraj.load(str(path), top=str(tmp_path / "t.pdb")).xyz[:, 0, 0]
    assert xyz == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.9])


def test_it_refuses_to_cut_to_more_frames_than_there_are(tmp_path):
    write_dcd(tmp_path / "t.dcd", 2)
    with pytest.raises(ValueError):
        dcd.truncate(tmp_path / "t.dcd", 3)


def test_a_missing_or_empty_file_has_no_layout(tmp_path):
    assert dcd.read_layout(tmp_path / "none.dcd") is None
    (tmp_path / "empty.dcd").write_bytes(b"")
    assert dcd.read_layout(tmp_path / "empty.dcd") is None
