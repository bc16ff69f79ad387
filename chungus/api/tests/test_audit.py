"""Management actions through the API are written to the audit log: who, what, from where."""

from __future__ import annotations

import pytest

from chungus.api.tests.conftest import post
from chungus.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def rows():
    return [(e.actor, e.via, e.action, e.target) for e in AuditEntry.objects.order_by("id")]


def test_a_key_created_and_revoked_by_an_admin_key_is_audited_without_its_secret(base):
    client = base.bearer(base.admin_secret)
    created = post(client, "/api/keys/create/", {"name": "app", "rpm": 5})
    secret, key_id = created.json()["secret"], created.json()["key"]["id"]
    post(client, f"/api/keys/{key_id}/update/", {"is_active": False})
    assert rows() == [
        ("operator", "api-key", "key.create", "app"),
        ("operator", "api-key", "key.revoke", "app"),
    ]
    entry = AuditEntry.objects.get(action="key.create")
    assert entry.ip == "127.0.0.1" and entry.detail["prefix"] == secret[:10]
    assert all(secret not in str(e.detail) for e in AuditEntry.objects.all())


def test_a_deployment_by_session_is_audited(admin):
    response = post(admin, "/api/deployments/", {"name": "tiny", "memory_mb": 1})
    assert response.status_code == 201
    post(admin, "/api/deployments/tiny/stop/")
    assert rows() == [
        ("operator", "session", "deployment.create", "tiny"),
        ("operator", "session", "deployment.stop", "tiny"),
    ]


def test_models_added_and_removed_are_audited(base, admin):
    post(admin, "/api/models/create/", {"name": "extra", "url": "http://127.0.0.1:9/v1"})
    post(admin, f"/api/models/{base.model.pk}/delete/")
    assert [r[2:] for r in rows()] == [("model.add", "extra"), ("model.delete", "gemma")]


def test_a_refused_action_writes_nothing(base, admin):
    post(admin, "/api/keys/create/", {"name": "operator-key"})  # taken: 409
    assert rows() == []


def test_what_the_api_did_is_on_the_operators_audit_page(base, admin):
    client = base.bearer(base.admin_secret)
    post(client, "/api/keys/create/", {"name": "app"})
    post(client, "/api/deployments/", {"name": "tiny", "memory_mb": 1})
    page = admin.get("/dashboard/audit/").content.decode()
    assert "key.create" in page and "deployment.create" in page and "tiny" in page


def test_a_job_submitted_and_cancelled_by_its_owner_is_audited(base, tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNGUS_JOBS_DIR", str(tmp_path / "jobs"))
    client = base.bearer(base.owner_secret)
    body = {"kind": "md", "spec": {"structure": "villin", "ns": 0.01}}
    job_id = post(client, "/api/jobs/", body).json()["job"]["id"]
    post(client, f"/api/jobs/{job_id}/cancel/")
    assert rows() == [
        ("owner", "api-key", "job.submit", f"job {job_id}"),
        ("owner", "api-key", "job.cancel", f"job {job_id}"),
    ]
