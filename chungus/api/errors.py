"""Every management API error in OpenAI's envelope, turned out in one place.

The services and the auth classes raise chungus.lib.openai_errors' APIError tree
(InvalidRequest, AuthenticationFailed, Forbidden, NotFound, Conflict).
ninja's own errors get the same envelope: HttpError (bad JSON: 400),
AuthenticationError (no credentials at all: 401), ValidationError (422), Http404,
Django's RequestDataTooBig (413) and the 405 that ninja answers in plain text.
Anything else is logged and answers 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from chungus.lib.openai_errors import (
    INVALID_REQUEST,
    APIError,
    AuthenticationFailed,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    error_envelope,
)

logger = logging.getLogger("chungus.api")

_CODES = {400: "invalid_json", 401: "missing_credentials", 403: "forbidden", 404: "not_found"}


def _json(error: APIError) -> JsonResponse:
    return JsonResponse(error.envelope(), status=error.status, headers=error.headers)


def _api_error(request: HttpRequest, exc: APIError) -> HttpResponse:
    return _json(exc)


def _no_credentials(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = "Sign in as a superuser, or send 'Authorization: Bearer <an admin's API key>'."
    return _json(AuthenticationFailed(message, code=_CODES[401]))


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _CODES.get(exc.status_code)
    envelope = error_envelope(exc.message, INVALID_REQUEST, None, code)
    return JsonResponse(envelope, status=exc.status_code)


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = [f"{_param(error['loc']) or 'body'}: {error['msg']}" for error in exc.errors]
    param = _param(exc.errors[0]["loc"]) if exc.errors else None
    return _json(Unprocessable("; ".join(problems), param=param))


def _param(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """`("body", "data", "rpm")` → `"rpm"`: drop the source and the body's argument name."""
    parts = list(loc)[2:] if loc and loc[0] == "body" else list(loc)[1:]
    return ".".join(str(part) for part in parts) or None


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _json(NotFound(f"Unknown path: {request.path}"))


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _json(PayloadTooLarge(f"The request body is larger than {limit} bytes."))


def _crash(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _json(InternalError())


def install_error_handlers(api: NinjaAPI) -> None:
    """Make every error the API answers an OpenAI-style envelope, never HTML or a traceback."""
    handlers: dict[type[Exception], Callable[..., HttpResponse]] = {
        APIError: _api_error,
        AuthenticationError: _no_credentials,
        HttpError: _http_error,
        ValidationError: _validation_error,
        Http404: _not_found,
        RequestDataTooBig: _too_big,
        Exception: _crash,
    }
    for exc_class, handler in handlers.items():
        api.add_exception_handler(exc_class, handler)


def enveloped_405(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a ninja path view so a wrong method gets the envelope instead of plain text."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code != 405:
            return response
        allowed = response.get("Allow", "")
        message = f"{request.path} accepts {allowed}, not {request.method}."
        return _json(MethodNotAllowed(message, headers={"Allow": allowed}))

    return wrapper
