"""One shared base: the operator (superuser, from chungus/conftest.py), an owner of a key
(not a superuser), an outsider."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client

from chungus.accounts.models import ApiKey, Scope
from chungus.fleet.models import Backend, Deployment, Model
from chungus.testing.clients import csrf_client


@dataclass
class Base:
    operator: User
    owner: User
    outsider: User
    admin_secret: str  # an admin key the operator owns
    owner_secret: str  # a key the owner owns
    model: Model
    backend: Backend
    deployment: Deployment  # declared only: no reconciler runs in these tests

    def client(self, user: User | None = None, *, csrf: bool = True) -> Client:
        """A client signed in as `user`; with csrf, its POSTs carry a valid token."""
        return csrf_client(user, token=csrf)

    def bearer(self, secret: str) -> Client:
        """A client that sends only `Authorization: Bearer <secret>` (no cookie, no token)."""
        return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, path: str, body: Any = None) -> Any:
    """POST `body` as JSON (nothing when None)."""
    data = "" if body is None else json.dumps(body)
    return client.post(path, data, content_type="application/json")


def assert_error(response: Any, status: int, param: str | None = None) -> dict[str, Any]:
    """Assert an OpenAI-style error envelope with this status; return its error object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param is not None:
        assert error["param"] == param
    return error


@pytest.fixture
def base(operator: User) -> Base:
    users = get_user_model().objects
    owner = users.create_user("owner", "owner@example.com")
    outsider = users.create_user("outsider", "outsider@example.com")
    _, admin_secret = ApiKey.issue("operator-key", owner=operator, scope=Scope.ADMIN)
    _, owner_secret = ApiKey.issue("owner-key", owner=owner)
    model = Model.objects.create(name="gemma")
    backend = Backend.objects.create(model=model, url="http://127.0.0.1:8080/v1")
    deployment = Deployment.objects.create(name="gemma-deployed", source="packaged")
    return Base(operator, owner, outsider, admin_secret, owner_secret, model, backend, deployment)


@pytest.fixture
def admin(base: Base, admin: Client) -> Client:
    """chungus/conftest.py's admin (the operator signed in), here always with the base."""
    return admin
