"""Users for the page tests: the operator (from chungus/conftest.py), an owner of keys, an
outsider and a member; the browser tests build their own running CHUNGUS."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chungus.accounts.models import ApiKey


def signed_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def member(db: None) -> User:
    return User.objects.create_user("member", "member@example.com", "pw")


@dataclass
class People:
    operator: User
    owner: User
    outsider: User
    owner_key: ApiKey

    def client(self, user: User | None = None) -> Client:
        return signed_in(user)


@pytest.fixture
def people(operator: User) -> People:
    owner = User.objects.create_user("owner", "owner@example.com", "pw")
    outsider = User.objects.create_user("outsider", "outsider@example.com", "pw")
    owner_key, _ = ApiKey.issue("owners-secret-project", owner=owner, rpm=10)
    return People(operator, owner, outsider, owner_key)
