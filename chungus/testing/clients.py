"""Django test clients that check CSRF as a browser session is checked."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.test import Client


def csrf_client(user: User | None = None, *, token: bool = True) -> Client:
    """A client signed in as `user` (anonymous for None) that enforces CSRF checks; with
    `token`, its POSTs carry a valid CSRF token as the pages' scripts send it."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    if token:
        value = secrets.token_hex(16)
        client.cookies["csrftoken"] = value
        client.defaults["HTTP_X_CSRFTOKEN"] = value
    return client
