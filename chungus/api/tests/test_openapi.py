"""The OpenAPI schema lists every operation; Swagger UI is served from local files."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("get", "/api/models/"),
    ("post", "/api/models/create/"),
    ("post", "/api/models/{model_id}/update/"),
    ("post", "/api/models/{model_id}/delete/"),
    ("post", "/api/models/{model_id}/backends/{backend_id}/delete/"),
    ("get", "/api/keys/"),
    ("post", "/api/keys/create/"),
    ("post", "/api/keys/{key_id}/update/"),
    ("post", "/api/keys/{key_id}/delete/"),
    ("get", "/api/deployments/"),
    ("post", "/api/deployments/"),
    ("get", "/api/deployments/{name}/"),
    ("post", "/api/deployments/{name}/stop/"),
    ("post", "/api/deployments/{name}/start/"),
    ("get", "/api/chart-data/"),
    ("get", "/api/fleet/gpu-history/"),
    ("get", "/api/fleet/gpu-holders/"),
}
# Jobs are for every signed-in user (each sees only their own; superusers all).
JOB_OPERATIONS = {
    ("get", "/api/jobs/"),
    ("post", "/api/jobs/"),
    ("get", "/api/jobs/kinds/"),
    ("get", "/api/jobs/{job_id}/"),
    ("post", "/api/jobs/{job_id}/cancel/"),
    ("get", "/api/jobs/{job_id}/outputs/{name}"),
    ("get", "/api/jobs/{job_id}/log/"),
    ("get", "/api/jobs/{job_id}/ensemble/"),
}


@pytest.fixture
def schema(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_lists_every_operation_and_nothing_else(schema):
    found = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    assert found == OPERATIONS | JOB_OPERATIONS


def test_every_operation_needs_an_admin_key_or_session_and_jobs_a_user_key_or_session(schema):
    schemes = {"AdminKey", "AdminSession", "UserKey", "UserSession"}
    assert set(schema["components"]["securitySchemes"]) == schemes
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if (method, path) in JOB_OPERATIONS:
                assert op["security"] == [{"UserKey": []}, {"UserSession": []}]
                assert "401" in op["responses"]
                continue
            assert op["security"] == [{"AdminKey": []}, {"AdminSession": []}]
            assert {"401", "403"} <= set(op["responses"])


def test_the_schema_documents_choices_and_limits(schema):
    components = schema["components"]["schemas"]
    assert components["Engine"]["enum"] == ["openai", "llamacpp", "vllm", "ollama", "koboldcpp"]
    assert components["Routing"]["enum"] == ["least-outstanding", "round-robin", "cache-affinity"]
    assert components["Priority"]["enum"] == ["interactive", "batch", "background"]
    rpm = components["KeyCreate"]["properties"]["rpm"]["anyOf"][0]
    assert (rpm["type"], rpm["exclusiveMinimum"]) == ("integer", 0)


def test_the_schema_never_offers_a_hash_and_lists_the_secret_only_when_issued(schema):
    components = schema["components"]["schemas"]
    assert "key_hash" not in str(schema)
    assert "secret" not in components["KeyOut"]["properties"]
    assert "secret" in components["KeyIssued"]["properties"]


def test_swagger_ui_loads_its_scripts_and_styles_from_local_static_files(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/ninja/swagger-ui-bundle.js" in assets
    assert all(asset.startswith("/") for asset in assets), assets
    assert "cdn" not in page.lower()
