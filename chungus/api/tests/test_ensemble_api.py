"""/api/jobs/ for ensembles: submitted as JSON or multipart (with a native structure), the
replicas in the parent's detail, and GET …/ensemble/ (queued only: no scheduler runs here;
lifecycle/jobs/tests/test_ensemble_runs.py reads it while replicas really run)."""

from __future__ import annotations

import pytest

from chungus.accounts.models import ApiKey
from chungus.api.tests.conftest import assert_error, post
from chungus.api.tests.test_jobs_api import _as_files, structures_pdb
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.models import Job

pytestmark = pytest.mark.django_db
ENSEMBLE = {"kind": "ensemble", "spec": {"structure": "villin", "ns": 0.01, "replicas": 3}}


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))


@pytest.fixture
def owner(base):
    return base.bearer(base.owner_secret)


def test_an_ensemble_answers_with_its_replicas(owner):
    response = post(owner, "/api/jobs/", ENSEMBLE)
    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert job["kind"] == "ensemble" and len(job["replicas"]) == 3
    assert {r["parent_id"] for r in job["replicas"]} == {job["id"]}
    assert [r["id"] for r in job["replicas"]] == job["spec"]["replica_ids"]
    again = owner.get(f"/api/jobs/{job['replicas'][0]['id']}/").json()["job"]
    assert again["parent_id"] == job["id"] and again["replicas"] == []


def test_the_native_structure_comes_as_its_own_file(owner):
    files = _as_files({"structure_file": ("mine.pdb", structures_pdb()),
                       "reference_file": ("native.pdb", structures_pdb())})  # fmt: skip
    response = owner.post("/api/jobs/", {"kind": "ensemble", "replicas": "2", "ns": "0.01",
                                         **files})  # fmt: skip
    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert job["spec"]["reference_file"] == "input/reference.pdb"
    assert (job_dir(job["id"]) / "input" / "reference.pdb").read_bytes() == structures_pdb()
    analysis = owner.get(f"/api/jobs/{job['id']}/ensemble/")
    assert analysis.json()["reference"] == "uploaded"


def test_a_reference_for_an_md_job_or_a_broken_one_is_400(owner):
    files = _as_files({"reference_file": ("native.pdb", structures_pdb())})
    assert_error(owner.post("/api/jobs/", {"kind": "md", "structure": "villin", **files}), 400,
                 "reference_file")  # fmt: skip
    broken = _as_files({"reference_file": ("native.pdb", b"ATOM   garbage\nEND\n")})
    response = owner.post("/api/jobs/", {"kind": "ensemble", "structure": "villin", **broken})
    assert_error(response, 400, "reference_file")
    assert_error(post(owner, "/api/jobs/", {**ENSEMBLE, "spec": {"replicas": 999}}), 400,
                 "replicas")  # fmt: skip
    assert not Job.objects.exists()


def test_the_analysis_of_a_queued_ensemble_is_empty_not_an_error(owner):
    job = post(owner, "/api/jobs/", ENSEMBLE).json()["job"]
    response = owner.get(f"/api/jobs/{job['id']}/ensemble/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "queued" and body["reference"] == "the starting structure"
    assert body["summary"]["analysed"] == 0 and body["summary"]["best_replica"] is None
    assert [r["replica"] for r in body["replicas"]] == job["spec"]["replica_ids"]
    assert all(r["rmsd_nm"] == [] for r in body["replicas"])


def test_the_analysis_is_404_for_other_kinds_and_other_peoples_ensembles(base, owner):
    md = post(owner, "/api/jobs/", {"kind": "md", "spec": {"structure": "villin"}}).json()["job"]
    assert_error(owner.get(f"/api/jobs/{md['id']}/ensemble/"), 404, "job_id")
    job = post(owner, "/api/jobs/", ENSEMBLE).json()["job"]
    _, secret = ApiKey.issue("outsider-key", owner=base.outsider)
    assert_error(base.bearer(secret).get(f"/api/jobs/{job['id']}/ensemble/"), 404)
    operator = base.bearer(base.admin_secret).get(f"/api/jobs/{job['id']}/ensemble/")
    assert operator.json()["job_id"] == job["id"]
