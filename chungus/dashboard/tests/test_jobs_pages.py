"""The Jobs pages and the dashboard's GPU panel: who sees what (Django's test client; the
browser test drives the charts and the 3D viewer)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from chungus.dashboard.job_pages import event_words, thin
from chungus.dashboard.tests.conftest import People, signed_in
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.models import GpuHold, Job
from chungus.testing.clients import csrf_client

pytestmark = pytest.mark.django_db  # also run on PostgreSQL by scripts/test


@pytest.fixture(autouse=True)
def home(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's jobs live in a directory of their own, and the inventory is declared."""
    monkeypatch.delenv("CHUNGUS_JOBS_DIR", raising=False)
    settings.CHUNGUS_HOME = str(tmp_path)
    declared = tmp_path / "inventory.json"
    gpu = {"name": "H100", "memory_mb": 81559}
    declared.write_text(json.dumps({"nodes": [{"name": "gpu-01", "gpus": [gpu, gpu]}]}))
    settings.CHUNGUS_INVENTORY = str(declared)
    return tmp_path


def md_job(owner: User, **fields: object) -> Job:
    values: dict[str, object] = {
        "kind": "md",
        "name": "villin folding",
        "spec": {"structure": "villin", "ns": 0.1, "solvent": "vacuum"},
        "reason": "queued: waiting for the scheduler",
        "gpus": 1,
        **fields,
    }
    return Job.objects.create(owner=owner, **values)


@pytest.mark.parametrize("path", ["/jobs/", "/jobs/1/", "/jobs/1/energies.json"])
def test_anonymous_visitors_are_sent_to_sign_in(path):
    response = signed_in(None).get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_live_table_whose_session_ended_reloads_the_page():
    response = signed_in(None).get("/jobs/partials/table/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_owners_see_only_their_own_jobs(people: People):
    mine = md_job(people.owner, name="my villin")
    md_job(people.outsider, name="their secret run")
    for path in ("/jobs/", "/jobs/partials/table/"):
        content = signed_in(people.owner).get(path).content.decode()
        assert f'data-job="{mine.pk}"' in content and "my villin" in content
        assert "their secret run" not in content
        assert "<th>Owner</th>" not in content


def test_operators_see_everyones_jobs_with_their_owners(people: People):
    md_job(people.owner, name="owner run")
    md_job(people.outsider, name="outsider run")
    content = signed_in(people.operator).get("/jobs/").content.decode()
    assert "owner run" in content and "outsider run" in content
    assert "<th>Owner</th>" in content and "<td>outsider</td>" in content


def test_the_list_shows_state_reason_progress_and_placement(people: People):
    md_job(
        people.owner, state="running", reason="started on GPU 1 of gpu-01 (attempt 2)",
        progress=0.42, progress_summary="0.042 of 0.10 ns, 41.2 ns/day, ETA 2 min",
        node="gpu-01", gpu_indices=[1], attempts=2, preemptions=1, gpu_seconds=1234.5,
    )  # fmt: skip
    content = signed_in(people.owner).get("/jobs/").content.decode()
    assert 'class="badge running"' in content
    assert "started on GPU 1 of gpu-01 (attempt 2)" in content
    assert 'value="42.0"' in content and "0.042 of 0.10 ns, 41.2 ns/day, ETA 2 min" in content
    assert "GPU 1 of gpu-01" in content and "(1 preempted)" in content
    assert "1234 s" in content or "1235 s" in content


@pytest.mark.parametrize(
    "path",
    ["/jobs/{}/", "/jobs/{}/partials/live/", "/jobs/{}/energies.json", "/jobs/{}/trajectory.pdb"],
)
def test_someone_elses_job_is_not_found(people: People, path: str):
    theirs = md_job(people.outsider)
    assert signed_in(people.owner).get(path.format(theirs.pk)).status_code == 404
    assert signed_in(people.owner).get(path.format(theirs.pk + 1000)).status_code == 404
    assert signed_in(people.operator).get(path.format(theirs.pk)).status_code == 200


def test_a_queued_job_page_renders_before_it_has_written_anything(people: People):
    job = md_job(people.owner)
    response = signed_in(people.owner).get(f"/jobs/{job.pk}/")
    content = response.content.decode()
    assert response.status_code == 200
    assert 'class="badge large queued"' in content
    assert "queued: waiting for the scheduler" in content
    assert "files appear here as the job writes them" in content and "No log yet." in content
    assert 'id="chart-energy"' in content and 'id="viewer"' in content
    assert "3Dmol-2.5.5.min.js" in content
    assert 'id="job-cancel"' in content
    assert "&quot;structure&quot;: &quot;villin&quot;" in content  # the spec, escaped
    energies = signed_in(people.owner).get(f"/jobs/{job.pk}/energies.json").json()
    assert energies == {"state": "queued", "columns": {}, "ns_per_day": None}
    assert signed_in(people.owner).get(f"/jobs/{job.pk}/trajectory.pdb").content == b""


def test_a_command_job_page_shows_outputs_and_log_without_charts(people: People):
    job = Job.objects.create(
        owner=people.operator, kind="command", spec={"argv": ["echo", "hi"]},
        state="failed", reason="exit code 3: boom", exit_code=3,
    )  # fmt: skip
    workdir = job_dir(job.pk)
    workdir.mkdir(parents=True)
    (workdir / "job.log").write_text("".join(f"line {i}\n" for i in range(1000)) + "boom\n")
    content = signed_in(people.operator).get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="chart-energy"' not in content and 'id="viewer"' not in content
    assert "3Dmol" not in content
    assert f'href="/api/jobs/{job.pk}/outputs/job.log"' in content
    assert "boom" in content and "line 999" in content and "line 100\n" not in content
    assert 'id="job-cancel"' not in content  # finished: nothing to cancel
    assert "hx-trigger" not in content.split('id="job-head"')[1].split(">")[0]


def test_the_live_part_carries_the_rest_of_the_page_out_of_band(people: People):
    job = md_job(people.owner, state="running", reason="started on GPU 0 of gpu-01 (attempt 1)")
    content = signed_in(people.owner).get(f"/jobs/{job.pk}/partials/live/").content.decode()
    assert 'id="job-head"' in content and 'hx-trigger="every 3s"' in content
    assert 'id="job-rest" hx-swap-oob="true"' in content


def test_events_are_told_in_words(people: People):
    now = time.time()
    events = [
        {"time": now - 60, "event": "started", "attempt": 1, "node": "gpu-01", "gpus": [0]},
        {"time": now - 30, "event": "preempted", "by": "deployment llama", "seconds": 30.2,
         "handover_seconds": 2.5, "checkpoint_step": 5000, "exit_code": 75},
        {"time": now - 10, "event": "resumed", "attempt": 2, "node": "gpu-01", "gpus": [1]},
    ]  # fmt: skip
    job = md_job(people.owner, state="running", events=events)
    content = signed_in(people.owner).get(f"/jobs/{job.pk}/").content.decode()
    assert "started on GPU 0 of gpu-01 (attempt 1)" in content
    assert "preempted by deployment llama: GPU handed over in 2.5 s, checkpoint at step 5000" in (
        content
    )
    assert "resumed on GPU 1 of gpu-01 (attempt 2)" in content


def test_event_words_keep_unknown_events_readable():
    assert event_words("succeeded", {"seconds": 12.0, "exit_code": 0}) == (
        "succeeded after 12 s (exit code 0)"
    )
    assert event_words("cancelling", {"by": "owner"}) == "cancel asked by owner"
    assert event_words("checkpointed", {"step": 7}) == "checkpointed step=7"


def test_energies_are_thinned_and_json_safe():
    values = [float(i) for i in range(10_001)]
    picked = thin(values, 1000)
    assert len(picked) <= 1001 and picked[0] == 0.0 and picked[-1] == 10_000.0
    assert thin([1.0, float("nan"), float("inf")], 10) == [1.0, None, None]


def test_cancelling_needs_the_csrf_token(people: People):
    job = md_job(people.owner)
    response = csrf_client(people.owner, token=False).post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == "queued"


def test_the_owner_cancels_a_queued_job(people: People):
    job = md_job(people.owner)
    response = csrf_client(people.owner).post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.state == "cancelled" and job.reason == "cancelled by owner"
    page = csrf_client(people.owner).get(f"/jobs/{job.pk}/").content.decode()
    assert "cancelled by owner" in page and 'id="job-cancel"' not in page


def test_cancelling_a_running_job_asks_the_scheduler(people: People):
    job = md_job(people.owner, state="running")
    csrf_client(people.operator).post(f"/jobs/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.state == "running" and job.cancel_requested
    assert job.reason == "cancelling (asked by operator)"


def test_nobody_cancels_someone_elses_job(people: People):
    job = md_job(people.owner)
    assert csrf_client(people.outsider).post(f"/jobs/{job.pk}/cancel/").status_code == 404
    job.refresh_from_db()
    assert job.state == "queued" and not job.cancel_requested


def test_cancel_is_a_post(people: People):
    job = md_job(people.owner)
    assert signed_in(people.owner).get(f"/jobs/{job.pk}/cancel/").status_code == 405


def hold(node: str, gpu: int, holder: str, name: str, ago: int, until: int | None) -> GpuHold:
    now = int(time.time())
    ended = None if until is None else now - until
    return GpuHold.objects.create(
        node=node, gpu=gpu, holder=holder, name=name, started=now - ago, ended=ended
    )


def test_the_gpu_panel_says_what_holds_each_gpu_now(people: People):
    job = md_job(people.owner, state="running")
    hold("gpu-01", 0, "job", str(job.pk), ago=600, until=None)
    hold("gpu-01", 1, "deployment", "llama", ago=9000, until=7000)  # over: not shown as holding
    hold("gpu-09", 3, "deployment", "qwen", ago=60, until=None)  # a node no longer listed
    for path in ("/dashboard/", "/dashboard/partials/gpus/"):
        content = signed_in(people.operator).get(path).content.decode()
        row0 = content.split('data-gpu="gpu-01/0"')[1].split("</tr>")[0]
        row1 = content.split('data-gpu="gpu-01/1"')[1].split("</tr>")[0]
        assert f'href="/jobs/{job.pk}/"' in row0 and "H100" in row0
        assert "free" in row1 and "llama" not in row1
        gone = content.split('data-gpu="gpu-09/3"')[1].split("</tr>")[0]
        assert "qwen" in gone and "not in the inventory now" in gone


def test_the_gpu_panel_is_for_operators(member: User):
    assert signed_in(member).get("/dashboard/partials/gpus/").status_code == 403


def test_the_gpu_timeline_lists_every_gpu_and_the_holds_in_its_window(admin):
    hold("gpu-01", 0, "deployment", "llama", ago=8 * 3600, until=5 * 3600)  # clipped
    hold("gpu-01", 1, "job", "7", ago=3600, until=None)
    hold("gpu-01", 0, "deployment", "old", ago=30 * 3600, until=20 * 3600)  # outside
    data = admin.get("/api/fleet/gpu-holders/?hours=6").json()
    assert data["end"] - data["start"] == 6 * 3600
    assert [(g["node"], g["gpu"], g["model"]) for g in data["gpus"] if g["node"] == "gpu-01"] == [
        ("gpu-01", 0, "H100"),
        ("gpu-01", 1, "H100"),
    ]
    holds = {i["name"]: i for i in data["intervals"]}
    assert set(holds) == {"llama", "7"}
    assert holds["llama"]["started"] == data["start"] and holds["llama"]["ended"] is not None
    assert holds["7"]["holder"] == "job" and holds["7"]["ended"] is None


def test_the_gpu_timeline_refuses_a_window_out_of_range(admin):
    response = admin.get("/api/fleet/gpu-holders/?hours=1000")
    assert response.status_code == 422 and response.json()["error"]["param"] == "hours"


def test_the_gpu_timeline_is_for_operators(people: People):
    response = signed_in(people.owner).get("/api/fleet/gpu-holders/")
    assert response.status_code == 403
