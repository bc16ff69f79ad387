"""Users made or changed outside the admin are audited once, at commit, never with their
password; what the admin changes is its own row, in the admin's name, and not a second."""

import contextlib
import json
import sqlite3
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction

from chungus.core.models import AuditEntry
from chungus.core.user_audit import user_changes
from chungus.testing.processes import chungus_instance

pytestmark = pytest.mark.django_db
STRONG = "correct horse battery staple 42"
OTHER = "another horse, another staple 43"
users = get_user_model().objects


def rows(**only):
    entries = AuditEntry.objects.filter(**only).order_by("id")
    return [(e.actor, e.via, e.action, e.target, e.detail) for e in entries]


def no_secret_in(entries, *secrets):
    text = json.dumps([entry[4] for entry in entries])
    return not any(secret in text for secret in secrets) and "pbkdf2" not in text


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for a commit as each block ends, as a commit would (the transaction
    a test runs in never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_only_a_new_password_and_changed_flags_count():
    before = {"password": "h1", "is_active": True, "is_staff": False, "is_superuser": False}
    promoted = {**before, "is_staff": True, "password": "h2"}
    assert user_changes(before, promoted, rehashed=False) == [
        ("user.update", {"is_staff": True}),
        ("user.password", {"usable": True}),
    ]
    locked = {**before, "password": "!no-password"}  # set_unusable_password()
    assert user_changes(before, locked, rehashed=False) == [("user.password", {"usable": False})]
    assert user_changes(before, {**before, "password": "h2"}, rehashed=True) == []
    assert user_changes(before, dict(before), rehashed=False) == []


def test_users_made_and_changed_in_code_are_audited_without_their_password(committed):
    with committed():
        alice = users.create_user("alice", password=STRONG)
    with committed():
        alice.is_staff = alice.is_superuser = True
        alice.save()
    with committed():
        alice.set_password(OTHER)
        alice.save()
    with committed():
        alice.is_active = False
        alice.save(update_fields=["is_active"])
    with committed():
        alice.set_unusable_password()
        alice.save()
    found = rows()
    assert found == [
        ("system", "code", "user.create", "user:alice",
         {"is_active": True, "is_staff": False, "is_superuser": False}),
        ("system", "code", "user.update", "user:alice", {"is_staff": True, "is_superuser": True}),
        ("system", "code", "user.password", "user:alice", {"usable": True}),
        ("system", "code", "user.update", "user:alice", {"is_active": False}),
        ("system", "code", "user.password", "user:alice", {"usable": False}),
    ]  # fmt: skip
    assert no_secret_in(found, STRONG, OTHER)


def test_group_changes_are_audited_from_either_side(committed):
    alice, bob = users.create_user("alice"), users.create_user("bob")
    researchers, ops = Group.objects.create(name="researchers"), Group.objects.create(name="ops")
    with committed():
        alice.groups.add(researchers, ops)
        alice.groups.add(ops)  # a member already: nothing changes
    with committed():
        alice.groups.remove(ops)
        researchers.user_set.add(bob)
    with committed():
        alice.groups.clear()
        researchers.user_set.clear()
    assert [(e[3], e[4]) for e in rows(action="user.groups")] == [
        ("user:alice", {"added": ["ops", "researchers"]}),
        ("user:alice", {"removed": ["ops"]}),
        ("user:bob", {"added": ["researchers"]}),
        ("user:alice", {"removed": ["researchers"]}),
        ("user:bob", {"removed": ["researchers"]}),
    ]


def test_a_sign_in_and_its_password_hash_upgrade_are_not_audited(committed, client):
    alice = users.create_user("alice", password=STRONG)
    weak = PBKDF2PasswordHasher().encode(STRONG, "saltsalt", iterations=1000)
    users.filter(pk=alice.pk).update(password=weak)
    with committed():
        assert client.login(username="alice", password=STRONG)
    assert users.get(pk=alice.pk).password != weak  # upgraded, and saved
    assert rows() == []


def test_a_change_rolled_back_is_not_audited(committed):
    with committed(), contextlib.suppress(RuntimeError), transaction.atomic():
        users.create_user("alice")
        raise RuntimeError("rolled back")
    assert rows() == []


def test_changepassword_is_audited_as_the_operator_at_the_command_line(committed, monkeypatch):
    users.create_user("alice", password=STRONG)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": OTHER)
    monkeypatch.setattr(sys, "argv", ["/opt/chungus/bin/chungus", "changepassword", "alice"])
    with committed():
        call_command("changepassword", "alice", stdout=StringIO())
    [(actor, via, action, target, detail)] = found = rows()
    assert actor.startswith("cli:") and via == "cli"
    assert (action, target, detail) == ("user.password", "user:alice", {"usable": True})
    assert no_secret_in(found, STRONG, OTHER)


def test_a_superuser_made_and_changed_at_the_command_line_is_audited(tmp_path):
    instance = chungus_instance(tmp_path / "home")
    instance.create_superuser("root", STRONG)
    change = (
        "from django.contrib.auth.models import User; u = User.objects.get(username='root'); "
        f"u.set_password({OTHER!r}); u.is_staff = False; u.save()"
    )
    instance.cli("shell", "-c", change)
    with contextlib.closing(sqlite3.connect(instance.home / "chungus.sqlite3")) as db:
        query = "select actor, via, action, target, detail from core_auditentry order by id"
        found = [(*row[:4], json.loads(row[4])) for row in db.execute(query).fetchall()]
    assert [row[1:4] for row in found] == [
        ("cli", "user.create", "user:root"),
        ("cli", "user.update", "user:root"),
        ("cli", "user.password", "user:root"),
    ]
    assert all(row[0].startswith("cli:") for row in found)
    assert found[0][4] == {"is_active": True, "is_staff": True, "is_superuser": True}
    assert no_secret_in(found, STRONG, OTHER)


@pytest.mark.django_db(transaction=True)  # commits as it does when serving
def test_what_the_admin_changes_is_audited_once_in_the_admins_name(admin):
    researchers = Group.objects.create(name="researchers")
    added = admin.post(
        "/admin/auth/user/add/",
        {"username": "alice", "usable_password": "true", "password1": STRONG, "password2": STRONG},
    )
    alice = users.get(username="alice")
    changed = admin.post(
        f"/admin/auth/user/{alice.pk}/change/",
        {
            "username": "alice", "is_active": "on", "is_superuser": "on",
            "groups": [researchers.pk], "date_joined_0": "2026-01-01", "date_joined_1": "00:00",
        },
    )  # fmt: skip
    password = admin.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"usable_password": "true", "password1": OTHER, "password2": OTHER},
    )
    assert [added.status_code, changed.status_code, password.status_code] == [302] * 3
    found = rows(target="user:alice")
    assert [entry[:3] for entry in found] == [
        ("operator", "admin", "user.added"),
        ("operator", "admin", "user.changed"),
        ("operator", "admin", "user.password"),  # written as code, then the admin's
    ]
    assert users.get(pk=alice.pk).is_superuser and no_secret_in(found, STRONG, OTHER)
