"""Upgrading: the playground keys that migration 0004 made admin keys are revoked and become
inference keys (migration 0006_playground_keys_not_admin); no other key changes."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chungus.accounts.models import ApiKey, Scope

pytestmark = pytest.mark.django_db
migration = importlib.import_module("chungus.accounts.migrations.0006_playground_keys_not_admin")


def test_admin_playground_keys_are_revoked_and_become_inference_keys():
    users = get_user_model().objects
    root = users.create_superuser("root", "root@example.com", "pw")
    alice = users.create_user("alice")
    for name, owner, scope in (
        ("playground-root-0a1b2c", root, Scope.ADMIN),  # what 0004 made of an old one
        ("playground-ann_lab_example.org-d4e5f6", root, Scope.ADMIN),
        ("playground-root-ffffff", root, Scope.INFERENCE),  # made by today's playground
        ("playground-alice-123abc", alice, Scope.INFERENCE),
        ("playground-scripts", root, Scope.ADMIN),  # an operator's own name, not the pattern
        ("deploy-bot", root, Scope.ADMIN),
    ):
        ApiKey.issue(name, owner=owner, scope=scope)
    migration.revoke_admin_playground_keys(apps, None)
    keys = {k.name: (k.scope, k.is_active, k.revoked_at is not None) for k in ApiKey.objects.all()}
    assert keys == {
        "playground-root-0a1b2c": (Scope.INFERENCE, False, True),
        "playground-ann_lab_example.org-d4e5f6": (Scope.INFERENCE, False, True),
        "playground-root-ffffff": (Scope.INFERENCE, True, False),
        "playground-alice-123abc": (Scope.INFERENCE, True, False),
        "playground-scripts": (Scope.ADMIN, True, False),
        "deploy-bot": (Scope.ADMIN, True, False),
    }


@pytest.mark.django_db(transaction=True)  # SQLite changes its schema outside a transaction
def test_migrate_revokes_them_on_an_upgraded_database():
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0005_loginfailure")])
    old = executor.loader.project_state(("accounts", "0005_loginfailure")).apps
    root = old.get_model("auth", "User").objects.create(username="root", is_superuser=True)
    old.get_model("accounts", "ApiKey").objects.create(
        name="playground-root-0a1b2c", prefix="ck-x", key_hash="h", owner=root, scope="admin"
    )
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    key = ApiKey.objects.get(name="playground-root-0a1b2c")
    assert (key.scope, key.is_active) == (Scope.INFERENCE, False)
