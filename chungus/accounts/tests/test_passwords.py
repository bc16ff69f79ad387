"""Django's password validators are on for passwords people choose."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db


def add_user(admin, password):
    body = {"username": "alice", "usable_password": "true"}
    return admin.post(
        "/admin/auth/user/add/", {**body, "password1": password, "password2": password}
    )


@pytest.mark.parametrize("weak", ["pw", "password123", "12345678901", "alice2026"])
def test_a_weak_password_is_refused_for_a_new_user(admin, weak):
    response = add_user(admin, weak)
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert not get_user_model().objects.filter(username="alice").exists()


def test_a_strong_password_is_accepted(admin):
    assert add_user(admin, "correct horse battery staple 42").status_code == 302
    assert get_user_model().objects.filter(username="alice").exists()


def test_the_validators_are_the_ones_django_ships():
    with pytest.raises(ValidationError):
        validate_password("pw")
    validate_password("correct horse battery staple 42")
