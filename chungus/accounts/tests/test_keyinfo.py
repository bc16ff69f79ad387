"""What the data plane knows of a key follows its owner: deactivated or demoted owners."""

import pytest
from django.contrib.auth import get_user_model

from chungus.accounts.keyinfo import key_infos
from chungus.accounts.models import ApiKey, Scope
from chungus.accounts.secrets import hash_secret

pytestmark = pytest.mark.django_db


def info(secret):
    return key_infos()[hash_secret(secret)]


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


def test_a_deactivated_owners_key_is_inactive(root):
    _, secret = ApiKey.issue("k", owner=root)
    assert info(secret).active
    root.is_active = False
    root.save()
    assert not info(secret).active


def test_a_key_without_an_owner_stays_active():
    _, secret = ApiKey.issue("k")
    assert info(secret).active and not info(secret).admin


def test_a_superusers_inference_key_is_not_admin(root):
    _, secret = ApiKey.issue("k", owner=root)
    assert not info(secret).admin


def test_an_admin_key_is_admin_while_its_owner_is_an_active_superuser(root):
    _, secret = ApiKey.issue("k", owner=root, scope=Scope.ADMIN)
    assert info(secret).admin
    root.is_superuser = False
    root.save()
    assert not info(secret).admin
    root.is_superuser, root.is_active = True, False
    root.save()
    assert not info(secret).admin
