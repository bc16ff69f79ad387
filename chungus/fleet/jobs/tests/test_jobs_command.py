"""`chungus jobs …`: submit, list, show (and --follow), logs, cancel, outputs, structures,
acting as the local operator or --user (queued jobs only: no scheduler runs here)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from chungus.fleet.jobs.cli_progress import progress_line
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.models import Job
from chungus.fleet.states import JobState

pytestmark = pytest.mark.django_db
MD = ("submit", "md", "--structure", "villin", "--ns", "0.01")


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("CHUNGUS_JOBS_USER", raising=False)


def jobs(*args: str) -> str:
    out = io.StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        jobs(*args)
    return caught.value


def submitted(out: str) -> Job:
    first = out.splitlines()[0]
    assert first.startswith("Queued job "), out
    return Job.objects.get(pk=int(first.split()[2]))


# Who it acts as.


def test_without_a_user_it_acts_as_an_operator_it_creates_without_a_password(db):
    job = submitted(jobs(*MD))
    operator = User.objects.get(username="operator")
    assert job.owner == operator and operator.is_superuser
    assert not operator.has_usable_password()
    submitted(jobs(*MD))
    assert User.objects.filter(username="operator").count() == 1


def test_it_acts_as_the_user_given_by_option_or_environment(monkeypatch):
    User.objects.create_user("alice")
    assert submitted(jobs(*MD, "--user", "alice")).owner.username == "alice"
    monkeypatch.setenv("CHUNGUS_JOBS_USER", "alice")
    assert submitted(jobs(*MD)).owner.username == "alice"
    assert not User.objects.filter(username="operator").exists()


def test_an_unknown_user_is_refused(db):
    error = refused(*MD, "--user", "nobody")
    assert error.returncode == 2 and "no user named 'nobody'" in str(error)


# Submitting.


def test_submit_md_queues_a_job_with_the_options_given(operator):
    out = jobs(
        *MD, "--solvent", "vacuum", "--report-every", "500", "--checkpoint-every", "1000",
        "--cpu-cores", "2", "--priority", "background", "--rank", "3", "--grace", "60",
        "--name", "villin-run", "--launcher", "slurm", "--gpus", "1", "--temperature", "310",
        "--forcefield", "charmm36", "--equilibration-ps", "1",
    )  # fmt: skip
    job = submitted(out)
    assert "chungus jobs show" in out
    assert (job.state, job.kind, job.name, job.owner) == ("queued", "md", "villin-run", operator)
    assert (job.tier, job.priority, job.cpu_cores, job.grace_seconds) == ("background", 3, 2, 60)
    assert (job.launcher, job.gpus) == ("slurm", 1)
    assert (job.spec["structure"], job.spec["ns"], job.spec["solvent"]) == (
        "villin", 0.01, "vacuum"
    )  # fmt: skip
    assert (job.spec["report_every"], job.spec["checkpoint_every"]) == (500, 1000)
    assert (job.spec["temperature_k"], job.spec["forcefield"]) == (310.0, "charmm36")
    assert (job.spec["equilibration_ps"], job.spec["timestep_fs"]) == (1.0, 2.0)  # a default


def test_submit_md_with_a_file_of_ones_own(operator, tmp_path):
    from chungus.fleet.jobs.kinds.md import structures

    pdb = tmp_path / "mine.pdb"
    pdb.write_bytes(structures.find("villin").path().read_bytes())
    job = submitted(jobs("submit", "md", "--file", str(pdb), "--ns", "0.01"))
    [saved] = (job_dir(job.pk) / "input").iterdir()
    assert saved.read_bytes() == pdb.read_bytes()


def test_submit_command_takes_the_command_after_a_double_dash(operator, tmp_path):
    job = submitted(
        jobs("submit", "command", "--env", "A=1", "--env", "B=x=y", "--cwd", str(tmp_path),
             "--output-dir", "out", "--", "python", "-c", "print(1)", "--flag")
    )  # fmt: skip
    assert job.spec == {
        "argv": ["python", "-c", "print(1)", "--flag"], "cwd": str(tmp_path),
        "env": {"A": "1", "B": "x=y"}, "output_dir": "out",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--gpus", "3"), "GPU"),
        (("--ns", "-1"), "ns"),
        (("--structure", "nope"), "nope"),
        (("--cpu-cores", "0"), "cpu_cores"),
        (("--file", "/nonexistent/x.pdb"), "cannot read"),
    ],
)
def test_a_refused_submission_exits_2_with_the_reason(operator, args, words):
    error = refused(*MD, *args)
    assert error.returncode == 2 and words in str(error)
    assert not Job.objects.exists()


def test_a_command_job_from_a_user_who_is_not_an_operator_exits_2(db):
    User.objects.create_user("alice")
    error = refused("submit", "command", "--user", "alice", "--", "true")
    assert error.returncode == 2 and "operators" in str(error)


# Listing, showing, cancelling.


def test_list_shows_ones_own_jobs_and_with_all_everyones(operator):
    alice = User.objects.create_user("alice")
    mine = submitted(jobs(*MD, "--name", "mine"))
    Job.objects.create(owner=alice, kind="md", name="alices", state=JobState.FAILED)
    out = jobs("list")
    assert "mine" in out and "alices" not in out and out.startswith("ID")
    assert "alices" in jobs("list", "--all")
    assert "alices" in jobs("list", "--all", "--state", "failed")
    assert "mine" not in jobs("list", "--all", "--state", "failed")
    assert "No jobs" in jobs("list", "--user", "alice", "--state", "running")
    assert str(mine.pk) in jobs("list", "--state", "queued")


def test_show_prints_the_job_in_full(operator):
    job = submitted(jobs(*MD, "--name", "villin-run"))
    out = jobs("show", str(job.pk))
    assert f"Job {job.pk}: md 'villin-run', by operator" in out
    assert "State:      queued: waiting for the scheduler" in out
    assert '  structure: "villin"' in out and "  ns: 0.01" in out


def test_show_follow_ends_with_the_job_and_exits_1_unless_it_succeeded(operator):
    job = Job.objects.create(
        owner=operator, kind="md", state=JobState.SUCCEEDED, progress=1.0,
        progress_detail={"phase": "done", "ns_done": 0.1, "ns_total": 0.1, "ns_per_day": 40.0},
    )  # fmt: skip
    out = jobs("show", str(job.pk), "--follow", "--interval", "0.01")
    assert "100.0%" in out.splitlines()[-1] and "0.100/0.100 ns" in out
    Job.objects.filter(pk=job.pk).update(state=JobState.FAILED, reason="OpenMM blew up")
    error = refused("show", str(job.pk), "--follow", "--interval", "0.01")
    assert error.returncode == 1 and "failed: OpenMM blew up" in str(error)


def test_logs_prints_the_last_lines(operator):
    job = Job.objects.create(owner=operator, kind="md", state=JobState.SUCCEEDED)
    job_dir(job.pk).mkdir(parents=True)
    (job_dir(job.pk) / "job.log").write_text("one\ntwo\nthree\n")
    assert jobs("logs", str(job.pk), "--lines", "2") == "two\nthree\n"
    assert jobs("logs", str(job.pk), "--follow", "--interval", "0.01") == "one\ntwo\nthree\n"


def test_cancel_ends_a_queued_job_and_leaves_a_finished_one(operator):
    job = submitted(jobs(*MD))
    assert jobs("cancel", str(job.pk)).strip() == f"Cancelled job {job.pk}."
    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED
    assert "nothing to cancel" in jobs("cancel", str(job.pk))
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING)
    assert "asked to stop" in jobs("cancel", str(job.pk))
    assert Job.objects.get(pk=job.pk).cancel_requested


def test_someone_elses_job_is_not_found(operator):
    alice = User.objects.create_user("alice")
    job = submitted(jobs(*MD))
    for action in ("show", "cancel", "logs", "outputs"):
        error = refused(action, str(job.pk), "--user", "alice")
        assert error.returncode == 2 and f"no job {job.pk}" in str(error)
    assert Job.objects.get(pk=job.pk).state == JobState.QUEUED and alice


def test_outputs_lists_and_downloads_the_files(operator, tmp_path):
    job = Job.objects.create(
        owner=operator, kind="command", state=JobState.SUCCEEDED,
        spec={"argv": ["x"], "cwd": "", "env": {}, "output_dir": "outputs"},
    )  # fmt: skip
    (job_dir(job.pk) / "outputs").mkdir(parents=True)
    (job_dir(job.pk) / "outputs" / "result.txt").write_text("42\n")
    (job_dir(job.pk) / "spec.json").write_text('{"output_dir": "outputs"}')
    assert "outputs/result.txt" in jobs("outputs", str(job.pk))
    out = jobs("outputs", str(job.pk), "--download", str(tmp_path / "got"))
    assert (tmp_path / "got" / "outputs" / "result.txt").read_text() == "42\n"
    assert "Downloaded 1 file(s)" in out


def test_structures_lists_the_packaged_ones(db):
    out = jobs("structures")
    assert out.startswith("NAME") and "villin" in out


# The progress line.


def test_the_progress_line_shows_fraction_ns_speed_eta_and_state():
    detail = {"phase": "production", "ns_done": 0.042, "ns_total": 0.1, "ns_per_day": 41.23,
              "eta_seconds": 125}  # fmt: skip
    line = progress_line("running", "running on gpu-01 (attempt 1)", 0.42, detail)
    assert line.startswith("[##########--------------]   42.0%")
    assert "0.042/0.100 ns  41.2 ns/day  ETA 2 min  running on gpu-01 (attempt 1)" in line


def test_a_reason_that_starts_with_the_state_is_not_told_twice():
    assert progress_line("cancelled", "cancelled by alice", 0.0, {}).endswith(
        "  cancelled by alice"
    )  # fmt: skip


def test_the_progress_line_copes_with_any_detail():
    assert "queued" in progress_line("queued", "", float("nan"), {"ns_done": "x"})
    assert "50.0%  half  command" in progress_line("command", "", 0.5, {}, "half")
    assert progress_line("running", "", 7.0, {}).startswith(f"[{'#' * 24}]  100.0%")


def test_before_production_the_progress_line_shows_the_phase():
    detail = {"phase": "minimising", "ns_done": 0.0, "ns_total": 0.1}
    line = progress_line("running", "", 0.0, detail, "Minimising energy")
    assert "Minimising energy  running" in line and " ns" not in line


# The console script.


def test_the_chungus_command_exits_2_on_a_refusal_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(CHUNGUS_HOME=str(tmp_path / "home"), CHUNGUS_JOBS_DIR=str(tmp_path / "jobs"))
    run = subprocess.run(
        [sys.executable, "-m", "chungus.cli", "jobs", *MD, "--gpus", "9"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "GPU" in run.stderr and "Traceback" not in run.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "chungus.cli", "jobs", "submit", "md", "--help"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert helped.returncode == 0 and "--checkpoint-every" in helped.stdout
    assert "operator" in helped.stdout
