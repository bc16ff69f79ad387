"""An ensemble's page in a real browser (Debian's headless Chromium) against a real running
CHUNGUS: three replicas the real MD runner wrote (tiny vacuum runs with their own seeds),
the real analysis step, then every replica's RMSD and Q curves on one chart each, the pooled
summary, and the best replica beside the reference in two 3D viewers.

Screenshots go to test-artifacts/ at the repository root: ensemble.png, ensemble-views.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from chungus.dashboard.tests.test_jobs_browser import INK, PASSWORD, shot, sign_in
from chungus.testing.processes import ChungusProcess, chungus_instance

SPEC = {
    "structure": "villin", "ns": 0.002, "solvent": "vacuum", "report_every": 50,
    "equilibration_ps": 0.2, "platform": "cpu", "replicas": 3, "seed": 7,
}  # fmt: skip
SUBMIT = """
import json
from django.contrib.auth.models import User
from chungus.fleet.jobs.submit import Submission, submit
ask = Submission(kind="ensemble", name="villin-ensemble", spec=json.loads({spec!r}))
print(submit(User.objects.get(username="researcher"), ask).pk)
"""
# What the scheduler would have recorded of replicas and an analysis that ended well (their
# processes ran in the test, in their own directories, as the scheduler starts them).
FINISHED = """
from django.utils import timezone
from chungus.fleet.jobs.models import Job
parent = Job.objects.get(pk={parent})
parent.replicas.update(state="succeeded", progress=1.0, progress_summary="Done: 0.002 ns",
                       attempts=1, finished_at=timezone.now())
Job.objects.filter(pk={parent}).update(state="succeeded", progress=1.0, attempts=1,
                                        progress_summary={summary!r}, finished_at=timezone.now())
"""
SERIES = "(id) => Chart.getChart(id).data.datasets.map((d) => [d.label, d.data.length])"


def run_in(instance: ChungusProcess, job_id: int, module: str) -> None:
    workdir = instance.home / "jobs" / str(job_id)
    with (workdir / "job.log").open("ab") as log:
        ran = subprocess.run([sys.executable, "-m", module], cwd=workdir, env=instance.env,
                             stdout=log, stderr=subprocess.STDOUT, timeout=600)  # fmt: skip
    assert ran.returncode == 0, (workdir / "job.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChungusProcess, int]]:
    instance = chungus_instance(tmp_path_factory.mktemp("ensemble-ui"))
    create_user = "from django.contrib.auth.models import User; User.objects.create_user"
    instance.cli("shell", "-c", f"{create_user}('researcher', password='{PASSWORD}')")
    out = instance.cli("shell", "-c", SUBMIT.format(spec=json.dumps(SPEC))).stdout
    parent = int(out.split()[-1])
    spec = json.loads((instance.home / "jobs" / str(parent) / "spec.json").read_text())
    for replica in spec["replica_ids"]:
        run_in(instance, replica, "chungus.fleet.jobs.kinds.md.runner")
    run_in(instance, parent, "chungus.fleet.jobs.kinds.ensemble.analyze")
    said = json.loads((instance.home / "jobs" / str(parent) / "progress.json").read_text())
    instance.cli("shell", "-c", FINISHED.format(parent=parent, summary=said["summary"]))
    instance.start("--no-default-model")
    yield instance, parent
    instance.stop()


def test_the_ensemble_page_charts_every_replica_and_shows_the_best_beside_the_reference(
    site, page: Page
):
    instance, parent = site
    sign_in(page, instance, "researcher")
    page.goto(f"{instance.url}/jobs/{parent}/")
    expect(page.locator("#job-state")).to_have_text("succeeded")
    views = page.locator("#ensemble-views")
    expect(views).to_have_attribute("data-loaded", "1")
    for chart in ("chart-rmsd", "chart-q"):
        series = page.evaluate(SERIES, chart)
        assert len(series) == 3 and all(count == 20 for _, count in series), series
        assert sum("(best)" in label for label, _ in series) == 1, series
        assert page.evaluate(INK, [f"#{chart}", None]) > 0.002
    rows = page.locator("#ensemble-replicas tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator(".badge")).to_have_text("succeeded")
    expect(page.locator("#summary-best")).to_contain_text("job ")
    expect(page.locator("#summary-lowest")).to_contain_text(" nm")
    expect(page.locator("#summary-reference")).to_have_text("the starting structure")
    for box in ("#viewer-best", "#viewer-reference"):
        expect(page.locator(box)).to_have_attribute("data-drawn", "1")
        assert page.evaluate(INK, [f"{box} canvas", None]) > 0.02  # a molecule, by WebGL
    expect(page.locator("#best-note")).to_contain_text("nm from the reference")
    links = page.locator("#job-outputs a").all_inner_texts()
    assert {"analysis.json", "replicas.csv"} <= set(links), links
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "ensemble")
    shot(page, "ensemble-views", "#ensemble-views")


def test_someone_else_cannot_see_the_ensemble(site, page: Page):
    instance, parent = site
    instance.cli("shell", "-c", "from django.contrib.auth.models import User; "
                 f"User.objects.create_user('other', password='{PASSWORD}')")  # fmt: skip
    sign_in(page, instance, "other")
    for path in (f"/jobs/{parent}/", f"/jobs/{parent}/ensemble.json",
                 f"/jobs/{parent}/ensemble-structures.json"):  # fmt: skip
        assert page.request.get(f"{instance.url}{path}").status == 404, path
