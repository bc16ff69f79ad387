"""`chungus keys create|list|revoke`: secrets shown once, stored as hashes."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from chungus.accounts.models import ApiKey, Scope
from chungus.accounts.secrets import hash_secret
from chungus.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def keys(*args):
    out = StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


def test_create_prints_the_secret_last_and_stores_only_its_hash():
    output = keys(
        "create", "--name", "app", "--rpm", "10", "--rph", "100", "--tpm", "5000", "--models", "a,b"
    )
    secret = output.strip().splitlines()[-1]
    key = ApiKey.objects.get(name="app")
    assert secret.startswith("ck-") and len(secret) > 40
    assert key.key_hash == hash_secret(secret) and secret not in key.key_hash
    assert key.prefix == secret[:10]
    assert (key.rpm, key.rph, key.tpm, key.allowed_models) == (10, 100, 5000, ["a", "b"])


def test_list_never_shows_a_secret():
    secret = keys("create", "--name", "app").strip().splitlines()[-1]
    listing = keys("list")
    assert "app" in listing and secret[:10] in listing and secret not in listing


def test_names_are_unique():
    keys("create", "--name", "app")
    with pytest.raises(CommandError, match="exists already"):
        keys("create", "--name", "app")


def test_an_expiry_in_the_past_is_refused():
    with pytest.raises(CommandError, match="in the past"):
        keys("create", "--name", "old", "--expires", "2001-01-01")


def test_keys_can_belong_to_a_user():
    user = get_user_model().objects.create_user("alice")
    keys("create", "--name", "alices", "--owner", "alice")
    assert ApiKey.objects.get(name="alices").owner == user
    with pytest.raises(CommandError, match="no user"):
        keys("create", "--name", "ghost", "--owner", "nobody")


def test_revoke_marks_the_key_inactive_and_is_idempotent():
    keys("create", "--name", "app")
    assert "Revoked" in keys("revoke", "app")
    assert "already" in keys("revoke", "app")
    assert not ApiKey.objects.get(name="app").is_active
    with pytest.raises(CommandError, match="no key named"):
        keys("revoke", "nope")


def test_a_key_is_an_inference_key_unless_admin_is_asked_for_a_superuser():
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    keys("create", "--name", "everyday", "--owner", "root")
    keys("create", "--name", "ops", "--owner", "root", "--admin")
    assert ApiKey.objects.get(name="everyday").scope == Scope.INFERENCE
    assert ApiKey.objects.get(name="ops").scope == Scope.ADMIN
    assert "admin" in keys("list")


def test_only_a_superuser_may_own_an_admin_key():
    get_user_model().objects.create_user("alice")
    for owner in (["--owner", "alice"], []):
        with pytest.raises(CommandError, match="superuser"):
            keys("create", "--name", "sneaky", "--admin", *owner)
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_create_and_revoke_are_audited_without_the_secret():
    secret = keys("create", "--name", "app").strip().splitlines()[-1]
    keys("revoke", "app")
    rows = list(AuditEntry.objects.order_by("id"))
    assert [(r.action, r.target, r.via) for r in rows] == [
        ("key.create", "app", "cli"),
        ("key.revoke", "app", "cli"),
    ]
    assert all(secret not in str(r.detail) for r in rows)
