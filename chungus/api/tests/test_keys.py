"""/api/keys/…: list, issue (the secret once), update, revoke, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from chungus.accounts.models import ApiKey
from chungus.accounts.secrets import hash_secret
from chungus.api.tests.conftest import assert_error, post

pytestmark = pytest.mark.django_db

KEY_FIELDS = {
    "id", "name", "prefix", "owner", "rpm", "rph", "tpm", "allowed_models", "priority",
    "scope", "expires_at", "is_active", "created_at",
}  # fmt: skip


def key_id(name: str) -> int:
    return ApiKey.objects.get(name=name).pk


def test_it_lists_keys_with_their_owners_and_limits(base, admin):
    response = admin.get("/api/keys/")
    assert response.status_code == 200
    keys = {k["name"]: k for k in response.json()["keys"]}
    assert set(keys) == {"operator-key", "owner-key"}
    owner_key = keys["owner-key"]
    assert set(owner_key) == KEY_FIELDS
    assert owner_key["owner"] == "owner" and owner_key["prefix"] == base.owner_secret[:10]
    assert (owner_key["priority"], owner_key["allowed_models"], owner_key["rpm"]) == (
        "interactive", [], None
    )  # fmt: skip


def test_the_list_never_shows_a_secret_or_a_hash(base, admin):
    body = admin.get("/api/keys/").content.decode()
    for secret in (base.admin_secret, base.owner_secret):
        assert secret not in body and hash_secret(secret) not in body


def test_create_returns_the_secret_once_and_stores_only_its_hash(base, admin):
    body = {
        "name": "app", "rpm": 10, "rph": 100, "tpm": 5000, "allowed_models": ["gemma"],
        "priority": "batch", "expires_at": "2099-01-31T00:00:00Z", "owner": "owner",
    }  # fmt: skip
    response = post(admin, "/api/keys/create/", body)
    assert response.status_code == 201
    reply = response.json()
    secret, key = reply["secret"], reply["key"]
    assert secret.startswith("ck-") and key["prefix"] == secret[:10]
    assert (key["name"], key["owner"], key["rpm"], key["rph"], key["tpm"]) == (
        "app", "owner", 10, 100, 5000
    )  # fmt: skip
    assert (key["allowed_models"], key["priority"], key["is_active"]) == (["gemma"], "batch", True)
    assert key["expires_at"].startswith("2099-01-31T00:00:00")
    stored = ApiKey.objects.get(name="app")
    assert stored.key_hash == hash_secret(secret) and stored.owner == base.owner
    listing = admin.get("/api/keys/").content.decode()
    assert "app" in listing and secret not in listing


def test_the_new_secret_works_as_a_key(admin):
    secret = post(admin, "/api/keys/create/", {"name": "mine"}).json()["secret"]
    assert ApiKey.objects.get(key_hash=hash_secret(secret)).name == "mine"


def test_create_reads_a_zoneless_expiry_as_utc(admin):
    key = post(admin, "/api/keys/create/", {"name": "k", "expires_at": "2099-05-01T12:00"})
    assert ApiKey.objects.get(name="k").expires_at == datetime(2099, 5, 1, 12, tzinfo=UTC)
    assert key.status_code == 201


def test_create_refuses_a_name_in_use_with_409(admin):
    assert_error(post(admin, "/api/keys/create/", {"name": "owner-key"}), 409, param="name")


def test_create_refuses_an_unknown_owner_with_400(admin):
    response = post(admin, "/api/keys/create/", {"name": "k", "owner": "nobody"})
    assert_error(response, 400, param="owner")
    assert not ApiKey.objects.filter(name="k").exists()


def test_create_refuses_an_expiry_in_the_past_with_400(admin):
    response = post(admin, "/api/keys/create/", {"name": "k", "expires_at": "2001-01-01T00:00Z"})
    assert_error(response, 400, param="expires_at")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "k", "rpm": 0}, "rpm"),
        ({"name": "k", "rph": -5}, "rph"),
        ({"name": "k", "tpm": "lots"}, "tpm"),
        ({"name": "k", "priority": "urgent"}, "priority"),
        ({"name": "k", "allowed_models": "gemma"}, "allowed_models"),
        ({"name": "k", "allowed_models": [""]}, "allowed_models.0"),
        ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "k", "secret": "ck-mine"}, "secret"),
        ({"name": "k\x00"}, "name"),  # PostgreSQL cannot store NUL
        ({"name": "k", "allowed_models": ["gemma\x00"]}, "allowed_models.0"),
        ({"name": "k", "owner": "\x00"}, "owner"),
        ({"name": "k", "owner": "\ud800"}, "owner"),  # a lone surrogate is not UTF-8
    ],
)
def test_create_explains_what_is_wrong_with_a_body(admin, body, param):
    error = assert_error(post(admin, "/api/keys/create/", body), 422, param=param)
    assert error["code"] == "invalid_value" and param.split(".")[0] in error["message"]


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59-23:59"])
def test_an_expiry_past_the_year_9999_in_utc_is_400(admin, expires_at):
    response = post(admin, "/api/keys/create/", {"name": "k", "expires_at": expires_at})
    assert assert_error(response, 400, param="expires_at")["code"] == "out_of_range"
    assert not ApiKey.objects.filter(name="k").exists()
    post(admin, "/api/keys/create/", {"name": "k"})
    response = post(admin, f"/api/keys/{key_id('k')}/update/", {"expires_at": expires_at})
    assert_error(response, 400, param="expires_at")


def test_an_expiry_late_in_the_year_9999_is_stored_in_utc(admin):
    body = {"name": "k", "expires_at": "9999-12-31T23:00:00+05:00"}
    assert post(admin, "/api/keys/create/", body).status_code == 201
    assert ApiKey.objects.get(name="k").expires_at == datetime(9999, 12, 31, 18, tzinfo=UTC)


def test_update_changes_only_the_fields_sent(admin):
    path = f"/api/keys/{key_id('owner-key')}/update/"
    body = {"rpm": 5, "allowed_models": ["gemma"], "priority": "background"}
    key = post(admin, path, body).json()["key"]
    assert (key["rpm"], key["allowed_models"], key["priority"]) == (5, ["gemma"], "background")
    key = post(admin, path, {"tpm": 100}).json()["key"]
    assert (key["rpm"], key["tpm"], key["priority"]) == (5, 100, "background")


def test_update_with_null_clears_a_limit_and_the_expiry(admin):
    path = f"/api/keys/{key_id('owner-key')}/update/"
    post(admin, path, {"rpm": 5, "expires_at": "2099-01-01T00:00:00Z"})
    key = post(admin, path, {"rpm": None, "expires_at": None}).json()["key"]
    assert (key["rpm"], key["expires_at"]) == (None, None)


def test_update_with_is_active_false_revokes_the_key(base, admin):
    key = post(admin, f"/api/keys/{key_id('owner-key')}/update/", {"is_active": False}).json()
    assert key["key"]["is_active"] is False
    stored = ApiKey.objects.get(name="owner-key")
    assert not stored.is_active and stored.revoked_at is not None


def test_a_revoked_key_cannot_be_made_active_again(admin):
    ApiKey.objects.get(name="owner-key").revoke()
    response = post(admin, f"/api/keys/{key_id('owner-key')}/update/", {"is_active": True})
    assert_error(response, 400, param="is_active")
    assert not ApiKey.objects.get(name="owner-key").is_active


@pytest.mark.parametrize(
    ("body", "param"),
    [({"rpm": 0}, "rpm"), ({"priority": None}, "priority"), ({"name": "renamed"}, "name")],
)
def test_update_explains_what_is_wrong_with_a_body(admin, body, param):
    response = post(admin, f"/api/keys/{key_id('owner-key')}/update/", body)
    assert_error(response, 422, param=param)


def test_update_refuses_an_expiry_in_the_past(admin):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = post(admin, f"/api/keys/{key_id('owner-key')}/update/", {"expires_at": past})
    assert_error(response, 400, param="expires_at")


def test_update_of_an_unknown_key_is_404(admin):
    assert_error(post(admin, "/api/keys/9999/update/", {"rpm": 1}), 404)


def test_delete_removes_the_key(admin):
    response = post(admin, f"/api/keys/{key_id('owner-key')}/delete/")
    assert (response.status_code, response.json()) == (200, {"deleted": True})
    assert not ApiKey.objects.filter(name="owner-key").exists()


def test_delete_of_an_unknown_key_is_404(admin):
    assert_error(post(admin, "/api/keys/9999/delete/"), 404)


def test_an_admin_key_can_issue_keys_without_a_csrf_token(base):
    response = post(base.bearer(base.admin_secret), "/api/keys/create/", {"name": "scripted"})
    assert response.status_code == 201 and response.json()["secret"].startswith("ck-")
