"""A member for the page tests (the operator is chungus/conftest.py's); the browser tests
build their own running CHUNGUS."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def member(db: None) -> User:
    return User.objects.create_user("member", "member@example.com", "pw")
