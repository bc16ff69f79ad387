from __future__ import annotations

import json
import signal
import time

import mdtraj
import pytest

from chungus.fleet.jobs.kinds.base import (
    ERROR_FILE,
    PROGRESS_FILE,
    RESUMABLE,
    SPEC_FILE,
    Upload,
    read_json,
)
from chungus.fleet.jobs.kinds.md import checkpoint, dcd, structures
from chungus.fleet.jobs.kinds.md.kind import KIND
from chungus.fleet.jobs.kinds.md.runner import choose_platform
from chungus.fleet.jobs.kinds.md.tests.runs import TINY, make_job, run, start, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def assert_exact_outputs(workdir, spec):
    """Every frame once, at report_every, 2 * report_every, ... up to steps_total."""
    total, every = spec["steps_total"], spec["report_every"]
    steps = KIND.energies(workdir)["step"]
    assert steps == [float(s) for s in range(every, total + 1, every)]
    trajectory = mdtraj.load(str(workdir / "trajectory.dcd"), top=str(workdir / "final.pdb"))
    assert trajectory.n_frames == total // every
    layout = dcd.read_layout(workdir / "trajectory.dcd")
    assert layout.frames_in_header == layout.complete_frames(
        (workdir / "trajectory.dcd").stat().st_size
    )


def progress(workdir):
    return read_json(workdir / PROGRESS_FILE)


def test_it_runs_a_tiny_job_to_done(tmp_path):
    spec = make_job(tmp_path)
    assert run(tmp_path) == 0
    figures = progress(tmp_path)
    assert figures["phase"] == "done"
    assert figures["steps_done"] == figures["steps_total"] == 2000
    assert figures["attempt"] == 1 and figures["steps_recomputed"] == 0
    assert figures["platform"] == "CPU" and figures["atoms"] == 596  # 1VII has its hydrogens
    assert_exact_outputs(tmp_path, {**spec, "steps_total": 2000})
    assert mdtraj.load(str(tmp_path / "trajectory.dcd"), top=str(tmp_path / "prepared.pdb"))
    assert KIND.progress(tmp_path).fraction == 1
    assert KIND.progress(tmp_path).summary == "Done: 0.0040 ns"
    assert [o.name for o in KIND.outputs(tmp_path)] == [
        "final.pdb",
        "trajectory.dcd",
        "energies.csv",
        "prepared.pdb",
        "job.log",
    ]
    models = KIND.trajectory_pdb(tmp_path, max_frames=15)
    assert models.count("MODEL") == 15
    assert models.count("ATOM") == 15 * figures["atoms"]
    assert len(KIND.trajectory_pdb(tmp_path).split("ENDMDL")) - 1 == 40  # all 40 frames


def test_it_checkpoints_on_sigterm_and_resumes_exactly(tmp_path):
    spec = make_job(tmp_path)
    job = start(tmp_path)
    seen = wait_for(tmp_path, lambda p: p["phase"] == "production" and p["steps_done"] > 700)
    asked = time.monotonic()
    job.send_signal(signal.SIGTERM)
    assert job.wait(30) == RESUMABLE
    assert time.monotonic() - asked < 2
    stopped = checkpoint.load(tmp_path)
    assert stopped.step >= seen["steps_done"]  # saved where it stopped, nothing lost
    assert stopped.dcd_frames == stopped.step // spec["report_every"]
    assert run(tmp_path) == 0
    figures = progress(tmp_path)
    assert figures["phase"] == "done" and figures["attempt"] == 2
    assert figures["steps_recomputed"] == 0
    assert_exact_outputs(tmp_path, {**spec, "steps_total": 2000})


def test_it_resumes_exactly_after_a_sigterm_and_then_a_sigkill(tmp_path):
    spec = make_job(tmp_path)
    job = start(tmp_path)
    wait_for(tmp_path, lambda p: p["phase"] == "production" and p["steps_done"] > 200)
    job.send_signal(signal.SIGTERM)
    assert job.wait(30) == RESUMABLE
    stopped_at = checkpoint.load(tmp_path).step
    job = start(tmp_path)
    # watched on disk, not in progress.json (written once a second): frames just past a
    # checkpoint, well before the next one
    wait_for(
        tmp_path,
        lambda p: (
            (saved := checkpoint.load(tmp_path)) is not None
            and saved.step > stopped_at
            and 0 < checkpoint.frames_on_disk(tmp_path) * spec["report_every"] - saved.step <= 200
        ),
    )
    job.send_signal(signal.SIGKILL)
    job.wait(30)
    killed_at = checkpoint.frames_on_disk(tmp_path) * spec["report_every"]
    assert killed_at > checkpoint.load(tmp_path).step  # frames beyond the checkpoint to cut
    assert run(tmp_path) == 0
    figures = progress(tmp_path)
    assert figures["phase"] == "done" and figures["attempt"] == 3
    assert 0 < figures["steps_recomputed"] <= spec["checkpoint_every"]
    assert_exact_outputs(tmp_path, {**spec, "steps_total": 2000})


def test_it_exits_resumable_at_once_when_stopped_before_production(tmp_path):
    make_job(tmp_path, structure="hiv-integrase")  # preparation builds loops for ~20 s
    job = start(tmp_path)
    wait_for(tmp_path, lambda p: p["phase"] == "preparing")
    time.sleep(0.5)
    asked = time.monotonic()
    job.send_signal(signal.SIGTERM)
    assert job.wait(30) == RESUMABLE
    assert time.monotonic() - asked < 2
    assert progress(tmp_path)["phase"] == "preparing"


def test_it_explains_a_structure_the_force_field_cannot_take(tmp_path):
    # pdbfixer's alanine dipeptide puts ACE, ALA and NME under one residue number
    peptide = structures.PackagedStructure("x", "pdbfixer", "tests/data/alanine-dipeptide.pdb", "")
    upload = Upload("peptide.pdb", peptide.path().read_bytes())
    spec = KIND.validate({**TINY, "structure": None}, upload)
    KIND.save_inputs(spec, upload, tmp_path)
    (tmp_path / SPEC_FILE).write_text(json.dumps(spec))
    assert run(tmp_path) == 2
    message = read_json(tmp_path / ERROR_FILE)["message"]
    assert message.startswith("The structure could not be prepared with amber14")
    assert "No template found" in message
    assert KIND.progress(tmp_path).summary.startswith("Failed: The structure could not")


@pytest.mark.parametrize(
    ("requested", "visible", "available", "chosen"),
    [
        ("auto", "0", {"CPU", "CUDA"}, "CUDA"),
        ("cuda", "1", {"CPU", "CUDA"}, "CUDA"),
        ("auto", "", {"CPU", "CUDA"}, "CPU"),
        ("auto", "0", {"CPU", "Reference"}, "CPU"),
        ("cpu", "0", {"CPU", "CUDA"}, "CPU"),
        ("reference", "", {"CPU", "Reference"}, "Reference"),
    ],
)
def test_it_uses_cuda_only_when_a_gpu_was_given_and_openmm_has_it(
    requested, visible, available, chosen
):
    assert choose_platform(requested, visible, available) == chosen
