"""Signing in and out, and where each user lands."""

import pytest

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
