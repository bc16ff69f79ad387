"""An ensemble's analysis with mdtraj: per replica and frame, the RMSD of the C-alpha atoms to
the reference, the radius of gyration and the fraction of native contacts (Q).

The reference is the uploaded native structure, or else the starting structure as
simulated (a replica's prepared.pdb). Reference and replica atoms are matched by protein
residue order, residue name and atom name, so a native PDB without hydrogens or solvent
still matches; one that shares fewer than half its C-alpha atoms is refused as another protein.
Q follows Best, Hummer and Eaton (PNAS 2013): heavy-atom pairs more than 3 residues apart
and within 0.45 nm in the reference; Q(t) = mean of 1 / (1 + exp(β (r(t) - λ r0))), β = 50
per nm, λ = 1.8. Reads only whole frames, so it works while replicas still write.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chungus.fleet.jobs.kinds.ensemble.pooled import Curves
from chungus.fleet.jobs.kinds.md import dcd
from chungus.fleet.jobs.kinds.md.files import PREPARED_PDB, TRAJECTORY_FILE
from chungus.fleet.jobs.kinds.md.results import pdb_text

BETA_PER_NM = 50.0
LAMBDA = 1.8
NATIVE_CUTOFF_NM = 0.45
MIN_SEQUENCE_GAP = 3
CACHE_SIZE = 256  # replicas' curves kept, keyed by their files' sizes and times


class AnalysisError(ValueError):
    """A replica or reference that cannot be analysed, in a user's words."""


@dataclass(frozen=True, slots=True)
class Matched:
    """Indices of the same atoms in the reference and in a replica's topology."""

    reference: np.ndarray
    replica: np.ndarray
    ca: np.ndarray  # positions within the matched arrays that are C-alpha atoms


_cache: OrderedDict[tuple[Any, ...], Curves] = OrderedDict()


def analyse(
    replica: int, state: str, workdir: Path, reference: Path | None, frame_ns: float
) -> Curves:
    """Replica `replica`'s curves from `workdir` (its job directory); an error in `error`
    rather than raised. `frame_ns`: simulated time between frames."""
    key = (str(workdir), _stamp(workdir / TRAJECTORY_FILE), _stamp(reference), frame_ns, state)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        curves = _analyse(replica, state, workdir, reference, frame_ns)
    except AnalysisError as exc:
        curves = Curves(replica, state, error=str(exc))
    if curves.rmsd_nm:  # an empty answer may be a file not yet there: not cached
        _cache[key] = curves
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return curves


def _analyse(
    replica: int, state: str, workdir: Path, reference: Path | None, frame_ns: float
) -> Curves:
    import mdtraj  # imported here: a second or so, and only analyses need it

    topology_path = workdir / PREPARED_PDB
    if not topology_path.is_file():
        return Curves(replica, state)
    topology = mdtraj.load_topology(str(topology_path))
    ref = _load_reference(mdtraj, reference or topology_path)
    matched = match_atoms(ref.topology, topology)
    xyz = read_frames(workdir / TRAJECTORY_FILE, matched.replica)
    if xyz is None or not len(xyz):
        return Curves(replica, state)
    frames = mdtraj.Trajectory(xyz, topology.subset(matched.replica))
    native = ref.atom_slice(matched.reference)
    rmsd = mdtraj.rmsd(frames, native, 0, atom_indices=matched.ca, ref_atom_indices=matched.ca)
    rg = mdtraj.compute_rg(frames)
    q = native_contacts(mdtraj, frames, native)
    time_ns = [round((i + 1) * frame_ns, 6) for i in range(len(frames))]
    return Curves(
        replica, state, time_ns, _rounded(rmsd), _rounded(rg), [round(float(v), 4) for v in q]
    )


def _load_reference(mdtraj: Any, path: Path) -> Any:
    try:
        reference = mdtraj.load(str(path))
    except Exception as exc:  # mdtraj's readers fail in many ways on a bad file
        raise AnalysisError(f"the reference structure could not be read: {exc}") from exc
    return reference[0]


def match_atoms(reference: Any, replica: Any) -> Matched:
    """The protein heavy atoms present in both topologies, in the reference's order."""
    ref_keys = _heavy_protein_atoms(reference)
    rep_keys = {key: index for index, key in _heavy_protein_atoms(replica)}
    found = [(r, rep_keys[key], key[2]) for r, key in ref_keys if key in rep_keys]
    ca = np.array([i for i, (_, _, name) in enumerate(found) if name == "CA"], dtype=int)
    ref_ca = sum(1 for _, (_, _, name) in ref_keys if name == "CA")
    if len(ca) < 3 or len(ca) < ref_ca / 2:
        raise AnalysisError(
            f"the reference shares {len(ca)} of its {ref_ca} C-alpha atoms with the simulated "
            "structure (matched by residue number, residue and atom name): is it the same "
            "protein?"
        )
    return Matched(np.array([r for r, _, _ in found]), np.array([p for _, p, _ in found]), ca)


def _heavy_protein_atoms(topology: Any) -> list[tuple[int, tuple[int, str, str]]]:
    """(atom index, (protein residue ordinal, residue name, atom name)) for every protein
    heavy atom."""
    out: list[tuple[int, tuple[int, str, str]]] = []
    ordinal = -1
    for residue in topology.residues:
        if not residue.is_protein:
            continue
        ordinal += 1
        for atom in residue.atoms:
            if atom.element is not None and atom.element.symbol != "H":
                out.append((atom.index, (ordinal, residue.name, atom.name)))
    return out


def read_frames(path: Path, atoms: np.ndarray) -> np.ndarray | None:
    """The whole frames written so far, only `atoms`, in nanometres; None before any."""
    import mdtraj

    layout = dcd.read_layout(path)
    if layout is None:
        return None
    frames = min(layout.frames_in_header, layout.complete_frames(path.stat().st_size))
    if frames < 1:
        return None
    with mdtraj.formats.DCDTrajectoryFile(str(path)) as f:
        xyz, _, _ = f.read(n_frames=frames, atom_indices=atoms)
    return np.asarray(xyz, dtype=np.float32) / 10.0  # DCD holds ångströms


def native_contacts(mdtraj: Any, frames: Any, native: Any) -> np.ndarray:
    """Q per frame (Best, Hummer and Eaton 2013); zeros when the reference has no contacts."""
    contacts = native_pairs(native.xyz[0], [a.residue.index for a in native.topology.atoms])
    if not len(contacts):
        return np.zeros(len(frames))
    r = mdtraj.compute_distances(frames, contacts)
    r0 = mdtraj.compute_distances(native, contacts)[0]
    return np.asarray(np.mean(1.0 / (1 + np.exp(BETA_PER_NM * (r - LAMBDA * r0))), axis=1))


def native_pairs(xyz: np.ndarray, residues: list[int]) -> np.ndarray:
    """Atom pairs within NATIVE_CUTOFF_NM of each other in `xyz` whose residues are more
    than MIN_SEQUENCE_GAP apart (one row of distances at a time: memory stays linear)."""
    residue = np.asarray(residues)
    found: list[np.ndarray] = []
    for i in range(len(xyz) - 1):
        near = np.linalg.norm(xyz[i + 1 :] - xyz[i], axis=1) < NATIVE_CUTOFF_NM
        near &= np.abs(residue[i + 1 :] - residue[i]) > MIN_SEQUENCE_GAP
        js = np.nonzero(near)[0] + i + 1
        if len(js):
            found.append(np.column_stack([np.full(len(js), i), js]))
    return np.concatenate(found) if found else np.empty((0, 2), dtype=int)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns) if stat else None


def _rounded(values: Any) -> list[float]:
    return [round(float(v), 4) for v in values]


def structure_pair(workdir: Path, reference: Path | None, frame: int) -> tuple[str, str]:
    """Frame `frame` of a replica (its protein) superposed by C-alpha on the reference, and the
    reference's protein, as PDB texts for a viewer; ("", "") while there is no such frame."""
    import mdtraj

    topology_path, path = workdir / PREPARED_PDB, workdir / TRAJECTORY_FILE
    layout = dcd.read_layout(path)
    if layout is None or not topology_path.is_file():
        return "", ""
    if not 0 <= frame < min(layout.frames_in_header, layout.complete_frames(path.stat().st_size)):
        return "", ""
    topology = mdtraj.load_topology(str(topology_path))
    ref = _load_reference(mdtraj, reference or topology_path)
    matched = match_atoms(ref.topology, topology)
    protein, ref_protein = topology.select("protein"), ref.topology.select("protein")
    with mdtraj.formats.DCDTrajectoryFile(str(path)) as f:
        f.seek(frame)
        xyz, _, _ = f.read(n_frames=1, atom_indices=protein)
    shown = mdtraj.Trajectory(np.asarray(xyz) / 10.0, topology.subset(protein))
    native = ref.atom_slice(ref_protein)
    shown.superpose(
        native,
        0,
        atom_indices=np.searchsorted(protein, matched.replica[matched.ca]),
        ref_atom_indices=np.searchsorted(ref_protein, matched.reference[matched.ca]),
    )
    return pdb_text(shown), pdb_text(native)
