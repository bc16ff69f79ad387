"""submit, find, cancel, visible_jobs: what the API, the CLI and the dashboard share
(queued jobs only: no scheduler runs here)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User

from chungus.fleet.jobs import submit as jobs
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.models import Job
from chungus.fleet.jobs.submit import JobRefused, Submission
from chungus.fleet.states import JobState

pytestmark = pytest.mark.django_db
ECHO = {"argv": ["echo", "hello"]}


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):
    """Each test's job directories in a folder of its own."""
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))
    return tmp_path / "jobs"


@pytest.fixture
def two_gpus(tmp_path, settings):
    """A declared node with two simulated GPUs (there are none on this machine)."""
    path = tmp_path / "inventory.json"
    gpu = {"name": "Simulated 16 GB", "memory_mb": 16_000}
    path.write_text(json.dumps({"nodes": [{"name": "gpu-01", "gpus": [gpu, gpu]}]}))
    settings.CHUNGUS_INVENTORY = str(path)


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob")


def command(**fields) -> Submission:
    return Submission(kind="command", spec=dict(ECHO), **fields)


def refusal(user, ask: Submission) -> JobRefused:
    with pytest.raises(JobRefused) as caught:
        jobs.submit(user, ask)
    return caught.value


def test_a_submitted_job_is_queued_with_its_spec_written_in_its_directory(operator):
    job = jobs.submit(operator, command(name="hello", cpu_cores=2))
    assert (job.state, job.reason) == (JobState.QUEUED, "queued: waiting for the scheduler")
    assert (job.owner, job.kind, job.name, job.cpu_cores) == (operator, "command", "hello", 2)
    assert job.spec == {"argv": ["echo", "hello"], "cwd": "", "env": {}, "output_dir": "outputs"}
    written = json.loads((job_dir(job.pk) / "spec.json").read_text())
    assert written == {**job.spec, "cpu_cores": 2}


def test_an_unknown_kind_is_refused_naming_the_known_ones(operator):
    refused = refusal(operator, Submission(kind="folding"))
    assert (refused.status, refused.param) == (400, "kind")
    assert "command" in str(refused) and "md" in str(refused)


def test_a_command_job_is_for_operators(alice):
    refused = refusal(alice, command())
    assert (refused.status, refused.param) == (403, "kind")
    assert not Job.objects.exists()


def test_the_run_commands_permission_lets_a_user_submit_commands(alice):
    alice.user_permissions.add(Permission.objects.get(codename="run_commands"))
    alice = User.objects.get(pk=alice.pk)  # permissions are cached on the instance
    assert jobs.submit(alice, command()).owner == alice


def test_a_spec_the_kind_refuses_names_its_parameter(operator):
    refused = refusal(operator, Submission(kind="command", spec={"argv": "echo hello"}))
    assert (refused.status, refused.param) == (400, "argv")


def test_more_gpus_than_any_node_has_are_refused(operator):
    refused = refusal(operator, command(gpus=1))
    assert (refused.status, refused.param) == (400, "gpus")
    assert "GPU" in str(refused)


def test_a_declared_node_with_gpus_takes_a_job_that_fits(operator, two_gpus):
    assert jobs.submit(operator, command(gpus=2)).gpus == 2
    assert refusal(operator, command(gpus=3)).param == "gpus"


def test_a_cluster_launcher_is_not_held_to_this_hosts_gpus(operator):
    assert jobs.submit(operator, command(gpus=4, launcher="slurm")).launcher == "slurm"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gpus", -1), ("gpus", True), ("gpus", "1"), ("cpu_cores", 0), ("memory_mb", -5),
        ("priority", 101), ("grace_seconds", 0), ("tier", "urgent"), ("launcher", "k8s"),
        ("name", 42),
    ],
)  # fmt: skip
def test_resources_of_the_wrong_type_or_range_are_refused(operator, field, value):
    refused = refusal(operator, command(**{field: value}))
    assert (refused.status, refused.param) == (400, field)


def test_past_the_queued_limit_a_user_is_refused_with_429(alice, operator, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_MAX_QUEUED", "2")
    jobs.submit(operator, command())
    jobs.submit(operator, command())
    refused = refusal(operator, command())
    assert refused.status == 429 and "limit is 2" in str(refused)
    Job.objects.filter(owner=operator).update(state=JobState.RUNNING)
    assert jobs.submit(operator, command()).state == JobState.QUEUED  # running ones do not count


def test_a_user_finds_only_their_own_jobs_and_a_superuser_all(operator, alice, bob):
    mine = Job.objects.create(owner=alice, kind="md")
    theirs = Job.objects.create(owner=bob, kind="md")
    assert list(jobs.visible_jobs(alice)) == [mine]
    assert set(jobs.visible_jobs(operator)) == {mine, theirs}
    assert jobs.find(alice, mine.pk) == mine
    assert jobs.find(operator, str(theirs.pk)) == theirs
    for job_id in (theirs.pk, 0, -1, 2**63, 10**30, "x", None):
        with pytest.raises(JobRefused) as caught:
            jobs.find(alice, job_id)
        assert (caught.value.status, caught.value.param) == (404, "job_id")


def test_cancelling_a_queued_job_ends_it_at_once(alice):
    job = Job.objects.create(owner=alice, kind="md")
    cancelled = jobs.cancel(alice, job.pk)
    assert cancelled.state == JobState.CANCELLED and cancelled.finished_at is not None
    assert cancelled.reason == "cancelled by alice"


def test_cancelling_a_running_job_asks_the_scheduler_to_stop_it(alice):
    job = Job.objects.create(owner=alice, kind="md", state=JobState.RUNNING)
    cancelling = jobs.cancel(alice, job.pk)
    assert (cancelling.state, cancelling.cancel_requested) == (JobState.RUNNING, True)
    assert cancelling.reason == "cancelling (asked by alice)"


def test_cancelling_a_finished_job_changes_nothing(alice):
    job = Job.objects.create(owner=alice, kind="md", state=JobState.SUCCEEDED, reason="done")
    assert (jobs.cancel(alice, job.pk).state, jobs.cancel(alice, job.pk).reason) == (
        JobState.SUCCEEDED, "done"
    )  # fmt: skip


def test_nobody_cancels_someone_elses_job(alice, bob):
    job = Job.objects.create(owner=bob, kind="md")
    with pytest.raises(JobRefused) as caught:
        jobs.cancel(alice, job.pk)
    assert caught.value.status == 404
    assert Job.objects.get(pk=job.pk).state == JobState.QUEUED
