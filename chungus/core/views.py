"""Django-side pages and error handlers (the data plane has its own)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from chungus.lib.openai_errors import InternalError, NotFound


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    error = NotFound(f"Unknown path: {request.path}", code="unknown_url")
    return JsonResponse(error.envelope(), status=error.status)


def server_error(request: HttpRequest) -> HttpResponse:
    error = InternalError()
    return JsonResponse(error.envelope(), status=error.status)
