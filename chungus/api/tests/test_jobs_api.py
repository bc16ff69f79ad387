"""/api/jobs/…: submit (JSON or multipart), list, one, cancel, outputs, log, kinds — any
user for their own jobs, a superuser for all (queued jobs only: no scheduler runs here)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from chungus.accounts.models import ApiKey
from chungus.api.jobs_schemas import JobSubmit
from chungus.api.tests.conftest import assert_error, post
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.models import Job, Tier
from chungus.fleet.jobs.submit import LAUNCHERS
from chungus.fleet.states import JobState

pytestmark = pytest.mark.django_db

MD = {"kind": "md", "spec": {"structure": "villin", "ns": 0.01}}
SUMMARY = {
    "id", "kind", "name", "owner", "state", "reason", "tier", "priority", "gpus", "gpu_indices",
    "node", "progress", "progress_summary", "attempts", "preemptions", "gpu_seconds",
    "created_at", "started_at", "finished_at", "retries", "parent_id",
}  # fmt: skip
DETAIL = SUMMARY | {
    "spec", "cpu_cores", "memory_mb", "launcher", "grace_seconds", "cancel_requested",
    "exit_code", "progress_detail", "events", "outputs", "replicas",
}  # fmt: skip


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))


@pytest.fixture
def owner(base) -> Client:
    """A user who is not a superuser, by their own API key."""
    return base.bearer(base.owner_secret)


@pytest.fixture
def outsider(base) -> Client:
    _, secret = ApiKey.issue("outsider-key", owner=base.outsider)
    return base.bearer(secret)


@pytest.fixture
def two_gpus(tmp_path, settings):
    path = tmp_path / "inventory.json"
    gpu = {"name": "Simulated 16 GB", "memory_mb": 16_000}
    path.write_text(json.dumps({"nodes": [{"name": "gpu-01", "gpus": [gpu, gpu]}]}))
    settings.CHUNGUS_INVENTORY = str(path)


@pytest.fixture
def finished(base) -> Job:
    """The owner's command job that ended, with files in its directory."""
    job = Job.objects.create(
        owner=base.owner, kind="command", state=JobState.SUCCEEDED, reason="exited with 0",
        spec={"argv": ["x"], "cwd": "", "env": {}, "output_dir": "outputs"},
        events=[{"time": 1, "event": "started", "detail": "attempt 1"}],
    )  # fmt: skip
    folder = job_dir(job.pk)
    (folder / "outputs" / "deep").mkdir(parents=True)
    (folder / "outputs" / "result.txt").write_text("42\n")
    (folder / "outputs" / "deep" / "more.csv").write_text("a,b\n")
    (folder / "spec.json").write_text(json.dumps(job.spec))
    (folder / "job.log").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    return job


def submit(client, body):
    return post(client, "/api/jobs/", body)


# Who may call it.


def test_without_credentials_every_operation_is_401(client, finished):
    for path in ("/api/jobs/", "/api/jobs/kinds/", f"/api/jobs/{finished.pk}/"):
        assert_error(client.get(path), 401)
    assert_error(post(client, "/api/jobs/", MD), 401)
    assert_error(post(client, f"/api/jobs/{finished.pk}/cancel/", None), 401)


def test_a_key_without_an_owner_may_not_submit(base):
    _, secret = ApiKey.issue("app-key")
    assert_error(submit(base.bearer(secret), MD), 403)


def test_a_signed_in_user_posts_with_the_csrf_token(base):
    assert submit(base.client(base.owner), MD).status_code == 201
    error = assert_error(submit(base.client(base.owner, csrf=False), MD), 403)
    assert error["code"] == "csrf_failed"


# Submitting.


def test_an_owner_submits_an_md_job_that_is_queued(owner):
    response = submit(owner, {**MD, "name": "villin-test", "cpu_cores": 2})
    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert set(job) == DETAIL
    assert (job["kind"], job["owner"], job["name"], job["state"]) == (
        "md", "owner", "villin-test", "queued"
    )  # fmt: skip
    assert (job["tier"], job["priority"], job["launcher"], job["cpu_cores"]) == (
        "batch", 0, "local", 2
    )  # fmt: skip
    assert job["spec"]["structure"] == "villin" and job["spec"]["ns"] == 0.01
    assert job["reason"] == "queued: waiting for the scheduler"
    assert Job.objects.get(pk=job["id"]).owner.username == "owner"


def test_a_job_asks_for_gpus_a_declared_node_has(owner, two_gpus):
    response = submit(owner, {**MD, "gpus": 2, "tier": "background", "priority": 5})
    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert (job["gpus"], job["tier"], job["priority"]) == (2, "background", 5)


DEEP = json.loads("[" * 20 + "1" + "]" * 20)
BAD = [
    ("gpus as text", {**MD, "gpus": "1"}, 422, "gpus"),
    ("gpus as a boolean", {**MD, "gpus": True}, 422, "gpus"),
    ("negative cpu cores", {**MD, "cpu_cores": -1}, 422, "cpu_cores"),
    ("an unknown tier", {**MD, "tier": "urgent"}, 422, "tier"),
    ("an unknown launcher", {**MD, "launcher": "k8s"}, 422, "launcher"),
    ("an unknown field", {**MD, "colour": "red"}, 422, "colour"),
    ("no kind", {"spec": MD["spec"]}, 422, "kind"),
    ("a spec that is a list", {"kind": "md", "spec": []}, 422, "spec"),
    ("an unknown kind", {"kind": "folding", "spec": {}}, 400, "kind"),
    ("ns as text", {"kind": "md", "spec": {"structure": "villin", "ns": "0.1"}}, 400, "ns"),
    ("negative ns", {"kind": "md", "spec": {"structure": "villin", "ns": -1}}, 400, "ns"),
    ("an unknown structure", {"kind": "md", "spec": {"structure": "nope", "ns": 0.1}}, 400,
     "structure"),
    ("more GPUs than exist", {**MD, "gpus": 1}, 400, "gpus"),
    ("a NUL in the spec", {"kind": "md", "spec": {"structure": "vil\x00lin"}}, 400, "structure"),
    ("a deeply nested spec", {"kind": "md", "spec": {"x": DEEP}}, 400, "x"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "param"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_the_parameter_at_fault(owner, body, status, param):
    assert_error(submit(owner, body), status, param)
    assert not Job.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"md"', b"\xff\xfe", b"NaN", b""])
def test_a_body_that_is_not_a_json_object_is_400(owner, body):
    response = owner.post("/api/jobs/", body, content_type="application/json")
    assert assert_error(response, 400)["code"] == "invalid_json"


def test_a_command_job_from_a_user_who_is_not_an_operator_is_403(owner):
    body = {"kind": "command", "spec": {"argv": ["nvidia-smi"]}}
    assert_error(submit(owner, body), 403, "kind")


def test_an_operator_submits_a_command_job(base, admin):
    body = {"kind": "command", "spec": {"argv": ["echo", "hi"], "env": {"A": "1"}}}
    response = submit(base.bearer(base.admin_secret), body)
    assert response.status_code == 201, response.content
    assert response.json()["job"]["spec"]["argv"] == ["echo", "hi"]


def test_past_the_queued_limit_submitting_is_429(owner, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_MAX_QUEUED", "1")
    assert submit(owner, MD).status_code == 201
    error = assert_error(submit(owner, MD), 429)
    assert (error["type"], error["code"]) == ("rate_limit_error", "too_many_queued_jobs")


# Multipart: a structure file of one's own.


def upload(client, fields, name="mine.pdb", data=None):
    files = {"structure_file": (name, data if data is not None else structures_pdb())}
    return client.post("/api/jobs/", {**fields, **_as_files(files)})


def _as_files(files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {key: SimpleUploadedFile(name, data) for key, (name, data) in files.items()}


def structures_pdb() -> bytes:
    """A real, small PDB: the packaged villin headpiece."""
    return structures.find("villin").path().read_bytes()


def test_a_multipart_upload_with_the_spec_as_one_json_field(owner):
    response = upload(owner, {"kind": "md", "spec": json.dumps({"ns": 0.01}), "cpu_cores": "2"})
    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert (job["spec"]["ns"], job["cpu_cores"]) == (0.01, 2)
    saved = list((job_dir(job["id"]) / "input").iterdir())
    assert [p.read_bytes() for p in saved] == [structures_pdb()]
    assert all("mine" not in p.name for p in saved)  # stored under a name CHUNGUS chose


def test_a_multipart_upload_with_the_spec_as_fields(owner):
    response = upload(owner, {"kind": "md", "ns": "0.01", "solvent": "vacuum", "name": "7"})
    assert response.status_code == 201, response.content
    job = response.json()["job"]
    assert (job["spec"]["ns"], job["spec"]["solvent"], job["name"]) == (0.01, "vacuum", "7")


def test_a_malformed_pdb_upload_is_400(owner):
    response = upload(owner, {"kind": "md", "ns": "0.01"}, data=b"ATOM   garbage\nEND\n")
    assert_error(response, 400, "structure_file")
    assert not Job.objects.exists()


def test_a_form_field_given_twice_or_another_file_is_400(owner):
    twice = owner.post("/api/jobs/", {"kind": "md", "ns": ["0.01", "0.02"]})
    assert_error(twice, 400, "ns")
    other = _as_files({"other": ("x.pdb", b"x")})
    assert_error(owner.post("/api/jobs/", {"kind": "md", **other}), 400, "other")
    assert_error(owner.post("/api/jobs/", {"kind": "md", "spec": "[1]"}), 400, "spec")


def test_a_broken_multipart_body_is_400_not_500(base, owner):
    for client in (owner, base.client(base.owner)):  # a session's CSRF check reads the form too
        response = client.post("/api/jobs/", b"kind=md", content_type="multipart/form-data")
        assert assert_error(response, 400)["code"] == "invalid_form"


# Listing, one job, cancelling.


def test_a_user_lists_their_own_jobs_and_a_superuser_everyones(base, admin, owner, outsider):
    mine = submit(owner, MD).json()["job"]["id"]
    theirs = submit(outsider, MD).json()["job"]["id"]
    listed = owner.get("/api/jobs/").json()["jobs"]
    assert [j["id"] for j in listed] == [mine] and set(listed[0]) == SUMMARY
    assert {j["id"] for j in admin.get("/api/jobs/").json()["jobs"]} == {mine, theirs}


def test_the_list_filters_by_state(owner):
    first = submit(owner, MD).json()["job"]["id"]
    second = submit(owner, MD).json()["job"]["id"]
    post(owner, f"/api/jobs/{first}/cancel/")
    queued = owner.get("/api/jobs/?state=queued").json()["jobs"]
    assert [j["id"] for j in queued] == [second]
    assert [j["id"] for j in owner.get("/api/jobs/?limit=1").json()["jobs"]] == [second]
    assert_error(owner.get("/api/jobs/?state=sleeping"), 422, "state")
    assert_error(owner.get("/api/jobs/?limit=0"), 422, "limit")


def test_one_job_shows_its_spec_progress_events_and_outputs_to_download(owner, finished):
    Job.objects.filter(pk=finished.pk).update(
        progress=1.0, progress_detail={"fraction": 1.0}, exit_code=0
    )
    job = owner.get(f"/api/jobs/{finished.pk}/").json()["job"]
    assert set(job) == DETAIL
    assert (job["state"], job["progress_detail"], job["exit_code"]) == (
        "succeeded", {"fraction": 1.0}, 0
    )  # fmt: skip
    assert job["events"] == [{"time": 1, "event": "started", "detail": "attempt 1"}]
    outputs = {o["name"]: o for o in job["outputs"]}
    assert set(outputs) == {"outputs/result.txt", "outputs/deep/more.csv", "job.log"}
    result = outputs["outputs/result.txt"]
    assert result["size_bytes"] == 3
    assert result["url"] == f"/api/jobs/{finished.pk}/outputs/outputs/result.txt"
    response = owner.get(result["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"42\n"
    assert 'attachment; filename="result.txt"' in response["Content-Disposition"]


def test_cancelling_a_queued_job_ends_it_and_again_changes_nothing(owner):
    job_id = submit(owner, MD).json()["job"]["id"]
    response = post(owner, f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    job = response.json()["job"]
    assert (job["state"], job["reason"]) == ("cancelled", "cancelled by owner")
    again = post(owner, f"/api/jobs/{job_id}/cancel/").json()["job"]
    assert (again["state"], again["finished_at"]) == ("cancelled", job["finished_at"])


def test_cancel_is_a_post(owner, finished):
    response = owner.get(f"/api/jobs/{finished.pk}/cancel/")
    assert_error(response, 405)


# Tenancy: someone else's job does not exist.


def test_another_users_job_is_404_everywhere_and_stays_as_it_is(outsider, finished):
    job_id = finished.pk
    for response in (
        outsider.get(f"/api/jobs/{job_id}/"),
        post(outsider, f"/api/jobs/{job_id}/cancel/"),
        outsider.get(f"/api/jobs/{job_id}/outputs/outputs/result.txt"),
        outsider.get(f"/api/jobs/{job_id}/log/"),
    ):
        assert_error(response, 404)
    assert outsider.get("/api/jobs/").json()["jobs"] == []
    assert Job.objects.get(pk=job_id).state == JobState.SUCCEEDED


def test_a_missing_job_is_the_same_404(outsider, finished):
    for job_id in (finished.pk, 999_999, 10**30):
        error = assert_error(outsider.get(f"/api/jobs/{job_id}/"), 404, "job_id")
        assert error["message"] == f"no job {job_id}"


def test_a_superuser_sees_and_cancels_anyones_job(admin, owner):
    job_id = submit(owner, MD).json()["job"]["id"]
    assert admin.get(f"/api/jobs/{job_id}/").json()["job"]["owner"] == "owner"
    assert post(admin, f"/api/jobs/{job_id}/cancel/").json()["job"]["state"] == "cancelled"


# Outputs and the log.


@pytest.mark.parametrize(
    "name",
    ["spec.json", "../spec.json", "outputs/../spec.json", "%2e%2e/spec.json", "/etc/passwd",
     "outputs/../../../etc/passwd", "outputs/missing.txt", "outputs"],
)  # fmt: skip
def test_only_the_outputs_the_kind_lists_are_served(owner, finished, name):
    assert_error(owner.get(f"/api/jobs/{finished.pk}/outputs/{name}"), 404)


def test_a_file_that_leaves_the_job_directory_by_a_link_is_not_served(owner, finished, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (job_dir(finished.pk) / "outputs" / "link.txt").symlink_to(secret)
    names = [o["name"] for o in owner.get(f"/api/jobs/{finished.pk}/").json()["job"]["outputs"]]
    assert "outputs/link.txt" not in names
    assert_error(owner.get(f"/api/jobs/{finished.pk}/outputs/outputs/link.txt"), 404)


def test_the_log_is_its_last_lines(owner, finished):
    log = owner.get(f"/api/jobs/{finished.pk}/log/?lines=3").json()
    size = (job_dir(finished.pk) / "job.log").stat().st_size
    assert log == {
        "job_id": finished.pk, "text": "line 8\nline 9\nline 10\n", "size_bytes": size,
        "truncated": True,
    }  # fmt: skip
    whole = owner.get(f"/api/jobs/{finished.pk}/log/").json()
    assert whole["text"].startswith("line 1\n") and whole["truncated"] is False


def test_a_job_without_a_log_yet_has_an_empty_one(owner):
    job_id = submit(owner, MD).json()["job"]["id"]
    assert owner.get(f"/api/jobs/{job_id}/log/").json()["text"] == ""


# Kinds and the schema.


def test_kinds_say_who_may_submit_them_and_list_the_packaged_structures(owner, admin):
    reply = owner.get("/api/jobs/kinds/").json()
    kinds = {k["name"]: k for k in reply["kinds"]}
    assert (kinds["md"]["allowed"], kinds["command"]["allowed"]) == (True, False)
    assert kinds["command"]["operator_only"] is True
    assert "villin" in {s["name"] for s in reply["structures"]}
    admin_kinds = {k["name"]: k["allowed"] for k in admin.get("/api/jobs/kinds/").json()["kinds"]}
    assert admin_kinds["command"] is True


def test_the_choices_in_the_schema_are_the_ones_submit_takes():
    fields = JobSubmit.model_fields
    assert list(fields["tier"].annotation.__args__) == Tier.values
    assert fields["launcher"].annotation.__args__ == LAUNCHERS


def test_the_openapi_schema_documents_the_jobs_operations_and_both_bodies(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {
        "/api/jobs/", "/api/jobs/kinds/", "/api/jobs/{job_id}/", "/api/jobs/{job_id}/cancel/",
        "/api/jobs/{job_id}/log/", "/api/jobs/{job_id}/outputs/{name}",
    } <= set(paths)  # fmt: skip
    body = paths["/api/jobs/"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert "structure_file" in body["multipart/form-data"]["schema"]["properties"]
    assert {"400", "401", "403", "422", "429"} <= set(paths["/api/jobs/"]["post"]["responses"])
    assert paths["/api/jobs/"]["get"]["security"] == [{"UserKey": []}, {"UserSession": []}]
