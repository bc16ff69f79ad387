"""The operator (from chungus/conftest.py), an owner of keys and an outsider, shared by the
account page tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chungus.accounts.models import ApiKey


@dataclass
class People:
    operator: User
    owner: User
    outsider: User
    owner_key: ApiKey

    def client(self, user: User | None = None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client


@pytest.fixture
def people(operator: User) -> People:
    owner = User.objects.create_user("owner", "owner@example.com", "pw")
    outsider = User.objects.create_user("outsider", "outsider@example.com", "pw")
    owner_key, _ = ApiKey.issue("owners-secret-project", owner=owner, rpm=10)
    return People(operator, owner, outsider, owner_key)
