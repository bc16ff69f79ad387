"""The audit log's writer: bounded details without secrets, and the admin's changes copied."""

from io import StringIO

import pytest
from django.core.management import call_command

from chungus.core.audit import CODE, MAX_TEXT, Actor, audit, clean_detail, process_actor
from chungus.core.models import AuditEntry

pytestmark = pytest.mark.django_db
STRONG = "correct horse battery staple 42"


def test_details_drop_secret_fields_and_bound_the_rest():
    detail = clean_detail(
        {"secret": "ck-x", "password": "pw", "api_key_env": "X", "note": "n" * 5000, "n": 3}
    )
    assert detail == {"note": "n" * MAX_TEXT, "n": 3}


def test_audit_writes_one_bounded_row():
    entry = audit(Actor("alice", "session", "10.0.0.1"), "key.create", "k" * 500, {"rpm": 5})
    entry.refresh_from_db()
    assert (entry.actor, entry.via, entry.ip, entry.action) == (
        "alice",
        "session",
        "10.0.0.1",
        "key.create",
    )
    assert len(entry.target) == MAX_TEXT and entry.detail == {"rpm": 5}


def test_a_user_added_in_djangos_admin_is_copied_to_the_audit_log(admin):
    response = admin.post(
        "/admin/auth/user/add/",
        {"username": "alice", "usable_password": "true", "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.via, entry.action, entry.target) == (
        "operator",
        "admin",
        "user.added",
        "user:alice",
    )
    assert STRONG not in str(entry.detail)


def test_models_added_and_removed_at_the_command_line_are_audited():
    call_command("models", "add", "extra", "--url", "http://127.0.0.1:9/v1", stdout=StringIO())
    call_command("models", "remove", "extra", stdout=StringIO())
    entries = AuditEntry.objects.order_by("id")
    assert [(e.via, e.action, e.target) for e in entries] == [
        ("cli", "model.add", "extra"),
        ("cli", "model.delete", "extra"),
    ]
    assert entries[0].actor.startswith("cli:")


def test_outside_a_request_the_actor_is_the_operator_in_a_command_else_code():
    assert process_actor(["/opt/chungus/bin/chungus", "createsuperuser"]).via == "cli"
    assert process_actor(["/opt/chungus/bin/chungus", "serve"]) == CODE  # requests act there
    assert process_actor(["/opt/chungus/bin/pytest", "-q"]) == CODE
