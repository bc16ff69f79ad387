"""From a structure to a simulation-ready system: pdbfixer repairs, force field, solvent.

The result is saved as PREPARED_PDB and SYSTEM_XML so that a resumed job skips this step.
Failures a user can act on (a residue the force field does not know, an unreadable file)
are raised as PreparationError with a sentence that says so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openmm
from openmm import app, unit
from pdbfixer import PDBFixer

from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.kinds.md.files import PREPARED_PDB, SYSTEM_XML

SOLVATED_MIN_WATERS = 100  # a structure with this much water and a box is taken as solvated
HMR_ABOVE_FS = 2.5  # longer timesteps move mass onto hydrogens so they stay stable
HMR_HYDROGEN_AMU = 4.0
MAX_MESSAGE = 400
PROTEIN_FILES = {"amber14": "amber14-all.xml", "charmm36": "charmm36.xml"}
WATER_FILES = {"amber14": "amber14/tip3p.xml", "charmm36": "charmm36/water.xml"}  # TIP3P


class PreparationError(Exception):
    """The structure cannot be made into a system; the message is for the user."""


@dataclass(slots=True)
class Prepared:
    topology: app.Topology
    positions: Any  # a Quantity of Vec3
    system: openmm.System


def forcefield_files(spec: dict[str, Any]) -> list[str]:
    files = [PROTEIN_FILES[spec["forcefield"]]]
    if spec["solvent"] == "explicit":
        files.append(WATER_FILES[spec["forcefield"]])
    elif spec["solvent"] == "implicit":
        files.append("implicit/obc2.xml")
    return files


def input_path(workdir: Path, spec: dict[str, Any]) -> Path:
    if spec.get("structure_file"):
        return workdir / spec["structure_file"]
    structure = structures.find(spec["structure"])
    if structure is None:
        raise PreparationError(f"The structure {spec['structure']!r} is not packaged here.")
    return structure.path()


def prepare(workdir: Path, spec: dict[str, Any]) -> Prepared:
    """Repair the structure, add hydrogens (and solvent), build and save the system."""
    try:
        fixer = PDBFixer(filename=str(input_path(workdir, spec)))
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise PreparationError(f"The structure file could not be read: {_short(e)}") from e
    forcefield = app.ForceField(*forcefield_files(spec))
    keep_water = spec["solvent"] == "explicit" and _is_solvated(fixer.topology)
    try:
        _repair(fixer, spec["ph"], keep_water)
        modeller = app.Modeller(fixer.topology, fixer.positions)
        if spec["solvent"] == "explicit" and not keep_water:
            modeller.addSolvent(
                forcefield,
                model="tip3p",
                padding=spec["padding_nm"] * unit.nanometer,
                ionicStrength=spec["ionic_strength_molar"] * unit.molar,
            )
        if spec["solvent"] != "explicit":
            modeller.topology.setPeriodicBoxVectors(None)  # e.g. the 1 Å CRYST1 of NMR files
        system = build_system(forcefield, modeller.topology, spec)
    except (ValueError, KeyError, IndexError, openmm.OpenMMException) as e:
        raise PreparationError(
            f"The structure could not be prepared with {spec['forcefield']} "
            f"({spec['solvent']} solvent): {_short(e)}"
        ) from e
    prepared = Prepared(modeller.topology, modeller.positions, system)
    save(workdir, prepared)
    return prepared


def build_system(
    forcefield: app.ForceField, topology: app.Topology, spec: dict[str, Any]
) -> openmm.System:
    explicit = spec["solvent"] == "explicit"
    options: dict[str, Any] = {"constraints": app.HBonds}
    if spec["timestep_fs"] > HMR_ABOVE_FS:
        options["hydrogenMass"] = HMR_HYDROGEN_AMU * unit.amu
    if explicit:
        options.update(nonbondedMethod=app.PME, nonbondedCutoff=1.0 * unit.nanometer)
    else:
        options.update(nonbondedMethod=app.NoCutoff)
    system = forcefield.createSystem(topology, **options)
    if explicit:
        system.addForce(
            openmm.MonteCarloBarostat(
                spec["pressure_bar"] * unit.bar, spec["temperature_k"] * unit.kelvin
            )
        )
    return system


def save(workdir: Path, prepared: Prepared) -> None:
    """Write the system, then the structure: a resume trusts PREPARED_PDB only if both exist."""
    _write_atomically(workdir / SYSTEM_XML, openmm.XmlSerializer.serialize(prepared.system))
    pdb = io.StringIO()
    app.PDBFile.writeFile(prepared.topology, prepared.positions, pdb, keepIds=True)
    _write_atomically(workdir / PREPARED_PDB, pdb.getvalue())


def load(workdir: Path) -> Prepared | None:
    """The prepared system saved by an earlier attempt, or None."""
    if not (workdir / PREPARED_PDB).is_file() or not (workdir / SYSTEM_XML).is_file():
        return None
    pdb = app.PDBFile(str(workdir / PREPARED_PDB))
    system = openmm.XmlSerializer.deserialize((workdir / SYSTEM_XML).read_text())
    return Prepared(pdb.topology, pdb.positions, system)


def _repair(fixer: PDBFixer, ph: float, keep_water: bool) -> None:
    fixer.findMissingResidues()
    chains = list(fixer.topology.chains())
    for chain_index, residue_index in list(fixer.missingResidues):
        # missing tails are left off: built from nothing they would flail about
        if residue_index in (0, len(list(chains[chain_index].residues()))):
            del fixer.missingResidues[chain_index, residue_index]
    fixer.findNonstandardResidues()
    fixer.replaceNonstandardResidues()
    fixer.removeHeterogens(keepWater=keep_water)
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    fixer.addMissingHydrogens(ph)
    if fixer.topology.getNumAtoms() == 0:
        raise ValueError("no atoms are left once ligands and water are removed")


def _is_solvated(topology: app.Topology) -> bool:
    waters = sum(1 for residue in topology.residues() if residue.name in ("HOH", "WAT"))
    return waters >= SOLVATED_MIN_WATERS and topology.getPeriodicBoxVectors() is not None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _short(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
