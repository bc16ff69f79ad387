"""Upgrading: keys superusers owned were admin credentials, so they become admin keys; the rest
become inference keys (migration 0004_apikey_scope)."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

from chungus.accounts.models import ApiKey, Scope

pytestmark = pytest.mark.django_db
migration = importlib.import_module("chungus.accounts.migrations.0004_apikey_scope")


def test_superusers_keys_become_admin_keys_and_no_others():
    users = get_user_model().objects
    root = users.create_superuser("root", "root@example.com", "pw")
    alice = users.create_user("alice")
    for name, owner in (("roots", root), ("alices", alice), ("nobodys", None)):
        ApiKey.issue(name, owner=owner)
    migration.superuser_keys_become_admin(apps, None)
    scopes = dict(ApiKey.objects.values_list("name", "scope"))
    assert scopes == {"roots": Scope.ADMIN, "alices": Scope.INFERENCE, "nobodys": Scope.INFERENCE}
