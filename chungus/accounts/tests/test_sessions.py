"""A browser's session as an operator credential for the data plane's fleet status."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from chungus.accounts.sessions import operator_session

pytestmark = pytest.mark.django_db


def cookies_of(user: User) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_a_signed_in_superuser_is_an_operator(operator):
    assert operator_session(cookies_of(operator))


def test_other_sessions_are_not():
    plain = User.objects.create_user("plain", password="pw")
    assert not operator_session(cookies_of(plain))
    assert not operator_session({settings.SESSION_COOKIE_NAME: "not-a-session"})
    assert not operator_session({})


def test_a_deactivated_or_demoted_operator_is_not(operator):
    cookies = cookies_of(operator)
    operator.is_superuser = False
    operator.save()
    assert not operator_session(cookies)
    operator.is_superuser, operator.is_active = True, False
    operator.save()
    assert not operator_session(cookies)
