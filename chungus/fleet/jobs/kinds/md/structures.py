"""Structures that ship inside installed packages, so a newcomer can run MD without a file.

Paths are found with importlib's module specs, which locate a package without importing it
(importing openmm takes about a second; listing structures should not).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PackagedStructure:
    name: str
    package: str  # the installed package that ships the file
    resource: str  # path inside that package
    description: str

    def path(self) -> Path:
        """Where the file is in this installation (FileNotFoundError if the package is absent)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"package {self.package!r} is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / self.resource
        if not path.is_file():
            raise FileNotFoundError(str(path))
        return path


STRUCTURES: tuple[PackagedStructure, ...] = (
    PackagedStructure(
        "villin",
        "pdbfixer",
        "tests/data/test.pdb",
        "Villin headpiece (PDB 1VII), 35 residues: a fast-folding protein, quick on a CPU.",
    ),
    PackagedStructure(
        "villin-solvated",
        "openmm",
        "app/data/test.pdb",
        "Villin headpiece already solvated in a water box (use with solvent 'explicit').",
    ),
    PackagedStructure(
        "hiv-integrase",
        "pdbfixer",
        "tests/data/1BHL.pdb",
        "HIV-1 integrase catalytic domain (PDB 1BHL), 2,300 atoms once its missing loops and "
        "hydrogens are built (preparation takes about 20 s).",
    ),
)


def find(name: str) -> PackagedStructure | None:
    """The packaged structure called `name`, or None."""
    return next((s for s in STRUCTURES if s.name == name), None)


def names() -> list[str]:
    return [s.name for s in STRUCTURES]


def count_atoms(path: Path) -> int:
    """Atoms in a PDB file as shipped (ATOM and HETATM records of the first model)."""
    count = 0
    with path.open() as lines:
        for line in lines:
            if line.startswith(("ATOM  ", "HETATM")):
                count += 1
            elif line.startswith("ENDMDL"):
                break
    return count


def catalogue() -> list[dict[str, Any]]:
    """The packaged structures present in this installation, for `--help` and the API."""
    listed = []
    for structure in STRUCTURES:
        try:
            path = structure.path()
        except FileNotFoundError:
            continue
        listed.append(
            {
                "name": structure.name,
                "atoms": count_atoms(path),
                "description": structure.description,
            }
        )
    return listed
