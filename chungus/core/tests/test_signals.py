"""Identity changes move the configuration version, so serving processes reload keys."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from chungus.core.models import ConfigVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="pw")


def moves(change):
    before = ConfigVersion.current()
    change()
    return ConfigVersion.current() > before


def test_deactivating_or_demoting_a_user_moves_the_version(user):
    def deactivate():
        user.is_active = False
        user.save(update_fields=["is_active"])

    def promote():
        user.is_superuser = True
        user.save()

    assert moves(deactivate) and moves(promote)


def test_a_sign_in_which_writes_only_last_login_does_not(user, client):
    assert not moves(lambda: client.login(username="alice", password="pw"))


def test_group_membership_and_permissions_move_the_version(user):
    group = Group.objects.create(name="researchers")
    permission = Permission.objects.get(codename="add_user")
    assert moves(lambda: user.groups.add(group))
    assert moves(lambda: user.groups.remove(group))
    assert moves(lambda: group.permissions.add(permission))
    assert moves(lambda: user.user_permissions.add(permission))
    assert moves(group.delete)
