"""The Jobs pages and the GPU panel in a real browser (Debian's headless Chromium) against a
real running CHUNGUS, with an MD job whose outputs the real MD runner wrote (a tiny vacuum run).

Screenshots go to test-artifacts/ at the repository root: jobs.png, job.png, gpu-panel.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chungus.testing.processes import ChungusProcess, chungus_instance

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PASSWORD = "correct horse battery staple"
MD_SPEC = {
    "structure": "villin", "ns": 0.002, "solvent": "vacuum", "report_every": 100,
    "equilibration_ps": 0.2,
}  # fmt: skip
RUNNER_SECONDS = 600

SUBMIT = """
import json
from django.contrib.auth.models import User
from chungus.fleet.jobs.submit import Submission, submit
ask = Submission(kind="md", name="villin-in-vacuum", spec=json.loads({spec!r}))
job = submit(User.objects.get(username="researcher"), ask)
print(job.pk)
"""
# What the scheduler would have recorded of a run that ended well (the runner ran in the test).
FINISHED = """
import time
from datetime import timedelta
from django.utils import timezone
from chungus.fleet.jobs.files import job_dir
from chungus.fleet.jobs.kinds import registry
from chungus.fleet.jobs.models import Job
job = Job.objects.get(pk={job_id})
said = registry.get(job.kind).progress(job_dir(job.pk))
now = time.time()
Job.objects.filter(pk=job.pk).update(
    state="succeeded", reason="finished after {seconds:.0f} s", progress=said.fraction,
    progress_summary=said.summary, progress_detail=said.detail, attempts=1, node="gpu-01",
    gpu_indices=[0], exit_code=0, gpu_seconds={seconds:.1f},
    started_at=timezone.now() - timedelta(seconds={seconds:.1f}), finished_at=timezone.now(),
    events=[
        {{"time": now - {seconds:.1f}, "event": "started", "attempt": 1, "node": "gpu-01",
          "gpus": [0]}},
        {{"time": now, "event": "succeeded", "seconds": {seconds:.1f}, "exit_code": 0}},
    ],
)
"""
OTHERS = """
from django.contrib.auth.models import User
from chungus.fleet.jobs.models import Job
operator = User.objects.get(username="operator")
Job.objects.create(owner=operator, kind="command", name="nightly sweep", spec={{"argv": ["sweep"]}},
    state="cancelled", reason="cancelled by operator after 41 s", attempts=1, gpu_seconds=82.0,
    node="gpu-01", gpu_indices=[0, 1])
"""
# Open before the start, so the test can tell when the new scheduler has ended what it found.
SENTINEL = """
import time
from chungus.fleet.jobs.models import GpuHold
GpuHold.objects.create(node="gpu-01", gpu=0, holder="deployment", name="sentinel",
                       started=int(time.time()) - 1)
"""
HOLDS = """
import time
from chungus.fleet.jobs.models import GpuHold
sentinel = GpuHold.objects.filter(name="sentinel")
deadline = time.monotonic() + 60
while sentinel.filter(ended=None).exists() and time.monotonic() < deadline:
    time.sleep(0.1)
assert not sentinel.filter(ended=None).exists(), "the scheduler never took over"
sentinel.delete()
now = int(time.time())
for gpu, holder, name, ago, until in [
    (0, "deployment", "llama-70b", 5 * 3600, 3 * 3600),
    (1, "deployment", "llama-70b", 5 * 3600, 3 * 3600),
    (0, "job", "{job_id}", 150 * 60, 100 * 60), (1, "job", "{job_id}", 140 * 60, None),
    (0, "deployment", "qwen-7b", 40 * 60, None),
]:
    GpuHold.objects.create(node="gpu-01", gpu=gpu, holder=holder, name=name, started=now - ago,
                           ended=None if until is None else now - until)
"""
# The share of a canvas drawn in a colour near `rgb` (a chart's line), or, for null, in any
# saturated colour (bars, a molecule: not the white background, grey grid lines or text).
INK = """async ([selector, rgb]) => {
  const source = document.querySelector(selector);
  const image = new Image();
  image.src = source.toDataURL("image/png");
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (rgb ? a > 0 && Math.abs(r - rgb[0]) + Math.abs(g - rgb[1]) + Math.abs(b - rgb[2]) < 90
            : a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) ink++;
  }
  return ink / (canvas.width * canvas.height);
}"""
POTENTIAL_BLUE = [59, 91, 219]
SERIES = "(id) => Chart.getChart(id).data.datasets.map((d) => [d.label, d.data.length])"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChungusProcess, int]]:
    """CHUNGUS with an operator, a researcher whose MD job really ran, and GPU holds."""
    home = tmp_path_factory.mktemp("jobs-ui")
    gpu = {"name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559}
    (home / "inventory.json").write_text(
        json.dumps({"nodes": [{"name": "gpu-01", "gpus": [gpu] * 2}]})
    )
    instance = chungus_instance(home, CHUNGUS_INVENTORY=str(home / "inventory.json"))
    instance.create_superuser("operator", PASSWORD)
    create_user = "from django.contrib.auth.models import User; User.objects.create_user"
    instance.cli("shell", "-c", f"{create_user}('researcher', password='{PASSWORD}')")
    job_id = int(
        instance.cli("shell", "-c", SUBMIT.format(spec=json.dumps(MD_SPEC))).stdout.split()[-1]
    )
    workdir = home / "jobs" / str(job_id)
    began = time.monotonic()
    with (workdir / "job.log").open("wb") as log:
        ran = subprocess.run(
            [sys.executable, "-m", "chungus.fleet.jobs.kinds.md.runner"],
            cwd=workdir, env=instance.env, stdout=log, stderr=subprocess.STDOUT,
            timeout=RUNNER_SECONDS,
        )  # fmt: skip
    assert ran.returncode == 0, (workdir / "job.log").read_text()[-3000:]
    instance.cli("shell", "-c", FINISHED.format(job_id=job_id, seconds=time.monotonic() - began))
    instance.cli("shell", "-c", OTHERS.format())
    instance.cli("shell", "-c", SENTINEL)
    instance.start("--no-default-model")
    # After the scheduler's takeover, which ends the holds it finds open (the sentinel).
    instance.cli("shell", "-c", HOLDS.format(job_id=job_id))
    yield instance, job_id
    instance.stop()


def shot(page: Page, name: str, selector: str | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if selector:
        page.locator(selector).screenshot(path=ARTIFACTS / f"{name}.png")
    else:
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_in(page: Page, site: ChungusProcess, username: str) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator(".who")).to_contain_text(username)


def test_a_researcher_sees_their_md_job_charted_and_in_3d(site, page):
    instance, job_id = site
    sign_in(page, instance, "researcher")
    page.goto(f"{instance.url}/jobs/")
    row = page.locator(f'#jobs-table tr[data-job="{job_id}"]')
    expect(row.locator(".badge")).to_have_text("succeeded")
    expect(row).to_contain_text("villin-in-vacuum")
    expect(page.locator("#jobs-table")).not_to_contain_text("nightly sweep")  # the operator's

    row.locator("a").first.click()
    expect(page).to_have_url(f"{instance.url}/jobs/{job_id}/")
    expect(page.locator("#job-state")).to_have_text("succeeded")
    expect(page.locator("#md-views")).to_have_attribute("data-loaded", "1")
    points = page.evaluate(SERIES, "chart-energy")
    assert [label for label, _ in points] == ["potential", "kinetic", "total"], points
    assert all(count >= 3 for _, count in points), points
    assert page.evaluate(INK, ["#chart-energy", POTENTIAL_BLUE]) > 0.002
    assert page.evaluate(INK, ["#chart-temperature", [201, 42, 42]]) > 0.002

    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-drawn", "1")
    frames = int(viewer.get_attribute("data-frames") or 0)
    assert frames >= 2
    assert page.evaluate(INK, ["#viewer canvas", None]) > 0.02  # the molecule, drawn by WebGL
    label = page.locator("#viewer-frame-label")
    expect(label).to_have_text(f"1 / {frames}")
    page.click("#viewer-play")
    expect(label).not_to_have_text(f"1 / {frames}")
    page.click("#viewer-play")
    expect(page.locator("#viewer-play")).to_have_text("Play")
    page.locator("#viewer-frame").fill(str(frames - 1))
    expect(label).to_have_text(f"{frames} / {frames}")

    links = page.locator("#job-outputs a")
    names = links.all_inner_texts()
    assert {"trajectory.dcd", "energies.csv", "final.pdb"} <= set(names), names
    href = links.filter(has_text="energies.csv").get_attribute("href")
    download = page.request.get(f"{instance.url}{href}")
    assert download.status == 200 and len(download.body()) > 100
    expect(page.locator("#job-events")).to_contain_text("started on GPU 0 of gpu-01 (attempt 1)")
    expect(page.locator("#job-log pre")).not_to_be_empty()
    expect(page.locator("#job-cancel")).to_have_count(0)
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "job")


def test_an_operator_sees_everyones_jobs(site, page):
    instance, job_id = site
    sign_in(page, instance, "operator")
    page.goto(f"{instance.url}/jobs/")
    expect(page.locator("#jobs-table thead")).to_contain_text("Owner")
    expect(page.locator(f'#jobs-table tr[data-job="{job_id}"]')).to_contain_text("researcher")
    expect(page.locator("#jobs-table")).to_contain_text("nightly sweep")
    shot(page, "jobs")


def test_the_gpu_panel_shows_holders_now_and_over_time(site, page):
    instance, job_id = site
    sign_in(page, instance, "operator")
    page.goto(f"{instance.url}/dashboard/")
    gpu0 = page.locator('#gpu-slots-table tr[data-gpu="gpu-01/0"]')
    gpu1 = page.locator('#gpu-slots-table tr[data-gpu="gpu-01/1"]')
    expect(gpu0).to_contain_text("qwen-7b")
    expect(gpu1.locator(f'a[href="/jobs/{job_id}/"]')).to_have_text(f"job #{job_id}")
    expect(page.locator("#gpu-panel")).to_have_attribute("data-loaded", "1")
    holders = page.evaluate(
        """() => Chart.getChart("chart-gpu-holders").data.datasets
              .map((d) => [d.label, d.backgroundColor])"""
    )
    assert sorted(label for label, _ in holders) == sorted(
        ["llama-70b", f"job #{job_id}", "qwen-7b"]
    ), holders
    assert len({colour for _, colour in holders}) == 3, holders
    assert page.evaluate(INK, ["#chart-gpu-holders", None]) > 0.02
    shot(page, "gpu-panel", "#gpu-panel")
