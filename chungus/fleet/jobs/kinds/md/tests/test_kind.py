from __future__ import annotations

import io
import sys

import pytest
from openmm import app

from chungus.fleet.jobs.kinds.base import SpecError, Upload, write_json
from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.kinds.md.kind import KIND, MAX_UPLOAD_BYTES, duration

VILLIN = structures.find("villin").path().read_bytes()


def refused(spec, upload=None):
    with pytest.raises(SpecError) as caught:
        KIND.validate(spec, upload)
    return caught.value.param


def test_it_names_itself():
    assert (KIND.name, KIND.label, KIND.operator_only) == (
        "md",
        "Molecular dynamics (OpenMM)",
        False,
    )


def test_it_fills_in_every_default():
    spec = KIND.validate({"structure": "villin", "ns": 1}, None)
    assert spec == {
        "structure": "villin",
        "structure_file": None,
        "ns": 1.0,
        "timestep_fs": 2.0,
        "temperature_k": 300.0,
        "friction_per_ps": 1.0,
        "padding_nm": 1.0,
        "ionic_strength_molar": 0.15,
        "pressure_bar": 1.0,
        "ph": 7.0,
        "equilibration_ps": 10.0,
        "forcefield": "amber14",
        "solvent": "implicit",
        "platform": "auto",
        "report_every": 5000,  # 500,000 steps over about 100 frames
        "checkpoint_every": 10_000,
    }
    assert KIND.validate(spec, None) == spec  # a complete spec validates to itself


def test_it_reports_at_least_every_100_steps():
    assert KIND.validate({"structure": "villin", "ns": 0.001}, None)["report_every"] == 100


def test_it_keeps_what_was_asked():
    asked = {
        "structure": "villin-solvated",
        "ns": 0.5,
        "timestep_fs": 4,
        "temperature_k": 310,
        "friction_per_ps": 0.5,
        "forcefield": "charmm36",
        "solvent": "explicit",
        "padding_nm": 1.5,
        "ionic_strength_molar": 0,
        "pressure_bar": 2,
        "ph": 6.5,
        "equilibration_ps": 0,
        "report_every": 1000,
        "checkpoint_every": 3,
        "platform": "cuda",
        "cpu_cores": 4,
    }
    assert KIND.validate(asked, None) == {**asked, "structure_file": None}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"ns": 0}, "ns"),
        ({"ns": -1}, "ns"),
        ({"ns": 1000.5}, "ns"),
        ({"ns": "1"}, "ns"),
        ({"ns": True}, "ns"),
        ({"ns": float("nan")}, "ns"),
        ({"ns": 1e-9}, "ns"),
        ({"timestep_fs": 0.4}, "timestep_fs"),
        ({"timestep_fs": 5.5}, "timestep_fs"),
        ({"temperature_k": 0.5}, "temperature_k"),
        ({"temperature_k": 1001}, "temperature_k"),
        ({"temperature_k": None}, "temperature_k"),
        ({"friction_per_ps": 0}, "friction_per_ps"),
        ({"forcefield": "amber99"}, "forcefield"),
        ({"forcefield": ["amber14"]}, "forcefield"),
        ({"solvent": "water"}, "solvent"),
        ({"padding_nm": 0.1}, "padding_nm"),
        ({"ionic_strength_molar": -0.1}, "ionic_strength_molar"),
        ({"pressure_bar": 0}, "pressure_bar"),
        ({"ph": 15}, "ph"),
        ({"equilibration_ps": -1}, "equilibration_ps"),
        ({"report_every": 0}, "report_every"),
        ({"report_every": 100.0}, "report_every"),
        ({"report_every": 10**9}, "report_every"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"checkpoint_every": "10"}, "checkpoint_every"),
        ({"platform": "opencl"}, "platform"),
        ({"cpu_cores": 0}, "cpu_cores"),
        ({"frames": 10}, "frames"),
        ({"structure": "lysozyme"}, "structure"),
        ({"structure": 3}, "structure"),
        ({"structure": None}, "structure"),
        ({"structure_file": "/etc/passwd"}, "structure_file"),
    ],
)
def test_it_refuses_a_bad_parameter_and_names_it(change, param):
    assert refused({"structure": "villin", "ns": 0.01, **change}) == param


def test_it_lists_the_known_structures_when_one_is_unknown():
    with pytest.raises(SpecError, match="villin, villin-solvated, hiv-integrase"):
        KIND.validate({"structure": "lysozyme"}, None)


def test_it_refuses_a_spec_that_is_not_an_object():
    assert refused(["villin"]) == "spec"


def test_it_takes_an_uploaded_pdb_and_stores_it_under_its_own_name(tmp_path):
    upload = Upload("../../my protein.PDB", VILLIN)
    spec = KIND.validate({"ns": 0.01}, upload)
    assert (spec["structure"], spec["structure_file"]) == (None, "input/structure.pdb")
    KIND.save_inputs(spec, upload, tmp_path)
    assert (tmp_path / "input" / "structure.pdb").read_bytes() == VILLIN
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["structure.pdb"]


def test_it_takes_an_uploaded_mmcif(tmp_path):
    pdb = app.PDBFile(io.StringIO(VILLIN.decode()))
    cif = io.StringIO()
    app.PDBxFile.writeFile(pdb.topology, pdb.positions, cif)
    spec = KIND.validate({"ns": 0.01}, Upload("villin.mmcif", cif.getvalue().encode()))
    assert spec["structure_file"] == "input/structure.cif"


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("villin.gro", VILLIN),
        ("villin.pdb", b"\xff\xfe\x00garbage"),
        ("villin.pdb", b"REMARK nothing here\nEND\n"),
        ("villin.cif", VILLIN),
        ("villin.pdb", VILLIN + b" " * MAX_UPLOAD_BYTES),
    ],
)
def test_it_refuses_an_upload_it_cannot_use(filename, data):
    assert refused({"ns": 0.01}, Upload(filename, data)) == "structure_file"


def test_it_refuses_a_packaged_structure_and_an_upload_together():
    assert refused({"structure": "villin"}, Upload("villin.pdb", VILLIN)) == "structure"


def test_its_command_runs_the_runner_with_the_cores_it_was_given(tmp_path):
    spec = KIND.validate({"structure": "villin", "cpu_cores": 6}, None)
    command = KIND.command(spec, tmp_path)
    assert command.argv == (sys.executable, "-m", "chungus.fleet.jobs.kinds.md.runner")
    assert command.env == {"OPENMM_CPU_THREADS": "6"}
    assert KIND.command({**spec, "cpu_cores": None}, tmp_path).env["OPENMM_CPU_THREADS"] == "1"


def test_its_progress_before_the_job_starts_says_so(tmp_path):
    assert KIND.progress(tmp_path).fraction == 0
    assert KIND.progress(tmp_path).summary == "Waiting to start"


def test_its_progress_during_production_reads_as_a_sentence(tmp_path):
    write_json(
        tmp_path / "progress.json",
        {
            "phase": "production",
            "steps_done": 20_000,
            "steps_total": 50_000,
            "ns_done": 0.04,
            "ns_total": 0.1,
            "ns_per_day": 41.23,
            "eta_seconds": 130,
            "platform": "CPU",
        },
    )
    progress = KIND.progress(tmp_path)
    assert progress.fraction == pytest.approx(0.4)
    assert progress.summary == "0.04 of 0.10 ns · 41.2 ns/day · ETA 2 min · CPU"
    assert progress.detail["platform"] == "CPU"


def test_its_progress_never_raises_on_a_half_written_file(tmp_path):
    (tmp_path / "progress.json").write_text('{"phase": "produ')
    assert KIND.progress(tmp_path).summary == "Waiting to start"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (40, "40 s"),
        (130, "2 min"),
        (3 * 3600 + 300, "3 h 5 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_durations_read_naturally(seconds, text):
    assert duration(seconds) == text


def test_it_lists_only_the_outputs_that_exist(tmp_path):
    assert KIND.outputs(tmp_path) == []
    (tmp_path / "job.log").write_text("started\n")
    (tmp_path / "energies.csv").write_text("")
    assert [o.name for o in KIND.outputs(tmp_path)] == ["energies.csv", "job.log"]


def test_importing_it_leaves_openmm_unloaded_and_the_runner_leaves_django_unloaded():
    import subprocess

    code = (
        "import sys; import chungus.fleet.jobs.kinds.md.kind; "
        "assert 'openmm' not in sys.modules and 'pdbfixer' not in sys.modules; "
        "import chungus.fleet.jobs.kinds.md.runner; assert 'django' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
