"""The analysis on real trajectories: two tiny replicas of villin in vacuum, run by the real
MD runner with their own seeds, then measured against the starting structure and against
the packaged native file."""

import numpy as np
import pytest

from chungus.fleet.jobs.kinds.ensemble import analysis
from chungus.fleet.jobs.kinds.ensemble.analyze import frame_ns
from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.kinds.md.tests import runs


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two finished replicas (seeds 11 and 12), their directories and spec."""
    found = []
    for seed in (11, 12):
        workdir = tmp_path_factory.mktemp(f"replica-{seed}")
        spec = runs.make_job(workdir, seed=seed)
        assert runs.run(workdir) == 0, (workdir / "job.log").read_text()[-2000:]
        found.append((workdir, spec))
    return found


def test_each_frame_has_rmsd_rg_and_native_contacts(replicas):
    workdir, spec = replicas[0]
    curves = analysis.analyse(1, "succeeded", workdir, None, frame_ns(spec))
    frames = 2000 // 50
    assert len(curves.rmsd_nm) == len(curves.rg_nm) == len(curves.q) == frames, curves.error
    assert curves.time_ns[0] == pytest.approx(50 * 2e-6)
    assert curves.time_ns[-1] == pytest.approx(0.004)
    assert 0 < curves.rmsd_nm[0] < 0.2  # a few ps from the starting structure
    assert all(0.5 < rg < 1.5 for rg in curves.rg_nm)  # a 35-residue headpiece
    assert all(0.0 <= q <= 1.0 for q in curves.q) and curves.q[0] > 0.8


def test_replicas_with_their_own_seeds_differ(replicas):
    (one, spec), (two, _) = replicas
    a = analysis.analyse(1, "succeeded", one, None, frame_ns(spec))
    b = analysis.analyse(2, "succeeded", two, None, frame_ns(spec))
    assert not np.allclose(a.rmsd_nm, b.rmsd_nm)


def test_the_packaged_native_file_matches_without_its_hydrogens(replicas):
    workdir, spec = replicas[0]
    native = structures.find("villin").path()
    curves = analysis.analyse(1, "succeeded", workdir, native, frame_ns(spec))
    assert not curves.error and len(curves.rmsd_nm) == 40
    assert curves.rmsd_nm[0] < 0.3


def test_another_protein_as_reference_is_refused_in_words(replicas, tmp_path):
    workdir, spec = replicas[0]
    other = structures.find("hiv-integrase").path()
    curves = analysis.analyse(1, "succeeded", workdir, other, frame_ns(spec))
    assert curves.rmsd_nm == [] and "same protein" in curves.error
    unreadable = tmp_path / "native.pdb"
    unreadable.write_text("not a structure\n")
    curves = analysis.analyse(1, "succeeded", workdir, unreadable, frame_ns(spec))
    assert curves.rmsd_nm == [] and curves.error


def test_a_replica_without_frames_has_no_curves(tmp_path):
    assert analysis.analyse(1, "queued", tmp_path, None, 0.001).rmsd_nm == []


def test_the_best_frame_is_superposed_on_the_reference(replicas):
    workdir, _ = replicas[0]
    shown, native = analysis.structure_pair(workdir, None, 5)
    assert shown.count(" CA ") == native.count(" CA ") == 36  # residues 41-76
    assert "HOH" not in shown
    assert analysis.structure_pair(workdir, None, 10_000) == ("", "")


def test_native_pairs_skip_near_neighbours_in_sequence():
    xyz = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0.3, 0, 0], [0.4, 0, 0], [5, 5, 5]])
    pairs = analysis.native_pairs(xyz, [0, 1, 2, 3, 4, 5])
    assert pairs.tolist() == [[0, 4]]  # the others are near, but 3 residues apart or fewer
    assert analysis.native_pairs(xyz[[0, 5]], [0, 5]).tolist() == []  # apart, but too far
