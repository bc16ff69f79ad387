"""Who may call /api/jobs/: any active user, by API key or by session.

Jobs belong to users, not only to operators: a researcher submits and follows their own
jobs with their own key. The checks mirror chungus.api.auth (key first, then the session,
whose POSTs need the CSRF token); which jobs a user sees is chungus.fleet.jobs.submit's
business (their own; a superuser's, all).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from chungus.api.auth import active_key
from chungus.lib.openai_errors import Forbidden, InvalidRequest


class UserKey(HttpBearer):
    """An active, unexpired API key with an active owner."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser:
        key = active_key(token)
        if key.owner is None:  # active_key refused an inactive owner already
            raise Forbidden("This API key has no owner: jobs belong to users.")
        return key.owner


class UserSession(APIKeyCookie):
    """A signed-in user; unsafe methods need Django's CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        # Who first, then CSRF: an anonymous POST is a 401, not a CSRF failure.
        return self.authenticate(request, request.COOKIES.get(self.param_name))

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated or not user.is_active:
            return None
        try:  # Django's check reads a POST's form for its token
            failed = check_csrf(request)
        except RequestDataTooBig:
            raise  # answered 413 by the API's handler
        except (MultiPartParserError, SuspiciousOperation) as exc:
            raise InvalidRequest(
                f"The form could not be read: {exc}", code="invalid_form"
            ) from None
        if failed is not None:
            raise Forbidden(
                "CSRF verification failed: send the csrftoken cookie's value in X-CSRFToken.",
                code="csrf_failed",
            )
        return user
