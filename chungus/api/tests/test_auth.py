"""Only superusers get in: by session (POSTs with the CSRF token) or by an admin key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chungus.accounts.models import ApiKey, Scope
from chungus.api.tests.conftest import Base, assert_error, post

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("GET", "/api/models/"),
    ("POST", "/api/models/create/"),
    ("POST", "/api/models/{model}/update/"),
    ("POST", "/api/models/{model}/delete/"),
    ("POST", "/api/models/{model}/backends/{backend}/delete/"),
    ("GET", "/api/keys/"),
    ("POST", "/api/keys/create/"),
    ("POST", "/api/keys/{key}/update/"),
    ("POST", "/api/keys/{key}/delete/"),
    ("GET", "/api/deployments/"),
    ("POST", "/api/deployments/"),
    ("GET", "/api/deployments/{deployment}/"),
    ("POST", "/api/deployments/{deployment}/stop/"),
    ("POST", "/api/deployments/{deployment}/start/"),
    ("GET", "/api/chart-data/"),
    ("GET", "/api/fleet/gpu-history/"),
]
POSTS = [endpoint for endpoint in ENDPOINTS if endpoint[0] == "POST"]


def call(base: Base, client, method: str, template: str):
    key = ApiKey.objects.get(name="owner-key")
    path = template.format(
        model=base.model.pk, backend=base.backend.pk, key=key.pk, deployment=base.deployment.name
    )
    return client.get(path) if method == "GET" else post(client, path, {})


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_an_anonymous_caller_gets_401(base, method, path):
    error = assert_error(call(base, base.client(), method, path), 401)
    assert error["code"] == "missing_credentials"


@pytest.mark.parametrize(("method", "path"), POSTS)
def test_an_anonymous_post_without_a_csrf_token_is_still_401(base, method, path):
    assert_error(call(base, base.client(csrf=False), method, path), 401)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_signed_in_user_who_is_not_a_superuser_gets_403(base, method, path):
    for user in (base.owner, base.outsider):
        assert_error(call(base, base.client(user), method, path), 403)


@pytest.mark.parametrize(("method", "path"), POSTS)
def test_a_superuser_session_post_without_the_csrf_token_gets_403(base, method, path):
    response = call(base, base.client(base.operator, csrf=False), method, path)
    assert assert_error(response, 403)["code"] == "csrf_failed"


@pytest.mark.parametrize(("method", "path"), POSTS)
def test_a_wrong_csrf_token_gets_403(base, method, path):
    client = base.client(base.operator)
    client.defaults["HTTP_X_CSRFTOKEN"] = "x" * 32
    assert assert_error(call(base, client, method, path), 403)["code"] == "csrf_failed"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_superuser_session_with_the_csrf_token_gets_in(base, method, path):
    response = call(base, base.client(base.operator), method, path)
    assert response.status_code not in (401, 403), response.content


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_superusers_key_gets_in_without_a_csrf_token(base, method, path):
    response = call(base, base.bearer(base.admin_secret), method, path)
    assert response.status_code not in (401, 403), response.content


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_key_whose_owner_is_not_a_superuser_gets_403(base, method, path):
    assert_error(call(base, base.bearer(base.owner_secret), method, path), 403)


def test_a_key_without_an_owner_gets_403(base):
    _, secret = ApiKey.issue("nobody's")
    assert_error(base.bearer(secret).get("/api/models/"), 403)


def test_an_unknown_key_gets_401(base):
    error = assert_error(base.bearer("ck-not-a-key").get("/api/keys/"), 401)
    assert error["code"] == "invalid_api_key"


def test_a_revoked_admin_key_gets_401(base):
    ApiKey.objects.get(name="operator-key").revoke()
    error = assert_error(base.bearer(base.admin_secret).get("/api/keys/"), 401)
    assert error["code"] == "revoked_api_key"


def test_an_expired_admin_key_gets_401(base):
    key = ApiKey.objects.get(name="operator-key")
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()
    error = assert_error(base.bearer(base.admin_secret).get("/api/keys/"), 401)
    assert error["code"] == "expired_api_key"


def test_an_admin_key_stops_working_when_its_owner_is_no_longer_a_superuser(base):
    base.operator.is_superuser = False
    base.operator.save()
    assert_error(base.bearer(base.admin_secret).get("/api/keys/"), 403)


def test_a_bearer_key_decides_even_when_a_superuser_session_is_present(base):
    client = base.client(base.operator)
    response = client.get("/api/keys/", HTTP_AUTHORIZATION=f"Bearer {base.owner_secret}")
    assert_error(response, 403)


# Admin is a scope: chosen when the key is made, never implied by who owns it.


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_superusers_inference_key_gets_403_saying_why(base, method, path):
    _, secret = ApiKey.issue("everyday", owner=base.operator)  # inference: the default
    error = assert_error(call(base, base.bearer(secret), method, path), 403)
    assert error["code"] == "inference_key" and "admin key" in error["message"]


def test_a_deactivated_owners_admin_key_gets_401(base):
    base.operator.is_active = False
    base.operator.save()
    error = assert_error(base.bearer(base.admin_secret).get("/api/keys/"), 401)
    assert error["code"] == "deactivated_owner"


def test_a_deactivated_owners_key_is_refused_by_the_jobs_api(base):
    assert base.bearer(base.owner_secret).get("/api/jobs/").status_code == 200
    base.owner.is_active = False
    base.owner.save()
    assert_error(base.bearer(base.owner_secret).get("/api/jobs/"), 401)


def test_an_admin_key_can_only_be_made_for_a_superuser(base, admin):
    body = {"name": "ops", "owner": "owner", "scope": "admin"}
    assert_error(post(admin, "/api/keys/create/", body), 400, param="scope")
    body["owner"] = "operator"
    response = post(admin, "/api/keys/create/", body)
    assert response.status_code == 201 and response.json()["key"]["scope"] == "admin"
    assert ApiKey.objects.get(name="ops").scope == Scope.ADMIN


def test_a_new_key_is_an_inference_key_by_default(admin):
    response = post(admin, "/api/keys/create/", {"name": "app", "owner": "operator"})
    assert response.status_code == 201 and response.json()["key"]["scope"] == "inference"
