"""The /api-docs/ examples, copied as a reader copies them, run against a real CHUNGUS
serving the real Gemma 3 270M on llama-server; the page's static files come from it too."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import httpx
import pytest

from chungus.testing.processes import chungus_instance


@pytest.fixture(scope="module")
def served(tmp_path_factory, llama):
    # Its own SQLite even when the suite runs on PostgreSQL: a shared database would
    # keep this instance's users, keys and backends from one run to the next.
    instance = chungus_instance(tmp_path_factory.mktemp("api-docs"), DATABASE_URL="")
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    instance.create_superuser("root")
    instance.create_key("admin", "--owner", "root", "--admin")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def page(served):
    response = httpx.get(f"{served.url}/api-docs/")
    assert response.status_code == 200
    return response.text


def example(page: str, name: str) -> str:
    match = re.search(
        rf'<pre id="{name}" data-example="[^"]+"><code>(.*?)</code></pre>', page, re.S
    )
    assert match, name
    return html.unescape(match.group(1)).strip()


def run(served, command: list[str]) -> str:
    env = {**os.environ, "CHUNGUS_API_KEY": served.keys["admin"]}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


SLUGS = ["chat", "chat-stream", "completions", "models", "model", "fleet-status"]


@pytest.mark.parametrize("slug", SLUGS)
def test_the_python_example_runs(served, page, slug):
    output = run(served, [sys.executable, "-c", example(page, f"{slug}-python")])
    assert output.strip()
    if slug in ("models", "model"):
        assert "gemma" in output


@pytest.mark.parametrize("slug", SLUGS)
def test_the_curl_example_runs(served, page, slug):
    output = run(served, ["bash", "-c", example(page, f"{slug}-curl") + " --fail -sS"])
    assert '"error"' not in output
    if slug == "chat-stream":
        assert output.startswith("data: ") and "[DONE]" in output


def test_the_examples_point_at_the_host_that_served_the_page(served, page):
    assert f'base_url="{served.url}/v1"' in example(page, "chat-python")


def test_every_asset_of_the_docs_pages_is_served_locally(served, page):
    swagger = httpx.get(f"{served.url}/api/docs").text
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page + swagger))
    assert "/static/ninja/swagger-ui-bundle.js" in assets
    for asset in assets:
        assert httpx.get(f"{served.url}{asset}").status_code == 200, asset


def test_an_admin_key_manages_models_over_http(served):
    auth = {"Authorization": f"Bearer {served.keys['admin']}"}
    models = httpx.get(f"{served.url}/api/models/", headers=auth).json()["models"]
    assert [m["name"] for m in models] == ["gemma"]
    response = httpx.post(f"{served.url}/api/models/create/", headers=auth, json={"name": "x"})
    assert response.status_code == 422 and response.json()["error"]["param"] == "url"
