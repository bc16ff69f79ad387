"""Every management API error in OpenAI's envelope, turned out in one place.

GatewayError (chungus.gateway.errors), raised by the services and the auth classes
├── InvalidRequest        400  a value the API cannot use (bad URL, past expiry)
├── AuthenticationFailed  401  an unknown, revoked or expired key
├── Forbidden             403  not a superuser, or a failed CSRF check
├── NotFound              404  no such model, backend or key
└── Conflict              409  the name or URL exists already
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

from chungus.gateway.errors import GatewayError, PayloadTooLarge, error_envelope

logger = logging.getLogger("chungus.api")

_CODES = {400: "invalid_json", 401: "missing_credentials", 403: "forbidden", 404: "not_found"}


class Forbidden(GatewayError):
    status = 403
    type = "invalid_request_error"
    default_code = "forbidden"


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


def _json(envelope: dict[str, Any], status: int) -> JsonResponse:
    return JsonResponse(envelope, status=status)


def _gateway_error(request: HttpRequest, exc: GatewayError) -> HttpResponse:
    return _json(exc.envelope(), exc.status)


def _no_credentials(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = "Sign in as a superuser, or send 'Authorization: Bearer <an admin's API key>'."
    return _json(error_envelope(message, "invalid_request_error", None, _CODES[401]), 401)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _CODES.get(exc.status_code)
    return _json(error_envelope(exc.message, "invalid_request_error", None, code), exc.status_code)


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = [f"{_param(error['loc']) or 'body'}: {error['msg']}" for error in exc.errors]
    param = _param(exc.errors[0]["loc"]) if exc.errors else None
    envelope = error_envelope("; ".join(problems), "invalid_request_error", param, "invalid_value")
    return _json(envelope, 422)


def _param(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """`("body", "data", "rpm")` → `"rpm"`: drop the source and the body's argument name."""
    parts = list(loc)[2:] if loc and loc[0] == "body" else list(loc)[1:]
    return ".".join(str(part) for part in parts) or None


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    message = f"Unknown path: {request.path}"
    return _json(error_envelope(message, "invalid_request_error", None, _CODES[404]), 404)


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    error = PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    return _json(error.envelope(), error.status)


def _crash(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    message = "The server had an error processing your request."
    return _json(error_envelope(message, "api_error", None, "internal_error"), 500)


def install_error_handlers(api: NinjaAPI) -> None:
    """Make every error the API answers an OpenAI-style envelope, never HTML or a traceback."""
    handlers: dict[type[Exception], Callable[..., HttpResponse]] = {
        GatewayError: _gateway_error,
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
        envelope = error_envelope(message, "invalid_request_error", None, "method_not_allowed")
        return JsonResponse(envelope, status=405, headers={"Allow": allowed})

    return wrapper
