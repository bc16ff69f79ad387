"""The pages in a real browser (Debian's headless Chromium) against a real running CHUNGUS.

Screenshots of every page go to test-artifacts/screenshots/ at the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from chungus.testing.processes import ChungusProcess, LlamaServer, chungus_instance

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
GENERATION_TIMEOUT_MS = 60_000
CHARTED = """() => {
  const rpm = Chart.getChart("chart-rpm")?.data.datasets.find((d) => d.label === "gemma");
  const keys = Chart.getChart("chart-keys")?.data.labels || [];
  return rpm?.data.some((v) => v > 0) && keys.some((k) => k.startsWith("playground-"));
}"""
# This host has no GPU: the GPU chart draws its memory and CPU instead.
HOST_CHARTED = """() => (Chart.getChart("chart-gpus")?.data.datasets || [])
  .some((d) => d.label.endsWith(" memory") && d.data.some((v) => v > 0))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer) -> Iterator[ChungusProcess]:
    """CHUNGUS with `gemma` on the real llama-server, an operator and an outsider."""
    instance = chungus_instance(
        tmp_path_factory.mktemp("ui"),
        CHUNGUS_HEALTH_INTERVAL="0.5",
        CHUNGUS_INVENTORY_SAMPLE_SECONDS="1",
    )
    instance.create_superuser("operator", PASSWORD)
    create_user = "from django.contrib.auth.models import User; User.objects.create_user"
    instance.cli("shell", "-c", f"{create_user}('outsider', password='{PASSWORD}')")
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    instance.create_key("operators-own", "--owner", "operator")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def sign_in(page: Page, site: ChungusProcess, username: str) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")


def test_an_operator_issues_a_key_adds_a_backend_chats_and_sees_it_charted(site, page, llama):
    page.goto(site.url + "/")
    expect(page.locator("#public-models")).to_contain_text("healthy")
    shot(page, "home")
    sign_in(page, site, "operator")
    expect(page).to_have_url(f"{site.url}/dashboard/")

    # A key: its secret is shown once, works, and is gone after a reload.
    page.fill("#key-form [name=name]", "ui-made")
    page.fill("#key-form [name=rpm]", "120")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#new-secret-value")).to_have_text(re.compile(r"^ck-\S{20,}$"))
    secret = page.locator("#new-secret-value").inner_text()
    expect(page.locator("#keys-table")).to_contain_text("ui-made")
    shot(page, "dashboard-key-created")
    models = httpx.get(f"{site.url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert models.status_code == 200
    page.reload()
    expect(page.locator("#keys-table")).to_contain_text("ui-made")
    assert secret not in page.content()

    # A backend: a second model on the same llama-server.
    page.fill("#model-form [name=name]", "gemma-too")
    page.fill("#model-form [name=url]", f"{llama.url}/v1")
    page.select_option("#model-form [name=engine]", "llamacpp")
    page.fill("#model-form [name=upstream_model]", "gemma")
    page.click("#model-form button[type=submit]")
    expect(page.locator("#model-status")).to_contain_text("Added")
    expect(page.locator("#backends")).to_contain_text("gemma-too")

    # The playground: a one-click key, then a streamed answer.
    page.goto(f"{site.url}/playground/")
    page.click("#create-key")
    expect(page.locator("#model")).to_have_attribute("data-loaded", "true")
    page.select_option("#model", "gemma")
    page.fill("#max-tokens", "24")
    page.fill("#prompt", "Say hello to the operator.")
    page.click("#send")
    stats = page.locator("#stats")
    expect(stats).to_have_attribute("data-done", "1", timeout=GENERATION_TIMEOUT_MS)
    reply = page.locator(".message.assistant")
    assert reply.locator(".content").inner_text().strip()
    assert int(reply.get_attribute("data-chunks") or 0) >= 2  # arrived in pieces: streamed
    expect(page.locator("#stat-ttft")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.locator("#stat-tps")).to_have_text(re.compile(r"tok/s$"))
    shot(page, "playground")

    # The dashboard charts the request, and live load shows with the operator's key.
    page.goto(f"{site.url}/dashboard/")
    page.wait_for_function(CHARTED, timeout=20_000)
    expect(page.locator('[data-total="requests"] .value')).not_to_have_text("0")
    expect(page.locator("[data-inflight]").first).to_have_text("0")
    page.wait_for_function(HOST_CHARTED)
    expect(page.locator("#gpu-note")).to_have_text(
        "no GPUs in the inventory; host CPU and memory shown"
    )
    page.click("#window-select [data-window='24h']")
    page.wait_for_function("() => Chart.getChart('chart-rpm').data.labels.length === 96")
    page.wait_for_function("() => Chart.getChart('chart-gpus').data.labels.length === 96")
    shot(page, "dashboard")

    page.goto(f"{site.url}/accounts/keys/")
    expect(page.locator("#own-keys")).to_contain_text("playground-operator-")
    shot(page, "my-keys-operator")


def test_an_operator_deploys_stops_and_starts_models_and_sees_why_they_wait_or_fail(site, page):
    sign_in(page, site, "operator")
    expect(page).to_have_url(f"{site.url}/dashboard/")
    deployments = page.locator("#deployments")

    # A GGUF that does not exist: the reconciler fails it and says why.
    page.fill("#deploy-form [name=name]", "ghost")
    page.fill("#deploy-form [name=source]", "/nonexistent/ghost.gguf")
    page.fill("#deploy-form [name=idle_timeout_s]", "600")
    page.click("#deploy-form button[type=submit]")
    expect(page.locator("#deploy-status")).to_have_text("ghost: waiting for the reconciler.")
    ghost = deployments.locator('tr[data-deployment="ghost"]')
    expect(ghost.locator(".badge")).to_have_text("failed")
    expect(ghost).to_contain_text("model file /nonexistent/ghost.gguf does not exist")
    expect(ghost.locator("[data-deployment-action]")).to_have_text("Start")

    # More GPUs than any host has: it waits, with placement's reason, until stopped.
    page.fill("#deploy-form [name=name]", "huge")
    page.fill("#deploy-form [name=gpus_per_replica]", "64")
    page.click("#deploy-form button[type=submit]")
    huge = deployments.locator('tr[data-deployment="huge"]')
    expect(huge).to_contain_text("64 GPUs \N{MULTIPLICATION SIGN} 1")
    expect(huge.locator(".badge")).to_have_text("pending")
    expect(huge.locator(".reason")).not_to_have_text("waiting for the reconciler")
    shot(page, "dashboard-deployments")
    page.once("dialog", lambda dialog: dialog.accept())
    huge.locator("[data-deployment-action=stop]").click()
    expect(huge.locator(".badge")).to_have_text("stopped")
    expect(huge).to_contain_text("stopped by the operator")
    huge.locator("[data-deployment-action=start]").click()
    expect(page.locator("#deployments-status")).to_have_text("Starting huge.")
    expect(huge.locator(".badge")).to_have_text("pending")
    expect(huge.locator("[data-deployment-action]")).to_have_text("Stop")

    # A mistake is refused in words, and nothing is deployed.
    page.fill("#deploy-form [name=name]", "parallel")
    page.select_option("#deploy-form [name=engine]", "vllm")
    page.fill("#deploy-form [name=source]", "org/model")
    page.fill("#deploy-form [name=gpus_per_replica]", "3")
    page.click("#deploy-form button[type=submit]")
    expect(page.locator("#deploy-status")).to_contain_text("vLLM runs one worker per GPU")
    expect(deployments.locator('tr[data-deployment="parallel"]')).to_have_count(0)


def test_an_outsider_sees_none_of_it(site, page):
    sign_in(page, site, "outsider")
    expect(page).to_have_url(f"{site.url}/accounts/keys/")
    expect(page.locator("main")).to_contain_text("You have no keys yet")
    expect(page.locator("nav")).not_to_contain_text("Dashboard")
    assert "operators-own" not in page.content()
    shot(page, "my-keys-outsider")

    page.fill("#id_name", "outsiders-own")
    page.click("form.stack button[type=submit]")
    expect(page.locator("#issued-secret")).to_have_text(re.compile(r"^ck-\S{20,}$"))
    expect(page.locator("#own-keys")).to_contain_text("outsiders-own")
    shot(page, "my-keys-created")
    secret = page.locator("#issued-secret").inner_text()
    page.goto(f"{site.url}/accounts/keys/")
    expect(page.locator("#own-keys")).to_contain_text("outsiders-own")
    assert secret not in page.content() and "operators-own" not in page.content()

    response = page.goto(f"{site.url}/dashboard/")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("Operators only")
    assert "operators-own" not in page.content()
    shot(page, "dashboard-outsider")

    api = (
        "/api/keys/", "/api/models/", "/api/chart-data/?window=1h", "/api/fleet/gpu-history/",
        "/api/deployments/",
    )  # fmt: skip
    for path in api:
        answer = page.request.get(site.url + path)
        assert answer.status == 403 and "operators-own" not in answer.text()

    page.goto(f"{site.url}/playground/")
    expect(page.locator("#create-key")).to_be_visible()
    shot(page, "playground-outsider")


def test_the_sign_in_page(site, page):
    page.goto(f"{site.url}/dashboard/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/$"))
    shot(page, "sign-in")
