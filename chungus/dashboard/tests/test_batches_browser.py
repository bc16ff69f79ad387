"""The Batches page in a real browser (Debian's headless Chromium) against a real running
CHUNGUS: a researcher's batch in progress, its progress bar, and Cancel, after which the
server's own batch runner ends it and the live table shows that.

A screenshot goes to test-artifacts/batches.png at the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chungus.testing.processes import ChungusProcess, chungus_instance

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PASSWORD = "correct horse battery staple"
# A batch 2 minutes into its run, 4 of its 10 lines done; the other 6 are queued but not
# claimable for an hour, so the server's runner leaves them be until the batch is cancelled.
BATCHES = """
import time
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from chungus.accounts.models import ApiKey
from chungus.batches.models import Batch, BatchLine
researcher = User.objects.get(username="researcher")
key = ApiKey.objects.get(name="researchers-key")
body = {"model": "gemma", "messages": [{"role": "user", "content": "hi"}]}
batch = Batch.objects.create(
    owner=researcher, api_key_id=key.pk, endpoint="/v1/chat/completions", model="gemma",
    input_file_id="file-in", status="in_progress", total=10, completed=3, failed=1,
    in_progress_at=timezone.now() - timedelta(minutes=2),
    expires_at=timezone.now() + timedelta(hours=22),
)
for n in range(1, 11):
    done = n <= 4
    BatchLine.objects.create(
        batch=batch, number=n, custom_id=f"line-{n}", body=body,
        state="done" if done else "queued", lease_until=0 if done else time.time() + 3600,
        status_code=(200 if n <= 3 else 500) if done else None,
        response={"choices": []} if n <= 3 else None,
        error={"code": "server_error", "message": "boom"} if n == 4 else None,
    )
Batch.objects.create(
    owner=User.objects.get(username="operator"), api_key_id=key.pk + 1000,
    endpoint="/v1/completions", model="operators-model", input_file_id="file-other",
    status="completed", total=5, completed=5,
)
print(batch.pk)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChungusProcess, str]]:
    """CHUNGUS with an operator and a researcher whose batch is in progress."""
    instance = chungus_instance(tmp_path_factory.mktemp("batches-ui"))
    instance.create_superuser("operator", PASSWORD)
    create_user = "from django.contrib.auth.models import User; User.objects.create_user"
    instance.cli("shell", "-c", f"{create_user}('researcher', password='{PASSWORD}')")
    instance.create_key("researchers-key", "--owner", "researcher")
    batch_id = instance.cli("shell", "-c", BATCHES).stdout.split()[-1]
    instance.start("--no-default-model")
    yield instance, batch_id
    instance.stop()


def sign_in(page: Page, site: ChungusProcess, username: str) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator(".who")).to_contain_text(username)


def test_a_researcher_follows_their_batch_and_cancels_it(site, page):
    instance, batch_id = site
    sign_in(page, instance, "researcher")
    page.locator("nav").get_by_role("link", name="Batches").click()
    expect(page).to_have_url(f"{instance.url}/batches/")
    row = page.locator(f'#batches-table tr[data-batch="{batch_id}"]')
    expect(row.locator(".badge")).to_have_text("in_progress")
    expect(page.locator("#batches-table")).not_to_contain_text("operators-model")

    bar = row.locator("progress")
    expect(bar).to_have_attribute("value", "40.0")
    assert bar.evaluate("(el) => el.position") == pytest.approx(0.4)
    drawn = bar.bounding_box()
    assert drawn is not None and drawn["width"] > 50
    expect(row.locator(".completed")).to_have_text("3")
    expect(row.locator(".failed")).to_have_text("1")
    expect(row.locator(".total")).to_have_text("10")
    expect(row.locator(".owner")).to_have_text("researcher")
    expect(row.locator(".eta")).to_have_text(re.compile(r"^\d+ (s|min)$"))  # 6 at 2 a minute
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "batches.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.batch-cancel").click()
    expect(page).to_have_url(f"{instance.url}/batches/")
    expect(page.locator(".messages")).to_contain_text(f"Batch {batch_id} is cancelling.")
    # No line runs now, so the runner ends it; the live table shows it without a reload.
    expect(row.locator(".badge")).to_have_text("cancelled")
    expect(row.locator(".eta")).to_have_text("—")
    expect(row.locator("button.batch-cancel")).to_have_count(0)
    expect(row.locator("progress")).to_have_attribute("value", "100.0")  # the rest failed


def test_an_operator_sees_every_tenants_batches(site, page):
    instance, batch_id = site
    sign_in(page, instance, "operator")
    page.goto(f"{instance.url}/batches/")
    expect(page.locator(f'#batches-table tr[data-batch="{batch_id}"] .owner')).to_have_text(
        "researcher"
    )
    expect(page.locator("#batches-table")).to_contain_text("operators-model")
