"""Whether a browser's Django session is a signed-in operator's, for pages that read the data
plane's live state (fleet status) with the session instead of a key kept in the browser."""

from __future__ import annotations

from importlib import import_module


def operator_session(cookies: dict[str, str]) -> bool:
    """True when the session cookie belongs to an active superuser (call off the event loop).

    Django's own `get_user` decides, so a session ended by signing out or by a password
    change is not one."""
    from django.conf import settings
    from django.contrib.auth import get_user
    from django.http import HttpRequest

    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return False
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(request)
    return bool(user.is_active and getattr(user, "is_superuser", False))
