from __future__ import annotations

import numpy as np
from openmm import app, unit

from chungus.fleet.jobs.kinds.md import results

HEADER = (
    '#"Step","Time (ps)","Potential Energy (kJ/mole)","Kinetic Energy (kJ/mole)",'
    '"Temperature (K)","Box Volume (nm^3)","Speed (ns/day)"\n'
)


def test_energies_come_back_as_columns_for_charts(tmp_path):
    (tmp_path / "energies.csv").write_text(
        HEADER + "100,0.2,-2573.1,1287.3,208.6,27.5,0\n200,0.4,-2460.4,1351.5,219.0,27.6,113\n"
    )
    assert results.energies(tmp_path) == {
        "step": [100.0, 200.0],
        "time_ps": [0.2, 0.4],
        "potential_energy_kj_mol": [-2573.1, -2460.4],
        "kinetic_energy_kj_mol": [1287.3, 1351.5],
        "temperature_k": [208.6, 219.0],
        "volume_nm3": [27.5, 27.6],
    }


def test_energies_skip_a_line_still_being_written(tmp_path):
    (tmp_path / "energies.csv").write_text(
        HEADER + "100,0.2,-2573.1,1287.3,208.6,27.5,0\n200,0.4,-24"
    )
    assert results.energies(tmp_path)["step"] == [100.0]


def test_energies_are_empty_before_the_first_line(tmp_path):
    assert results.energies(tmp_path) == {}
    (tmp_path / "energies.csv").write_text(HEADER[:40])
    assert results.energies(tmp_path) == {}


def test_the_viewer_gets_nothing_before_the_first_frame(tmp_path):
    assert results.trajectory_pdb(tmp_path) == ""


def test_the_viewer_leaves_out_a_frame_still_being_written(tmp_path):
    topology = app.Topology()
    residue = topology.addResidue("ALA", topology.addChain())
    for name in ("N", "CA", "C", "O"):
        topology.addAtom(name, app.element.get_by_symbol(name[0]), residue)
    app.PDBFile.writeFile(
        topology, np.zeros((4, 3)) * unit.nanometer, str(tmp_path / "prepared.pdb")
    )
    with (tmp_path / "trajectory.dcd").open("wb") as f:
        dcd = app.DCDFile(f, topology, 0.002, 10, 10)
        for i in range(3):
            dcd.writeModel(np.full((4, 3), float(i)) * unit.nanometer)
    with (tmp_path / "trajectory.dcd").open("r+b") as f:
        f.truncate(f.seek(0, 2) - 20)  # the last frame only partly on disk
    models = results.trajectory_pdb(tmp_path)
    assert models.count("ENDMDL") == 2
