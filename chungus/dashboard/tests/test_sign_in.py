"""Signing in and out, and where each user lands."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chungus.accounts.models import LoginFailure

pytestmark = pytest.mark.django_db  # also run on PostgreSQL by scripts/test


def test_the_sign_in_page_renders(people):
    response = people.client().get("/accounts/login/")
    assert response.status_code == 200 and b'name="password"' in response.content


def test_an_operator_lands_on_the_dashboard(people):
    response = people.client().post("/accounts/login/", {"username": "operator", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


def test_a_user_lands_on_their_own_keys(people):
    response = people.client().post("/accounts/login/", {"username": "owner", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/accounts/keys/"


def test_a_wrong_password_is_refused(people):
    response = people.client().post("/accounts/login/", {"username": "owner", "password": "no"})
    assert response.status_code == 200 and b"errors" in response.content


def test_sign_out_is_a_post(people):
    client = people.client(people.owner)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/keys/").status_code == 302


def sign_in(client, username="owner"):
    return client.post("/accounts/login/", {"username": username, "password": "pw"})


def fail(client, username="owner", path="/accounts/login/", **extra):
    return client.post(path, {"username": username, "password": "wrong"}, **extra)


def test_after_five_failures_a_username_gets_429_even_with_the_right_password(people):
    client = people.client()
    for _ in range(5):
        assert fail(client).status_code == 200
    right = client.post("/accounts/login/", {"username": "owner", "password": "pw"})
    assert right.status_code == 429 and int(right["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in right.content
    # Another user is not held back by the owner's failures.
    other = people.client().post("/accounts/login/", {"username": "outsider", "password": "pw"})
    assert other.status_code == 302


def test_after_twenty_failures_an_address_gets_429_for_every_username(people):
    client = people.client()
    for n in range(20):
        assert fail(client, f"nobody-{n}").status_code == 200
    right = client.post("/accounts/login/", {"username": "outsider", "password": "pw"})
    assert right.status_code == 429
    elsewhere = people.client().post(
        "/accounts/login/", {"username": "outsider", "password": "pw"}, REMOTE_ADDR="10.0.0.9"
    )
    assert elsewhere.status_code == 302


def test_the_admin_sign_in_is_throttled_too(people):
    client = people.client()
    for _ in range(5):
        assert fail(client, "operator", "/admin/login/").status_code == 200
    right = client.post("/admin/login/", {"username": "operator", "password": "pw"})
    assert right.status_code == 429


def test_a_successful_sign_in_forgets_the_usernames_failures(people):
    client = people.client()
    for _ in range(4):
        fail(client)
    assert sign_in(client).status_code == 302
    for _ in range(4):
        assert fail(people.client()).status_code == 200


def test_failures_older_than_the_window_no_longer_count(people, settings):
    settings.CHUNGUS_LOGIN_WINDOW_SECONDS = 60
    client = people.client()
    for _ in range(5):
        fail(client)
    LoginFailure.objects.update(at=timezone.now() - timedelta(seconds=61))
    assert sign_in(client).status_code == 302
