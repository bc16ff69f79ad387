"""Ensembles in the database: the parent and its replicas made in one go, the parent's
progress summed from its replicas, its end when they end, cancelling it cancels them (no
scheduler runs here: tests/test_ensemble_runs.py in lifecycle/jobs runs them for real)."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from chungus.fleet.jobs import ensembles
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds.base import Upload
from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.models import Job
from chungus.fleet.jobs.submit import JobRefused, Submission, cancel, submit
from chungus.fleet.lifecycle.jobs import rows
from chungus.fleet.states import JobState

pytestmark = pytest.mark.django_db
SPEC = {"structure": "villin", "ns": 0.01, "solvent": "vacuum", "replicas": 3, "seed": 40}


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))


@pytest.fixture
def owner() -> User:
    return User.objects.create_user("researcher")


def ensemble(owner: User, **changes) -> Job:
    ask = Submission(kind="ensemble", spec={**SPEC, **changes.pop("spec", {})}, **changes)
    return submit(owner, ask, gpu_limit=2)


def queued_parents() -> list[dict]:
    return [r for r in rows.queued() if r["kind"] == "ensemble"]


def test_an_ensemble_is_a_parent_and_one_md_job_a_replica(owner):
    parent = ensemble(owner, name="villin-fold", gpus=1, launcher="slurm", grace_seconds=20)
    replicas = list(parent.replicas.order_by("id"))
    assert parent.kind == "ensemble" and parent.gpus == 0 and parent.launcher == "local"
    assert [r.kind for r in replicas] == ["md"] * 3
    assert parent.spec["replica_ids"] == [r.pk for r in replicas]
    assert [r.spec["seed"] for r in replicas] == [40, 41, 42]
    assert [r.name for r in replicas] == ["villin-fold-1", "villin-fold-2", "villin-fold-3"]
    assert {(r.gpus, r.launcher, r.grace_seconds, r.max_retries) for r in replicas} == {
        (1, "slurm", 20, 2)
    }
    for replica in replicas:  # each directory holds its own spec, ready for the runner
        written = json.loads((job_dir(replica.pk) / "spec.json").read_text())
        assert written["seed"] == replica.spec["seed"] and written["structure"] == "villin"
    assert json.loads((job_dir(parent.pk) / "spec.json").read_text())["replica_ids"]


def test_an_uploaded_structure_goes_to_every_replica_and_the_reference_to_the_parent(owner):
    data = structures.find("villin").path().read_bytes()
    parent = submit(owner, Submission(
        kind="ensemble", spec={"replicas": 2, "ns": 0.01},
        upload=Upload("mine.pdb", data), reference=Upload("native.pdb", data),
    ))  # fmt: skip
    assert (job_dir(parent.pk) / "input" / "reference.pdb").read_bytes() == data
    for replica in parent.replicas.all():
        assert (job_dir(replica.pk) / "input" / "structure.pdb").read_bytes() == data


def test_refusals_name_their_parameter(owner):
    wrong: list[tuple[dict[str, Any], str]] = [
        ({"spec": {"replicas": 0}}, "replicas"),
        ({"spec": {"structure": "nope"}}, "structure"),
        ({"reference": Upload("native.cif", b"x")}, "reference_file"),
        ({"gpus": 3}, "gpus"),
    ]
    for changes, param in wrong:
        with pytest.raises(JobRefused) as caught:
            ensemble(owner, **changes)
        assert caught.value.param == param, changes
    with pytest.raises(JobRefused) as caught:
        submit(owner, Submission(kind="md", spec={"structure": "villin"},
                                 reference=Upload("native.pdb", b"x")))  # fmt: skip
    assert caught.value.param == "reference_file"
    assert not Job.objects.exists()


def test_the_replicas_count_against_the_queue_limit(owner, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_MAX_QUEUED", "5")
    ensemble(owner, spec={"replicas": 3})  # 4 queued jobs
    with pytest.raises(JobRefused) as caught:
        ensemble(owner, spec={"replicas": 1})
    assert caught.value.status == 429 and "this adds 2" in str(caught.value)


def test_the_parent_waits_with_its_replicas_progress_and_then_runs_its_analysis(owner):
    parent = ensemble(owner)
    first, second, third = parent.replicas.order_by("id")
    assert ensembles.follow(queued_parents()) == set()
    Job.objects.filter(pk=first.pk).update(state=JobState.RUNNING, progress=0.5)
    Job.objects.filter(pk=second.pk).update(state=JobState.SUCCEEDED, progress=1.0)
    assert ensembles.follow(queued_parents()) == set()
    parent.refresh_from_db()
    assert parent.progress == pytest.approx(0.5)
    assert parent.progress_summary == "1 of 3 replicas done · 1 running · 1 queued"
    assert parent.reason.startswith("queued: waiting for its replicas")
    Job.objects.filter(pk=first.pk).update(state=JobState.SUCCEEDED, progress=1.0)
    Job.objects.filter(pk=third.pk).update(state=JobState.FAILED, progress=0.2)
    assert ensembles.follow(queued_parents()) == {parent.pk}
    parent.refresh_from_db()
    assert parent.progress_summary.endswith("1 failed; analysing")


def test_an_ensemble_none_of_whose_replicas_succeeded_fails(owner):
    parent = ensemble(owner)
    parent.replicas.update(state=JobState.FAILED)
    assert ensembles.follow(queued_parents()) == set()
    parent.refresh_from_db()
    assert parent.state == JobState.FAILED
    assert parent.reason == "no replica succeeded: 0 of 3 replicas done · 3 failed"


def test_cancelling_the_ensemble_cancels_its_replicas(owner):
    parent = ensemble(owner)
    running = parent.replicas.order_by("id").first()
    Job.objects.filter(pk=running.pk).update(state=JobState.RUNNING)
    cancel(owner, parent.pk)
    states = Counter(parent.replicas.values_list("state", flat=True))
    assert states == {JobState.CANCELLED: 2, JobState.RUNNING: 1}
    assert Job.objects.get(pk=running.pk).cancel_requested  # the scheduler stops it
    assert Job.objects.get(pk=parent.pk).state == JobState.CANCELLED


def test_counts_line_and_outcome():
    assert ensembles.counts_line(Counter(succeeded=2, running=1, queued=1)) == (
        "2 of 4 replicas done · 1 running · 1 queued"
    )
    assert ensembles.outcome(Counter(succeeded=1, running=1)) is None
    assert ensembles.outcome(Counter(succeeded=1, failed=3)) == JobState.QUEUED
    assert ensembles.outcome(Counter(failed=1, cancelled=1)) == JobState.FAILED
    assert ensembles.outcome(Counter(cancelled=2)) == JobState.CANCELLED


def test_the_cli_submits_an_ensemble_and_shows_its_replicas(owner):
    out = io.StringIO()
    call_command("jobs", "submit", "ensemble", "--structure", "villin", "--replicas", "2",
                 "--gpus-per-replica", "0", "--ns", "0.01", "--seed", "9", "--max-retries", "1",
                 "--user", "researcher", stdout=out)  # fmt: skip
    parent = Job.objects.get(kind="ensemble")
    ids = parent.spec["replica_ids"]
    assert f"Its 2 replicas: jobs {ids[0]}, {ids[1]}." in out.getvalue()
    assert parent.spec["seeds"] == [9, 10] and parent.spec["max_retries"] == 1
    shown = io.StringIO()
    call_command("jobs", "show", str(parent.pk), "--user", "researcher", stdout=shown)
    assert "Replicas:" in shown.getvalue() and f"  {ids[0]}  queued" in shown.getvalue()
    replica = io.StringIO()
    call_command("jobs", "show", str(ids[0]), "--user", "researcher", stdout=replica)
    assert f"Replica of: ensemble job {parent.pk}" in replica.getvalue()
