"""/api-docs/: the OpenAI-compatible endpoints with copyable examples, and the management API."""

from __future__ import annotations

import html
import re

import pytest

from chungus.api.tests.test_openapi import OPERATIONS
from chungus.fleet.models import Model

pytestmark = pytest.mark.django_db

OPENAI_PATHS = [
    "/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/models/{id}", "/api/fleet/status"
]  # fmt: skip


def page(client, host="chungus.example:8000") -> str:
    response = client.get("/api-docs/", HTTP_HOST=host)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    return response.content.decode()


def examples(text: str) -> dict[str, str]:
    """{pre id: its text, as a copy button copies it}."""
    blocks = re.findall(
        r'<pre id="([^"]+)" data-example="[^"]+"><code>(.*?)</code></pre>', text, re.S
    )
    return {name: html.unescape(body) for name, body in blocks}


def test_anyone_can_read_it(client):
    assert "OpenAI-compatible endpoints" in page(client)


def test_it_documents_each_openai_endpoint_with_curl_and_python(client):
    text = page(client)
    found = examples(text)
    for path in OPENAI_PATHS:
        assert f"<code>{path}</code>" in text
    slugs = {"chat", "chat-stream", "completions", "models", "model", "fleet-status"}
    assert set(found) == {f"{slug}-{kind}" for slug in slugs for kind in ("curl", "python")}
    assert all(found[f"{slug}-python"].count("from openai import OpenAI") == 1 for slug in slugs)


def test_every_example_has_its_own_copy_button(client):
    text = page(client)
    for name in examples(text):
        assert f'data-copy="#{name}"' in text


def test_the_examples_use_the_requests_host_as_base_url(client):
    found = examples(page(client, host="gpu-box.lan:9000"))
    assert 'base_url="http://gpu-box.lan:9000/v1"' in found["chat-python"]
    assert found["chat-curl"].startswith("curl http://gpu-box.lan:9000/v1/chat/completions")
    assert "http://gpu-box.lan:9000/api/fleet/status" in found["fleet-status-curl"]


def test_the_examples_name_a_model_that_exists(client):
    Model.objects.create(name="qwen3")
    found = examples(page(client))
    assert '"model": "qwen3"' in found["chat-curl"] and 'model="qwen3"' in found["chat-python"]


def test_no_example_contains_a_secret(base, client):
    text = page(client)
    assert base.admin_secret not in text and "ck-" not in text
    assert "$CHUNGUS_API_KEY" in text and 'os.environ["CHUNGUS_API_KEY"]' in html.unescape(text)


def test_it_lists_every_management_operation_from_the_openapi_schema(client):
    text = html.unescape(page(client))
    for method, path in OPERATIONS:
        assert f"{method.upper()}</span> <code>{path}</code>" in text
    assert 'href="/api/docs"' in text and 'href="/api/openapi.json"' in text
    assert "X-CSRFToken" in text


def test_it_loads_nothing_from_elsewhere(client):
    text = page(client)
    assets = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert assets and all(a.startswith(("/", "#")) for a in assets), assets
    assert "<iframe" not in text


def test_it_uses_the_sites_layout(client):
    assert 'class="topbar"' in page(client)
