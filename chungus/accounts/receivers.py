"""What accounts do when someone signs in, fails to, or signs out."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from chungus.accounts import loginguard
from chungus.accounts.ownkeys import revoke_playground_keys


def failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    loginguard.record_failure(loginguard.client_ip(request), str(credentials.get("username", "")))


def signed_in(sender: Any, user: Any, **kwargs: Any) -> None:
    loginguard.forget_failures(user.get_username())


def signed_out(sender: Any, user: Any = None, **kwargs: Any) -> None:
    # The playground's key lives as long as the session it was made in.
    if user is not None:
        revoke_playground_keys(user)


def connect() -> None:
    user_login_failed.connect(failed, dispatch_uid="chungus-login-failed")
    user_logged_in.connect(signed_in, dispatch_uid="chungus-logged-in")
    user_logged_out.connect(signed_out, dispatch_uid="chungus-logged-out")
