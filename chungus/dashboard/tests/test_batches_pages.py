"""The Batches page: who sees which batches, their progress, and cancelling through the API's
own checks, audited (Django's test client; the browser test clicks Cancel)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chungus.accounts.models import ApiKey
from chungus.batches.models import Batch, BatchStatus
from chungus.core.models import AuditEntry
from chungus.dashboard.tests.conftest import People, signed_in
from chungus.testing.clients import csrf_client

pytestmark = pytest.mark.django_db  # also run on PostgreSQL by scripts/test


def a_batch(owner: User | None, api_key_id: int, **fields: object) -> Batch:
    """A batch 60 s into its run: 3 lines completed and 1 failed of 10."""
    values: dict[str, object] = {
        "endpoint": "/v1/chat/completions",
        "model": "gemma",
        "input_file_id": "file-in",
        "status": BatchStatus.IN_PROGRESS,
        "total": 10,
        "completed": 3,
        "failed": 1,
        "in_progress_at": timezone.now() - timedelta(seconds=60),
        **fields,
    }
    return Batch.objects.create(owner=owner, api_key_id=api_key_id, **values)


def row_of(content: str, batch: Batch) -> str:
    return content.split(f'data-batch="{batch.pk}"')[1].split("</tr>")[0]


@pytest.mark.parametrize("path", ["/batches/", "/batches/partials/table/"])
def test_anonymous_visitors_are_sent_to_sign_in(path):
    response = signed_in(None).get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_live_table_whose_session_ended_reloads_the_page():
    response = signed_in(None).get("/batches/partials/table/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_the_navigation_links_the_batches_page_next_to_jobs(people: People):
    content = signed_in(people.owner).get("/jobs/").content.decode()
    assert '<a href="/jobs/">Jobs</a>\n        <a href="/batches/">Batches</a>' in content


def test_owners_see_only_their_own_batches(people: People):
    mine = a_batch(people.owner, people.owner_key.pk)
    theirs = a_batch(people.outsider, 9001, model="their-secret-model")
    operators = a_batch(None, 9002, model="operators-model")
    for path in ("/batches/", "/batches/partials/table/"):
        content = signed_in(people.owner).get(path).content.decode()
        assert '<td class="owner">owner</td>' in row_of(content, mine)
        assert theirs.pk not in content and "their-secret-model" not in content
        assert operators.pk not in content and "operators-model" not in content
    assert "Your batches." in signed_in(people.owner).get("/batches/").content.decode()


def test_someone_with_no_batches_is_told_how_to_make_one(people: People):
    a_batch(people.owner, people.owner_key.pk)
    content = signed_in(people.outsider).get("/batches/").content.decode()
    assert 'id="no-batches"' in content and "POST /v1/batches" in content


def test_operators_see_every_tenants_batches_with_their_owners(people: People):
    ops_key, _ = ApiKey.issue("nightly-evals")
    owners = a_batch(people.owner, people.owner_key.pk)
    outsiders = a_batch(people.outsider, 9001)
    by_key = a_batch(None, ops_key.pk)
    gone_key = a_batch(None, 424242)
    content = signed_in(people.operator).get("/batches/").content.decode()
    assert "Everyone's batches (you are an operator)." in content
    assert '<td class="owner">owner</td>' in row_of(content, owners)
    assert '<td class="owner">outsider</td>' in row_of(content, outsiders)
    by_key_row = row_of(content, by_key)
    assert '<td class="owner">nightly-evals <span' in by_key_row
    assert "(operator's key)" in by_key_row
    assert '<td class="owner">key #424242 <span' in row_of(content, gone_key)


def test_a_running_batch_shows_its_progress_counts_and_eta(people: People):
    running = a_batch(people.owner, people.owner_key.pk, model="gemma-3-270m")
    row = row_of(signed_in(people.owner).get("/batches/").content.decode(), running)
    assert "/v1/chat/completions" in row and "gemma-3-270m" in row
    assert 'class="badge in_progress"' in row
    assert 'value="40.0"' in row and "40 %" in row
    counts = '<span class="completed">3</span> / <span class="failed">1</span> / '
    assert counts + '<span class="total">10</span>' in row
    assert '"num eta">2 min<' in row  # 6 lines left at 4 a minute
    assert running.created_at.strftime("%Y-%m-%d") in row
    assert 'class="danger small batch-cancel"' in row


@pytest.mark.parametrize(
    ("fields", "cancellable"),
    [
        ({"status": BatchStatus.VALIDATING, "in_progress_at": None, "completed": 0,
          "failed": 0}, True),
        ({"status": BatchStatus.IN_PROGRESS, "completed": 0, "failed": 0}, True),
        ({"status": BatchStatus.CANCELLING}, False),
        ({"status": BatchStatus.COMPLETED, "completed": 9, "failed": 1}, False),
        ({"status": BatchStatus.FAILED, "total": 0, "completed": 0, "failed": 0}, False),
    ],
)  # fmt: skip
def test_an_eta_is_only_for_a_batch_running_at_a_known_rate(people, fields, cancellable):
    batch = a_batch(people.owner, people.owner_key.pk, **fields)
    row = row_of(signed_in(people.owner).get("/batches/").content.decode(), batch)
    assert '"num eta">—<' in row
    assert ("batch-cancel" in row) is cancellable


def test_cancel_is_a_post(people: People):
    batch = a_batch(people.owner, people.owner_key.pk)
    assert signed_in(people.owner).get(f"/batches/{batch.pk}/cancel/").status_code == 405


def test_cancelling_needs_the_csrf_token(people: People):
    batch = a_batch(people.owner, people.owner_key.pk)
    response = csrf_client(people.owner, token=False).post(f"/batches/{batch.pk}/cancel/")
    assert response.status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.IN_PROGRESS
    assert not AuditEntry.objects.filter(action="batch.cancel").exists()


def test_anonymous_visitors_cancel_nothing(people: People):
    batch = a_batch(people.owner, people.owner_key.pk)
    response = csrf_client(None).post(f"/batches/{batch.pk}/cancel/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.IN_PROGRESS


def test_the_owner_cancels_their_batch_and_it_is_audited(people: People):
    batch = a_batch(people.owner, people.owner_key.pk)
    client = csrf_client(people.owner)
    response = client.post(f"/batches/{batch.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == "/batches/"
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLING and batch.cancelling_at is not None
    entry = AuditEntry.objects.get(action="batch.cancel", target=batch.pk)
    assert (entry.actor, entry.via, entry.detail) == ("owner", "session", {"status": "cancelling"})
    page = client.get("/batches/").content.decode()
    assert f"Batch {batch.pk} is cancelling." in page
    assert "batch-cancel" not in row_of(page, batch)


def test_an_operator_cancels_any_tenants_batch_as_that_tenant(people: People):
    ops_key, _ = ApiKey.issue("nightly-evals")
    theirs = a_batch(people.outsider, 9001)
    by_key = a_batch(None, ops_key.pk, status=BatchStatus.VALIDATING)
    for batch in (theirs, by_key):
        assert csrf_client(people.operator).post(f"/batches/{batch.pk}/cancel/").status_code == 302
        batch.refresh_from_db()
        assert batch.status == BatchStatus.CANCELLING
        assert AuditEntry.objects.get(target=batch.pk, action="batch.cancel").actor == "operator"


def test_nobody_cancels_someone_elses_batch(people: People):
    batch = a_batch(people.owner, people.owner_key.pk)
    operators = a_batch(None, 9002)
    for target in (batch.pk, operators.pk, "batch_nope"):
        response = csrf_client(people.outsider).post(f"/batches/{target}/cancel/")
        assert response.status_code == 404
    for row in (batch, operators):
        row.refresh_from_db()
        assert row.status == BatchStatus.IN_PROGRESS
    assert not AuditEntry.objects.filter(action="batch.cancel").exists()


def test_a_batch_that_ended_is_not_cancelled_and_says_why(people: People):
    batch = a_batch(people.owner, people.owner_key.pk, status=BatchStatus.COMPLETED)
    client = csrf_client(people.owner)
    assert client.post(f"/batches/{batch.pk}/cancel/").status_code == 302
    batch.refresh_from_db()
    assert batch.status == BatchStatus.COMPLETED
    assert not AuditEntry.objects.filter(action="batch.cancel").exists()
    assert "Cannot cancel a batch that is completed." in client.get("/batches/").content.decode()
